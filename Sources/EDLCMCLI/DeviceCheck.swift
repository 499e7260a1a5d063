import ArgumentParser
import EDLCMBenchmark
import EDLCMCore
import Foundation
import Torch

/// `edlcm device-check`: the same fixed computations on the CPU and on a device, compared within
/// stated tolerances (scripts/gpu-check.sh runs it on a GPU machine).
struct DeviceCheck: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "device-check",
        abstract: "Compare a device with the CPU: forward, HVP, one step of every method, APGD-CE and Square.",
        discussion: """
            Both sides start from the same weights and batches (initialised on the CPU, then moved). \
            Values pass when max |device − cpu| / max |cpu| ≤ \(DeviceComparison.valueTolerance); the attacks \
            when at most \(Int(DeviceComparison.attackTolerance * 32)) of 32 images change outcome. Exits 1 when a check fails.
            """)

    @Option(help: "The device to compare with the CPU: cpu, cuda or cuda:N.")
    var device: String = "cuda"

    @Option(help: "libtorch threads for the CPU side (default: all cores).")
    var threads: Int?

    @Option(help: "The seed of the weights, batches and attacks.")
    var seed: UInt64 = 0

    @Flag(help: "Print one JSON line per check instead of a table.")
    var json = false

    func run() throws {
        var arguments = ["--device", device]
        if let threads { arguments += ["--threads", String(threads)] }
        let target = try RuntimeSettings.resolve(file: nil, arguments: arguments).settings.apply()
        let checks = try DeviceComparison.run(device: target, seed: seed)
        for check in checks {
            if json {
                print(String(decoding: try JSONStyle.line.encode(check), as: UTF8.self))
            } else {
                let difference = String(format: "%.2e", check.difference)
                let tolerance = String(format: "%.1e", check.tolerance)
                print(
                    "\(check.name.padding(toLength: 24, withPad: " ", startingAt: 0)) \(difference) ≤ \(tolerance)  \(check.passed ? "ok" : "FAILED")"
                )
            }
        }
        let failed = checks.filter { !$0.passed }.map(\.name)
        if !failed.isEmpty {
            throw EDLCMError(
                "device-check: \(target) differs from the CPU beyond the tolerance in \(failed.joined(separator: ", "))")
        }
    }
}
