import EDLCMAttacks
import EDLCMCore
import EDLCMEvaluation
import Foundation
import TestSupport
import Testing

@testable import EDLCMCLI

/// The built `edlcm` executable (``edlcmBinary``).
private let executable = URL(fileURLWithPath: edlcmBinary)

/// Runs `edlcm` with arguments; returns the exit status, stdout and stderr.
private func edlcm(_ arguments: [String]) throws -> (status: Int32, out: String, error: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["EDLCM_LOG_LEVEL"] = "error"
    process.environment = environment
    let out = Pipe(), error = Pipe()
    process.standardOutput = out
    process.standardError = error
    try process.run()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    let errorData = error.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errorData, as: UTF8.self))
}

/// A 2-member run trained for one epoch on 256 images, in `folder`/run. One libtorch thread:
/// tests run in parallel, and oversubscribed OpenMP threads stall.
private func trainTinyRun(in folder: URL) throws -> URL {
    let run = folder.appendingPathComponent("run")
    let trained = try edlcm([
        "train", "--members", "2", "--epochs", "1", "--train-limit", "256", "--batch-size", "64", "--test-limit", "50",
        "--threads", "1", "--out", run.path,
    ])
    try #require(trained.status == 0, "train failed: \(trained.error)")
    return run
}

@Suite("edlcm evaluate")
struct EvaluateCommandTests {
    @Test("help lists the flags")
    func help() {
        let help = Evaluate.helpMessage()
        for flag in [
            "--run", "--attacks", "--eps", "--norm", "--steps", "--restarts", "--samples", "--surrogates", "--out",
            "--train-surrogates", "--targets", "--[no-]targeted", "--mode <cascade|independent>", "--[no-]checks",
            "--[no-]matrix", "--queries", "--seed",
        ] {
            #expect(help.contains(flag), "help does not mention \(flag)")
        }
        #expect(EDLCMCommand.configuration.subcommands.contains { ObjectIdentifier($0) == ObjectIdentifier(Evaluate.self) })
    }

    @Test("flags become the configuration")
    func flags() throws {
        let command = try Evaluate.parse([
            "--run", "r", "--attacks", "pgd,apgd-dlr", "square", "--eps", "8/255", "0.1", "--norm", "linf", "--steps", "7",
            "--restarts", "3", "--samples", "all", "--seed", "5", "--targets", "logits", "--targeted", "--mode", "independent",
            "--no-early-stop", "--surrogates", "s1", "s2", "--train-surrogates", "1", "3", "--transfer-attacks", "m-pgd",
            "--no-matrix",
            "--check-samples", "50",
        ])
        let config = try command.resolvedConfig()
        #expect(config.attacks == [.pgd, .apgdDLR, .square])
        #expect(config.epsilons == [8.0 / 255, 0.1])
        #expect(config.steps == 7 && config.restarts == 3 && config.samples == nil && config.seeding.seed == 5)
        #expect(config.targets == [.logits] && config.targeted && config.mode == .independent && !config.earlyStop)
        #expect(config.surrogates == ["s1", "s2"] && config.trainSurrogates == [1, 3] && config.transferAttacks == [.mpgd])
        #expect(!config.matrix && config.checks && config.checkSamples == 50)
        // Defaults when nothing is given.
        let defaults = try Evaluate.parse(["--run", "r"]).resolvedConfig()
        #expect(defaults.settings == EvaluationConfig())
    }

