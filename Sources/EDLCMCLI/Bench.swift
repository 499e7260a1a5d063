import ArgumentParser
import EDLCMAttacks
import EDLCMBenchmark
import EDLCMCore
import Foundation
import Torch

/// `edlcm bench`: images/s, peak memory and estimated GFLOP/s of training steps on synthetic data,
/// with the GFLOP/s as a share of the best rate a large convolution reaches on the same threads.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Benchmark training steps (plain and EDLCM) and PGD-50, small CNN and ResNet-20, on synthetic batches.",
        discussion: """
            Each configuration runs in a fresh child process so that its peak memory is its own. \
            "% of peak" compares the estimated GFLOP/s with a large 3×3 convolution's on the same threads. \
            bench/compare.sh runs the same steps in PyTorch from Python and prints the ratios.
            """ + settingsHelp(BenchConfig.self)
    )

    @OptionGroup var settings: SettingsOptions<BenchConfig>

    @Flag(help: "Print one JSON line per configuration instead of a table.")
    var json = false

    @Flag(help: .hidden)
    var child = false

    func run() throws {
        let config = try settings.resolve()
        let (cases, steps, denseKernel, lowMemory) = (config.cases, config.steps, config.denseKernel, config.memory.lowMemory)
        let device = try config.runtime.apply()
        if child {
            var result = try StepBenchmark.run(
                cases[0], steps: steps, batchSize: config.batch, denseKernel: denseKernel, lowMemory: lowMemory,
                device: device)
            result.peakRSSMB = Double(peakResidentBytes()) / 1_048_576
            let peak = StepBenchmark.peakGFLOPs(device: device)
            (result.peakGFLOPs, result.percentOfPeak) = (peak, 100 * result.gflops / peak)
            print(String(decoding: try JSONStyle.line.encode(result), as: UTF8.self))
            return
        }
        if !json {
            print("config          img/s   s/step  peak RSS MB  est. GFLOP/s  % of peak  threads")
        }
        var peaks: [Double] = []
        for benchmark in cases {
            let process = Process()
            process.executableURL = ownExecutable
            process.arguments =
                [
                    "bench", "--child", "--cases", benchmark.rawValue, "--steps", String(steps), "--threads",
                    String(Runtime.threadCount), "--dense-kernel", denseKernel.rawValue, "--device", device.description,
                ] + (config.batch.map { ["--batch", String($0)] } ?? []) + (lowMemory ? ["--low-memory"] : [])
                + (config.runtime.deterministic ? ["--deterministic"] : [])
            let pipe = Pipe()
            process.standardOutput = pipe
            try process.run()
            let data = pipe.fileHandleForReading.readDataToEndOfFile()
            process.waitUntilExit()
            guard process.terminationStatus == 0, let line = try? JSONDecoder().decode(BenchmarkResult.self, from: data) else {
                throw EDLCMError("bench: the \(benchmark.rawValue) child process failed")
            }
            if json {
                print(String(decoding: data, as: UTF8.self), terminator: "")
            } else {
                print(
                    benchmark.rawValue.padding(toLength: 13, withPad: " ", startingAt: 0)
                        + String(
                            format: " %7.1f  %7.3f  %11.0f  %12.1f  %9.0f  %7d",
                            line.imagesPerSecond, line.secondsPerStep, line.peakRSSMB ?? 0, line.gflops,
                            line.percentOfPeak ?? 0, line.threads))
                peaks.append(line.peakGFLOPs ?? 0)
            }
        }
        if !json, let peak = peaks.max() {
            print(
                String(
                    format:
                        "peak: %.1f GFLOP/s, the best of a 512-channel 3×3 convolution on these threads (the most this libtorch reaches here)",
                    peak))
        }
    }
}
