import Foundation
import TestSupport
import Testing

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCLI
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// The `edlcm` built beside the running test bundle (the test target depends on it, so it exists
/// when tests run): the one of this build folder, `.build` or `.build-torch2`, never another's.
let edlcmBinary: String = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
    let candidate = bundle.appendingPathComponent("edlcm").path
    precondition(FileManager.default.isExecutableFile(atPath: candidate), "no edlcm beside the test bundle at \(candidate)")
    return candidate
}()

@Suite("edlcm train: flags, help and errors")
struct TrainCommandTests {
    @Test func helpExplainsEveryFlagWithItsDefault() {
        // The settings' help is wrapped; compare it with single spaces.
        let help = EDLCMCommand.helpMessage(for: Train.self, columns: 200).split(whereSeparator: \.isWhitespace).joined(
            separator: " ")
        for flag in [
            "--dataset", "--data-dir", "--arch", "--members", "--method", "--epochs", "--batch-size", "--optimizer", "--lr",
            "--momentum", "--weight-decay", "--schedule", "--seed", "--train-limit", "--test-limit", "--out", "--resume",
            "--config",
        ] {
            #expect(help.contains(flag), "help lacks \(flag)")
        }
        #expect(help.contains("Number of ensemble members: at least 2 for an ensemble, 1 or more for cure (default: 3)."))
        #expect(help.contains("Base learning rate (default: 0.05)."))
        #expect(
            help.contains(
                "--max-grad-norm <x> Clip the gradients' global L2 norm to this value before every step (PyTorch's clip_grad_norm_) (default: no clipping)."
            ))
        #expect(help.contains("--dataset <fashion-mnist|mnist|cifar10|cifar100|tiny-imagenet>"))
        for flag in [
            "--adp-alpha", "--adp-beta", "--gal-lambda", "--trs-lambda-a", "--trs-lambda-b", "--trs-delta-start",
            "--trs-delta-end",
            "--trs-steps", "--dverge-eps", "--dverge-step", "--dverge-steps", "--dverge-layer", "--dverge-momentum",
            "--adversarial",
            "--adv-eps", "--adv-step", "--adv-steps", "--adv-fraction", "--from",
        ] {
            #expect(help.contains(flag), "help lacks \(flag)")
        }
        #expect(help.contains("--method <baseline|edlcm|cure|adp|gal|dverge|trs>"))
        #expect(help.contains("ADP: weight α of the ensemble entropy (default: 2)."))
        #expect(
            help.contains(
                "TRS: weight λ_a of the mean pairwise |cos| of input gradients (default: 20 for CIFAR-10/100 and Tiny ImageNet, 10 for MNIST and Fashion-MNIST)."
            ))
        #expect(
            help.contains(
                "Adversarial training: L∞ radius ε (default: 8/255 for CIFAR-10/100 and Tiny ImageNet, 0.3 for MNIST, 0.1 for Fashion-MNIST)."
            ))
        #expect(help.contains("Adversarial training: PGD step (default: ε/4, ε/30 for MNIST)."))
    }

    @Test func baselineFlagsSetTheirConfigKeys() throws {
        let arguments = [
            "--method", "trs", "--adp-alpha", "1", "--adp-beta", "0.25", "--gal-lambda", "0.75", "--trs-lambda-a", "5",
            "--trs-lambda-b", "1.5", "--trs-delta-start", "0.02", "--trs-delta-end", "0.04", "--trs-steps", "3", "--dverge-eps",
            "0.05",
            "--dverge-step", "0.01", "--dverge-steps", "4", "--dverge-layer", "2", "--dverge-momentum", "0", "--adversarial",
            "pgd",
            "--adv-eps", "0.2", "--adv-step", "0.02", "--adv-steps", "7", "--adv-fraction", "0.5", "--from", "runs/plain",
            "--out", "/tmp/x",
        ]
        let config = try Train.parse(arguments).resolvedConfig()
        let json = #"""
            {"method": "trs", "adp-alpha": 1, "adp-beta": 0.25, "gal-lambda": 0.75, "trs-lambda-a": 5, "trs-lambda-b": 1.5,
             "trs-delta-start": 0.02, "trs-delta-end": 0.04, "trs-steps": 3, "dverge-eps": 0.05, "dverge-step": 0.01, "dverge-steps": 4,
             "dverge-layer": 2, "dverge-momentum": 0, "adversarial": "pgd", "adv-eps": 0.2, "adv-step": 0.02, "adv-steps": 7,
             "adv-fraction": 0.5, "from": "runs/plain"}
            """#
        #expect(config.settings == (try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))))
        #expect(throws: EDLCMError("--dverge-layer must be in 0...2 for --arch cnn, got 5")) {
            _ = try Train.parse(["--dverge-layer", "5", "--out", "/tmp/x"]).resolvedConfig()
        }
    }

    @Test func theDocumentedBaselineConfigDecodes() throws {
        let text = try String(contentsOf: repositoryRoot.appendingPathComponent("docs/baselines.md"), encoding: .utf8)
        let start = try #require(text.range(of: "```yaml\n"))
        let end = try #require(text.range(of: "```", range: start.upperBound..<text.endIndex))
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let file = directory.appendingPathComponent("dverge.yaml")
        try String(text[start.upperBound..<end.lowerBound]).write(to: file, atomically: true, encoding: .utf8)
        let config = try Train.parse(["--config", file.path, "--out", "/tmp/x"]).resolvedConfig()
        #expect(
            config.method == .dverge && config.adversarial == .pgd && config.architecture == .resnet20
                && config.dataset == .cifar10)
        #expect(
            config.from == "runs/plain-resnet20" && config.dvergeLayer == 5 && config.advEps == 8.0 / 255 && config.advSteps == 10
        )
    }

    @Test(.enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"))
    func baselinesTrainFromTheCommandLine() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let common = ["--members", "2", "--train-limit", "32", "--batch-size", "16", "--test-limit", "100", "--epochs", "1"]
        let plain = directory.appendingPathComponent("plain")
        var result = try runProcess(edlcmBinary, ["train"] + common + ["--out", plain.path])
        #expect(result.status == 0, "\(result.output)")
        let runs: [(String, [String], String)] = [
            // The authors' per-epoch layer draw logs the layer each epoch (the default cycles it per batch).
            (
                "dverge", ["--method", "dverge", "--from", plain.path, "--dverge-steps", "2", "--dverge-layer-draw", "epoch"],
                "dverge_layer"
            ),
            ("trs-at", ["--method", "trs", "--adversarial", "pgd", "--trs-steps", "1", "--adv-steps", "1"], "trs_delta"),
            ("edlcm-low-memory", ["--method", "edlcm", "--low-memory"], "dispersion"),
        ]
        for (name, arguments, setting) in runs {
            let out = directory.appendingPathComponent(name)
            result = try runProcess(edlcmBinary, ["train"] + common + arguments + ["--out", out.path])
            #expect(result.status == 0, "\(result.output)")
            #expect(result.output.contains("trained 2 × cnn with "), "\(result.output)")
            let metrics = try String(contentsOf: out.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            #expect(metrics.contains("\"\(setting)\""), "\(metrics)")
            let record = try String(contentsOf: out.appendingPathComponent("config.json"), encoding: .utf8)
            #expect(record.contains("\"dverge-eps\" : 0.35") && record.contains("\"trs-lambda-a\" : 10"), "\(record)")
        }
        #expect(
            try String(contentsOf: directory.appendingPathComponent("dverge/config.json"), encoding: .utf8).contains(
                "\"initial_weights\""))
        #expect(
            try String(contentsOf: directory.appendingPathComponent("edlcm-low-memory/config.json"), encoding: .utf8).contains(
                "\"low-memory\" : true"))
        #expect(try Train.parse(["--low-memory", "--out", "/tmp/x"]).resolvedConfig().memory.lowMemory)
        #expect(try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"low-memory": true}"#.utf8)).memory.lowMemory)
    }

    @Test func flagsOverrideTheConfigFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let yaml = directory.appendingPathComponent("run.yaml")
        try "members: 4\nlr: 0.2\nepochs: 7\n".write(to: yaml, atomically: true, encoding: .utf8)
        let command = try Train.parse(["--config", yaml.path, "--lr", "0.01", "--out", "/tmp/x"])
        let config = try command.resolvedConfig()
        #expect(config.members == 4)
        #expect(config.epochs == 7)
        #expect(config.learningRate == 0.01)
        let json = directory.appendingPathComponent("run.json")
        try #"{"members": 2, "arch": "resnet20", "dataset": "cifar10"}"#.write(to: json, atomically: true, encoding: .utf8)
        let fromJSON = try Train.parse(["--config", json.path, "--out", "/tmp/x"]).resolvedConfig()
        #expect(fromJSON.architecture == .resnet20 && fromJSON.dataset == .cifar10 && fromJSON.members == 2)
    }

    @Test func badConfigFilesAreOneLineErrors() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let unknown = directory.appendingPathComponent("unknown.yaml")
        try "members: 3\nlearning-rate: 0.1\n".write(to: unknown, atomically: true, encoding: .utf8)
        #expect(throws: EDLCMError("--config \(unknown.path): line 2: unknown key 'learning-rate'")) {
            _ = try Train.parse(["--config", unknown.path, "--out", "/tmp/x"]).resolvedConfig()
        }
        let wrongType = directory.appendingPathComponent("type.json")
        try #"{"members": "three"}"#.write(to: wrongType, atomically: true, encoding: .utf8)
        #expect(throws: EDLCMError("--config \(wrongType.path): line 1: wrong type at 'members': expected <n>, got \"three\"")) {
            _ = try Train.parse(["--config", wrongType.path, "--out", "/tmp/x"]).resolvedConfig()
        }
        let missing = directory.appendingPathComponent("missing.json")
        #expect(throws: EDLCMError("--config \(missing.path): cannot read the file (No such file or directory)")) {
            _ = try Train.parse(["--config", missing.path, "--out", "/tmp/x"]).resolvedConfig()
        }
    }

    /// `train --resume --out DIR` alone continues with the run's recorded settings; --epochs may
    /// grow; another setting given differently is named.
    @Test func resumeNeedsOnlyTheFolder() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let run = directory.appendingPathComponent("run")
        let first = try runProcess(
            edlcmBinary,
            [
                "train", "--members", "2", "--epochs", "1", "--train-limit", "128", "--batch-size", "64", "--test-limit", "50",
                "--lr", "0.02", "--seed", "3", "--threads", "1", "--out", run.path,
            ])
        try #require(first.status == 0, "\(first.output)")
        let resumed = try runProcess(edlcmBinary, ["train", "--resume", "--out", run.path, "--epochs", "2"])
        #expect(resumed.status == 0, "\(resumed.output)")
        let record = try RunDirectory(url: run).readRecord()
        #expect(record.config.epochs == 2 && record.config.learningRate == 0.02 && record.config.seeding.seed == 3)
        #expect(try RunDirectory(url: run).readMetrics().map(\.epoch) == [1, 2])
        let refused = try runProcess(edlcmBinary, ["train", "--resume", "--out", run.path, "--lr", "0.1"])
        #expect(refused.status == 1)
        #expect(
            refused.output.contains("--lr (0.02 recorded, 0.1 given); only --epochs, --threads and --data-dir may change"),
            "\(refused.output)")
    }

    @Test func binaryPrintsOneLineErrorsAndExitsNonZero() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let cases: [([String], String)] = [
            (
                ["train", "--members", "1", "--out", directory.path],
                "edlcm: error: --members must be at least 2 (an ensemble), got 1\n"
            ),
            (
                ["train", "--method", "magic", "--out", directory.path],
                "edlcm: error: the value 'magic' is invalid for '--method': expected one of baseline, edlcm, cure, adp, gal, dverge, trs\n"
            ),
            (
                ["train", "--dataset", "cifar10", "--out", directory.path],
                "edlcm: error: --dataset cifar10 needs --data-dir (the folder holding its files)\n"
            ),
            (
                ["train", "--lr", "fast", "--out", directory.path],
                "edlcm: error: the value 'fast' is invalid for '--lr': expected <x>\n"
            ),
        ]
        for (arguments, expected) in cases {
            let result = try runProcess(edlcmBinary, arguments)
            #expect(result.status != 0, "\(arguments)")
            #expect(result.output == expected, "\(arguments)")
        }
        let file = directory.appendingPathComponent("file")
        try Data("keep".utf8).write(to: file)
        let result = try runProcess(edlcmBinary, ["train", "--train-limit", "128", "--out", file.path])
        #expect(result.status == 1)
        #expect(result.output == "edlcm: error: --out \(file.path): is a file, not a folder\n")
        #expect(try String(contentsOf: file, encoding: .utf8) == "keep")
    }
}

@Suite("edlcm bench")
struct BenchCommandTests {
    /// One JSON line per configuration whose numbers agree with each other: images/s from the
    /// time per step (per PGD-50 run for an attack case), GFLOP/s from the hand-counted FLOPs
    /// (3 members × the batch × 8 482 304 FLOPs per forward pass, 3 passes per training step and
    /// 2 per PGD or APGD-T iteration, 9 × 20 APGD-T iterations), and the share of the measured peak.
    /// A batch of 16 (`--batch`) keeps the attack cases short.
    @Test(arguments: [("cnn-plain", 3.0), ("cnn-pgd", 2.0 * 50), ("cnn-apgd-t", 2.0 * 9 * 20)])
    func jsonLineIsConsistent(name: String, passes: Double) throws {
        let (status, output) = try runProcess(
            edlcmBinary, ["bench", "--json", "--cases", name, "--steps", "1", "--threads", "1", "--batch", "16"])
        #expect(status == 0, "\(output)")
        let lines = output.split(separator: "\n").filter { $0.hasPrefix("{") }
        try #require(lines.count == 1, "\(output)")
        let line = try #require(try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
        #expect(line["name"] as? String == name)
        #expect(line["steps"] as? Int == 1)
        #expect(line["threads"] as? Int == 1)
        #expect(line["batch"] as? Int == 16)
        #expect(line["device"] as? String == "cpu")
        #expect(line["low_memory"] as? Bool == false)
        let seconds = try #require(line["seconds_per_step"] as? Double)
        let imagesPerSecond = try #require(line["images_per_second"] as? Double)
        let gflops = try #require(line["gflops"] as? Double)
        let peak = try #require(line["peak_gflops"] as? Double)
        let percent = try #require(line["percent_of_peak"] as? Double)
        #expect(seconds > 0 && peak > 0)
        #expect(Swift.abs(imagesPerSecond - 16 / seconds) <= 1e-6 * imagesPerSecond)
        #expect(Swift.abs(gflops - 8_482_304.0 * 3 * 16 * passes / seconds / 1e9) <= 1e-6 * gflops)
        #expect(Swift.abs(percent - 100 * gflops / peak) <= 1e-9 * percent)
        #expect((line["peak_rss_mb"] as? Double ?? 0) > 50)
    }
}