    @Test("a preset sets the attack budget; flags and file keys given with it override its values")
    func presets() throws {
        let standard = try Evaluate.parse(["--run", "r", "--preset", "standard"]).resolvedConfig().settings
        #expect(standard.preset == .standard && standard.attacks == [.apgdCE, .apgdT, .fabT, .square])
        #expect(standard.steps == 100 && standard.restarts == 1 && standard.queries == 5000 && standard.changesFromPreset.isEmpty)
        #expect(standard.flattened == EvaluationConfig(preset: .standard).flattened)
        let changed = try Evaluate.parse(["--run", "r", "--steps", "5", "--preset", "standard"]).resolvedConfig().settings
        #expect(changed.steps == 5 && changed.queries == 5000 && changed.attacks == standard.attacks)
        #expect(changed.changesFromPreset == ["--steps 5"])
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let file = folder.appendingPathComponent("eval.yaml")
        try "preset: ensemble\ntransfer-restarts: 2\n".write(to: file, atomically: true, encoding: .utf8)
        let ensemble = try Evaluate.parse(["--run", "r", "--config", file.path]).resolvedConfig().settings
        #expect(ensemble.attacks == [.apgdCE, .apgdT, .fabT, .mora, .square] && ensemble.trainSurrogates == [1, 3])
        #expect(ensemble.transferAttacks == [.mpgd, .mdiFGSM, .sgm] && ensemble.transferLosses == [.crossEntropy, .margin])
        #expect(ensemble.transferSteps == 100 && ensemble.transferRestarts == 2)
        #expect(ensemble.changesFromPreset == ["--transfer-restarts 2"])
        // The flag wins over the file's preset.
        let quick = try Evaluate.parse(["--run", "r", "--config", file.path, "--preset", "quick"]).resolvedConfig().settings
        #expect(quick.attacks == [.apgdCE, .apgdDLR, .square] && quick.transferRestarts == 2)
        #expect(throws: EDLCMError("the value 'strong' is invalid for '--preset': expected one of quick, standard, ensemble")) {
            try Evaluate.parse(["--run", "r", "--preset", "strong"]).resolvedConfig()
        }
        #expect(
            throws: EDLCMError("--attacks apgd-t picks its own target classes and has no targeted version; drop it or --targeted")
        ) {
            try Evaluate.parse(["--run", "r", "--preset", "standard", "--targeted"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("--transfer-attacks: pgd is not a transfer attack (m-pgd, di2-fgsm, m-di2-fgsm, sgm)")) {
            try Evaluate.parse(["--run", "r", "--transfer-attacks", "pgd"]).resolvedConfig()
        }
    }

    @Test("bad flags give one-line errors")
    func badFlags() throws {
        #expect(
            throws: EDLCMError(
                "the value 'pgdd' is invalid for '--attacks': expected one of \(AttackName.allCases.map(\.rawValue).joined(separator: ", "))"
            )
        ) {
            try Evaluate.parse(["--run", "r", "--attacks", "pgdd"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("--eps must be ≥ 0, got -0.1")) {
            try Evaluate.parse(["--run", "r", "--eps=-0.1"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("the value 'ten' is invalid for '--eps': expected <x> …")) {
            try Evaluate.parse(["--run", "r", "--eps", "ten"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("--eps 1.5 exceeds 1, the whole [0, 1] range of an L∞ perturbation")) {
            try Evaluate.parse(["--run", "r", "--eps", "1.5"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("the value 'many' is invalid for '--samples': expected <n>")) {
            try Evaluate.parse(["--run", "r", "--samples", "many"]).resolvedConfig()
        }
        #expect(
            throws: EDLCMError(
                "the value 'mean' is invalid for '--targets': expected one of probabilities, logits, member-losses")
        ) {
            try Evaluate.parse(["--run", "r", "--targets", "mean"]).resolvedConfig()
        }
        #expect(throws: EDLCMError("--steps must be at least 1, got 0")) {
            try Evaluate.parse(["--run", "r", "--steps", "0"]).resolvedConfig()
        }
    }

    @Test("errors about files name the file, and exit with status 1")
    func fileErrors() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let missing = folder.appendingPathComponent("missing")
        var result = try edlcm(["evaluate", "--run", missing.path])
        #expect(result.status == 1)
        #expect(result.error == "edlcm: error: \(missing.path): no such run folder\n")
        #expect(!FileManager.default.fileExists(atPath: missing.path), "nothing is created for a missing run")
        result = try edlcm(["evaluate", "--run", folder.path])
        #expect(
            result.error
                == "edlcm: error: \(folder.path): no checkpoint.safetensors in this folder (not a finished epoch of a run)\n")
        result = try edlcm(["evaluate", "--run", folder.path, "--attacks", "nope"])
        #expect(result.status == 1 && result.error.hasPrefix("edlcm: error: the value 'nope' is invalid for '--attacks'"))
    }

    @Test("a trained run is evaluated end to end, written three ways, and a rerun resumes from the state")
    func endToEnd() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try trainTinyRun(in: folder)
        let out = folder.appendingPathComponent("results/eval.json")
        let arguments = [
            "evaluate", "--run", run.path, "--out", out.path, "--samples", "24", "--eps", "0.05", "0.1", "--attacks",
            "fgsm,square",
            "--targets", "probabilities", "--steps", "2", "--queries", "10", "--check-samples", "8", "--matrix-samples", "8",
            "--threads", "1",
        ]
        let first = try edlcm(arguments)
        try #require(first.status == 0, "evaluate failed: \(first.error)")
        #expect(first.out.contains("worst-case robust accuracy"))
        #expect(first.out.contains("[PASS]") || first.out.contains("[FAIL]"))
        #expect(first.error.contains("== sanity checks"), "progress goes to stderr")
        for name in ["eval.json", "eval.csv", "eval.md", "eval.state.json"] {
            #expect(
                FileManager.default.fileExists(atPath: folder.appendingPathComponent("results/\(name)").path), "\(name) missing")
        }
        let result = try EvaluationReport.read(from: out)
        #expect(result.samples.count == 24 && result.settings.epsilons == [0.05, 0.1])
        #expect(result.model.run == run.path && result.model.members == 2 && result.model.dataset == "fashion-mnist")
        #expect(result.provenance.commands.count == 1 && result.provenance.commands[0].dropFirst() == arguments[...])
        #expect(result.sanityChecks.count == SanityCheckName.allCases.count)
        #expect(result.transferability.count == 2)

        // Running the same command again finds the finished state and rewrites the same numbers.
        let second = try edlcm(arguments)
        #expect(second.status == 0)
        #expect(second.error.contains("resuming from"))
        let again = try EvaluationReport.read(from: out)
        #expect(again.robustness == result.robustness && again.sanityChecks == result.sanityChecks)
        #expect(again.provenance.commands.count == 2)

        // The attack budget is named in words.
        let markdown = try String(contentsOf: folder.appendingPathComponent("results/eval.md"), encoding: .utf8)
        #expect(markdown.contains("Attack budget: the quick preset (APGD-CE and APGD-DLR with 20 steps"))
        #expect(markdown.contains("changed: --attacks fgsm square, --steps 2, --queries 10"))

        // --out may not be a folder.
        let bad = try edlcm(["evaluate", "--run", run.path, "--out", folder.path + "/results"])
        #expect(
            bad.status == 1
                && bad.error
                    == "edlcm: error: --out \(folder.path)/results: must name a .json file (the .csv, .md and .state.json files go beside it)\n"
        )
    }

    @Test("the ensemble preset runs end to end: APGD-T, FAB-T, MORA, Square and the transfer protocol from surrogates it trains")
    func ensemblePreset() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let run = try trainTinyRun(in: folder)
        let out = folder.appendingPathComponent("eval.json")
        let arguments = [
            "evaluate", "--run", run.path, "--out", out.path, "--preset", "ensemble", "--samples", "16", "--eps", "0.1",
            "--steps", "2", "--queries", "10", "--transfer-steps", "2", "--surrogate-epochs", "1", "--check-samples", "8",
            "--matrix-samples", "8", "--threads", "1",
        ]
        let first = try edlcm(arguments)
        try #require(first.status == 0, "evaluate failed: \(first.error)")
        let result = try EvaluationReport.read(from: out)
        #expect(result.settings.preset == .ensemble)
        #expect(
            result.attackSettings.filter { $0.role == "suite" }.map(\.attack) == ["apgd-ce", "apgd-t", "fab-t", "mora", "square"])
        #expect(result.surrogates.map(\.members) == [1, 3] && result.surrogates.allSatisfy(\.trainedHere))
        // Two surrogates × (M-PGD, M-DI²-FGSM) × (CE, margin); SGM skipped on the CNN surrogates.
        let sources = result.transfer.map { "\($0.surrogate)/\($0.attack)/\($0.starts ?? 1)" }
        let expected = result.surrogates.flatMap { s in
            ["m-pgd/3", "m-pgd-margin/3", "m-di2-fgsm/1", "m-di2-fgsm-margin/1"].map { "\(s.name)/\($0)" }
        }
        #expect(sources == expected)
        #expect(result.robustness[0].units.map(\.attack).contains("mora"))
        let markdown = try String(contentsOf: folder.appendingPathComponent("eval.md"), encoding: .utf8)
        #expect(markdown.contains("Attack budget: the ensemble preset"))
        #expect(markdown.contains("changed: --steps 2, --queries 10, --transfer-steps 2"))
        let second = try edlcm(arguments)
        #expect(second.status == 0 && second.error.contains("resuming from"))
        #expect(try EvaluationReport.read(from: out).robustness == result.robustness)
    }
}
