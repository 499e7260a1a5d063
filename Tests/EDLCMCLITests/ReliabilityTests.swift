import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// Model tensors of a run's checkpoint (weights and buffers, not optimizer or generator state).
private func modelTensors(_ run: URL) throws -> [String: [UInt8]] {
    let tensors = try Checkpoint.load(from: run.appendingPathComponent("checkpoint.safetensors")).tensors
    return tensors.filter { $0.key.hasPrefix("member") }.mapValues {
        $0.converted(to: .float64).scalars(as: Double.self).withUnsafeBytes { Array($0) }
    }
}

private let tinyRun = [
    "train", "--members", "2", "--epochs", "3", "--train-limit", "2560", "--test-limit", "100", "--batch-size", "64", "--seed",
    "5", "--threads", "1",
]

private func launch(_ arguments: [String], environment: [String: String] = [:]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: edlcmBinary)
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

@Suite(
    "Reliability: kills, signals, resumes", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"),
    .serialized)
struct ReliabilityTests {
    @Test func sigkillAtRandomMomentsNeverTearsACheckpointAndResumesToTheSameWeights() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let reference = directory.appendingPathComponent("reference")
        let straight = try runProcess(edlcmBinary, tinyRun + ["--out", reference.path])
        #expect(straight.status == 0, "\(straight.output)")

        let killed = directory.appendingPathComponent("killed")
        var generator = SeededGenerator(seed: 2024)
        var kills = 0
        var attempts = 0
        while attempts < 60 {
            attempts += 1
            let resume = FileManager.default.fileExists(atPath: killed.appendingPathComponent("config.json").path)
            let process = try launch(tinyRun + ["--out", killed.path] + (resume ? ["--resume"] : []))
            // Kill at a random moment of the training proper (start-up takes a few seconds in a debug
            // build): once the run folder is there, after 0 to 2 s more.
            let config = killed.appendingPathComponent("config.json")
            let launched = Date()
            while process.isRunning && !FileManager.default.fileExists(atPath: config.path)
                && Date().timeIntervalSince(launched) < 60
            {
                Thread.sleep(forTimeInterval: 0.02)
            }
            let deadline = Date().addingTimeInterval(Double(generator.nextInt(below: 2000)) / 1000)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.02) }
            if process.isRunning {
                kill(process.processIdentifier, SIGKILL)
                process.waitUntilExit()
                kills += 1
                // Whatever is on disk now is a complete checkpoint or none at all.
                let checkpoint = killed.appendingPathComponent("checkpoint.safetensors")
                if FileManager.default.fileExists(atPath: checkpoint.path) {
                    #expect(throws: Never.self) { _ = try Checkpoint.load(from: checkpoint) }
                }
                let leftovers = ((try? FileManager.default.contentsOfDirectory(atPath: killed.path)) ?? []).filter {
                    !["config.json", "metrics.jsonl", "checkpoint.safetensors"].contains($0)
                }
                #expect(leftovers.allSatisfy { $0.hasPrefix(".") }, "unexpected files \(leftovers)")
                if kills >= 20 { break }
            } else {
                process.waitUntilExit()
                #expect(process.terminationStatus == 0)
                if process.terminationStatus == 0 { break }
            }
        }
        #expect(kills >= 20)
        // Finish the run and compare with the uninterrupted one.
        let finish = try runProcess(edlcmBinary, tinyRun + ["--out", killed.path, "--resume"])
        #expect(finish.status == 0, "\(finish.output)")
        #expect(try modelTensors(killed) == modelTensors(reference))
        let metrics = try RunDirectory.existing(killed).readMetrics()
        #expect(metrics.map(\.epoch) == [1, 2, 3])
    }

    @Test func sigintCheckpointsMidEpochAndResumesExactly() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = [
            "train", "--members", "2", "--epochs", "2", "--train-limit", "1280", "--test-limit", "100", "--batch-size", "32",
            "--seed", "9", "--threads", "1",
        ]
        let reference = directory.appendingPathComponent("reference")
        #expect(try runProcess(edlcmBinary, arguments + ["--out", reference.path]).status == 0)

        let interrupted = directory.appendingPathComponent("interrupted")
        let process = Process()
        process.executableURL = URL(fileURLWithPath: edlcmBinary)
        process.arguments = arguments + ["--out", interrupted.path]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        while process.isRunning && !FileManager.default.fileExists(atPath: interrupted.appendingPathComponent("config.json").path)
        {
            Thread.sleep(forTimeInterval: 0.05)
        }
        Thread.sleep(forTimeInterval: 1.5)
        kill(process.processIdentifier, SIGINT)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 130, "\(output)")
        #expect(
            output.contains(
                "checkpoint written to \(interrupted.path)/checkpoint.safetensors — continue with the same command plus --resume")
        )
        let metadata = try Checkpoint.load(from: interrupted.appendingPathComponent("checkpoint.safetensors")).metadata
        #expect(metadata["edlcm.epoch_progress"] != nil, "the stop should land mid-epoch")

        let resumed = try runProcess(edlcmBinary, arguments + ["--out", interrupted.path, "--resume"])
        #expect(resumed.status == 0, "\(resumed.output)")
        #expect(try modelTensors(interrupted) == modelTensors(reference))
        let a = try RunDirectory.existing(reference).readMetrics()
        let b = try RunDirectory.existing(interrupted).readMetrics()
        #expect(a.map(\.losses) == b.map(\.losses))
        #expect(a.map(\.testAccuracy) == b.map(\.testAccuracy))
    }
}

@Suite(
    "Distributed training on loopback", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized)
struct DistributedTrainingTests {
    private func compare(method: String) throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let arguments = [
            "train", "--method", method, "--members", "2", "--epochs", "1", "--train-limit", "256", "--test-limit", "100",
            "--batch-size", "64", "--seed", "3", "--threads", "1",
        ]
        let single = directory.appendingPathComponent("single")
        let pair = directory.appendingPathComponent("pair")
        let one = try runProcess(edlcmBinary, arguments + ["--out", single.path])
        #expect(one.status == 0, "\(one.output)")
        let two = try runProcess(edlcmBinary, ["launch", "--nproc", "2", "--"] + arguments + ["--out", pair.path])
        #expect(two.status == 0, "\(two.output)")
        let a = try Checkpoint.load(from: single.appendingPathComponent("checkpoint.safetensors")).tensors
        let b = try Checkpoint.load(from: pair.appendingPathComponent("checkpoint.safetensors")).tensors
        var worst = 0.0
        for (name, tensor) in a where name.hasPrefix("member") {
            let difference = (tensor.converted(to: .float64) - b[name]!.converted(to: .float64)).abs().max().item()
            worst = max(worst, difference)
        }
        // Two processes with batch 32 each give the weights of one process with batch 64 (float tolerance).
        #expect(worst < 1e-4, "largest weight difference \(worst)")
        let lossA = try RunDirectory.existing(single).readMetrics()[0].losses["total"]!
        let lossB = try RunDirectory.existing(pair).readMetrics()[0].losses["total"]!
        #expect(Swift.abs(lossA - lossB) < 1e-4 * Swift.abs(lossA))
    }

    @Test func twoProcessesEqualOneForThePlainEnsemble() throws {
        try compare(method: "baseline")
    }

    @Test func twoProcessesEqualOneForEDLCM() throws {
        try compare(method: "edlcm")
    }

    @Test func aKilledWorkerStopsTheOthersWithAnError() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let port = String(Int.random(in: 30000..<60000))
        let arguments = [
            "train", "--distributed", "--members", "2", "--epochs", "20", "--train-limit", "640", "--test-limit", "100",
            "--batch-size", "64", "--threads", "1",
            "--out", directory.appendingPathComponent("run").path,
        ]
        let environment = ["MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "WORLD_SIZE": "2"]
        let rank0 = Process()
        rank0.executableURL = URL(fileURLWithPath: edlcmBinary)
        rank0.arguments = arguments
        rank0.environment = ProcessInfo.processInfo.environment.merging(environment.merging(["RANK": "0"]) { $1 }) { $1 }
        let pipe = Pipe()
        rank0.standardError = pipe
        rank0.standardOutput = FileHandle.nullDevice
        try rank0.run()
        let rank1 = try launch(arguments, environment: environment.merging(["RANK": "1"]) { $1 })
        let metrics = directory.appendingPathComponent("run/metrics.jsonl")
        let started = Date()
        while rank0.isRunning && !FileManager.default.fileExists(atPath: metrics.path) && Date().timeIntervalSince(started) < 120
        {
            Thread.sleep(forTimeInterval: 0.1)
        }
        kill(rank1.processIdentifier, SIGKILL)
        rank1.waitUntilExit()
        let killedAt = Date()
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        rank0.waitUntilExit()
        #expect(rank0.terminationStatus == 1, "\(output)")
        #expect(output.contains("edlcm: error: distributed:"), "\(output)")
        #expect(output.contains("(rank 0 of 2; a peer stopped or timed out)"), "\(output)")
        #expect(Date().timeIntervalSince(killedAt) < 150)
    }

    @Test func launchOnNCCLWithoutAGPUSaysWhyAndWritesNothing() throws {
        let out = try temporaryDirectory().appendingPathComponent("never")
        defer { try? FileManager.default.removeItem(at: out.deletingLastPathComponent()) }
        let result = try runProcess(
            edlcmBinary, ["launch", "--nproc", "1", "--backend", "nccl", "--", "train", "--device", "cpu", "--out", out.path])
        #expect(result.status == 1)
        #expect(
            result.output.contains("edlcm: error: distributed: NCCL runs between GPUs; rank 0 is on cpu (use the gloo backend)"),
            "\(result.output)")
        #expect(result.output.contains("edlcm: error: launch: rank 0 of 1 exited with status 1"), "\(result.output)")
        #expect(!FileManager.default.fileExists(atPath: out.path))
    }

    @Test func launchNamesTheFailingRank() throws {
        let result = try runProcess(
            edlcmBinary, ["launch", "--nproc", "2", "--grace", "5", "--", "train", "--members", "1", "--out", "/tmp/never"])
        #expect(result.status == 1)
        #expect(result.output.contains("edlcm: error: --members must be at least 2 (an ensemble), got 1"))
        #expect(
            result.output.contains("edlcm: error: launch: rank 0 of 2 exited with status 1; the other workers were stopped")
                || result.output.contains(
                    "edlcm: error: launch: rank 1 of 2 exited with status 1; the other workers were stopped")
        )
    }
}
