import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMStudy
@testable import EDLCMTraining

/// A choice setting's values.
enum ToyFlavour: String, SettingChoice {
    case plain
    case fancy
}

/// One setting of each kind the machinery knows: a bounded integer, a positive decimal, a
/// true/false flag, an optional with a default text, a list under another key, a choice, and a
/// nested group.
struct ToySettings: SettingsGroup {
    @Setting("Epochs to train.", .atLeast(1)) var epochs = 10
    @Setting("Learning rate.", .positive) var lr = 0.05
    @Setting("Run the checks.") var checks = true
    @Setting("Images to use, or all.", .ifSet(.atLeast(1)), defaultText: "all") var samples: Int? = nil
    @Setting("Radii, ascending.", .each(.nonNegative), key: "eps") var radii: [Double] = [0.1, 0.2]
    @Setting("The flavour.") var flavour: ToyFlavour = .plain
    var seeding = SeedSettings()

    init() {}

    func validateTogether() throws {
        if radii != radii.sorted() { throw EDLCMError("--eps must be ascending") }
    }
}

/// An optional whose default is set (evaluate's `samples`, 500): unset means all.
struct ToyLimits: SettingsGroup {
    @Setting("Images to use, or all.", .ifSet(.atLeast(1))) var samples: Int? = 500

    init() {}
}

@Suite("Settings: declared once, read from flags, files and records")
struct SettingsTests {
    @Test("keys, defaults and help come from the declarations")
    func declarations() {
        let toy = ToySettings()
        #expect(toy.settings.map(\.key) == ["epochs", "lr", "checks", "samples", "eps", "flavour", "seed"])
        // An unset optional is left out of the flat object.
        #expect(
            toy.flattened == [
                "epochs": .integer(10), "lr": .number(0.05), "checks": .bool(true), "eps": .array([.number(0.1), .number(0.2)]),
                "flavour": .string("plain"), "seed": .integer(0),
            ])
        let help = ToySettings.helpText()
        #expect(help.contains("  --epochs <n>\n      Epochs to train (default: 10)."))
        #expect(help.contains("  --[no-]checks\n      Run the checks (default: true)."))
        #expect(help.contains("  --samples <n>\n      Images to use, or all (default: all)."))
        #expect(help.contains("  --eps <x> …\n      Radii, ascending (default: 0.1,0.2)."))
        #expect(help.contains("  --flavour <plain|fancy>\n      The flavour (default: plain)."))
    }

    @Test("flags: values, --no-, lists, fractions, choices and unset optionals; the last flag wins")
    func flags() throws {
        let toy = try ToySettings().applying(arguments: [
            "--epochs", "3", "--no-checks", "--eps", "0.05", "8/255", "--flavour", "FANCY", "--samples=40", "--seed", "7",
            "--epochs=4", "--lr", "1e-3",
        ])
        #expect(toy.epochs == 4 && !toy.checks && toy.radii == [0.05, 8.0 / 255] && toy.flavour == .fancy)
        #expect(toy.samples == 40 && toy.seeding.seed == 7 && toy.lr == 0.001)
        #expect(try toy.applying(arguments: ["--samples", "all"]).samples == nil)
        #expect(try toy.applying(arguments: ["--checks", "yes"]).checks)
        #expect(try toy.applying(arguments: ["--eps", "0.1,0.3"]).radii == [0.1, 0.3])
    }

    @Test("flag mistakes: one line naming the flag, the value and what it takes")
    func flagErrors() {
        func message(_ arguments: [String]) -> String? { errorMessage { _ = try ToySettings().applying(arguments: arguments) } }
        #expect(message(["--epoch", "3"]) == "unknown option '--epoch' (did you mean '--epochs'?)")
        #expect(message(["--epochs", "x"]) == "the value 'x' is invalid for '--epochs': expected <n>")
        #expect(message(["--flavour", "sour"]) == "the value 'sour' is invalid for '--flavour': expected one of plain, fancy")
        #expect(message(["--epochs"]) == "--epochs needs a value")
        #expect(message(["--eps"]) == "--eps needs at least one value")
        #expect(message(["--no-checks=true"]) == "--no-checks takes no value")
        #expect(message(["3"]) == "unexpected argument '3'")
    }

    @Test("checks: each setting's rule, then the rules across settings")
    func checks() throws {
        func message(_ arguments: [String]) -> String? {
            errorMessage { _ = try ToySettings().applying(arguments: arguments).validated() }
        }
        #expect(message(["--epochs", "0"]) == "--epochs must be at least 1, got 0")
        #expect(message(["--lr", "-1"]) == "--lr must be a positive number, got -1")
        #expect(message(["--samples", "0"]) == "--samples must be at least 1, got 0")
        #expect(message(["--eps", "0.1", "-0.2"]) == "--eps must be ≥ 0, got 0.1,-0.2")
        #expect(message(["--eps", "0.2", "0.1"]) == "--eps must be ascending")
        #expect(message(["--samples", "all"]) == nil)
    }

    @Test("files: keys as flags, values as a person writes them, the line of every mistake; flags override a file")
    func files() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("toy.yaml")
        try "epochs: 5\neps: [0.01, 8/255]\nflavour: fancy\nsamples: all\nseed: 3\n".write(
            to: file, atomically: true, encoding: .utf8)
        let resolved = try ToySettings.resolve(file: file.path, arguments: ["--epochs", "6"]).settings
        #expect(resolved.epochs == 6 && resolved.radii == [0.01, 8.0 / 255] && resolved.flavour == .fancy)
        #expect(resolved.samples == nil && resolved.seeding.seed == 3)
        try "epochs: 5\nepohcs: 6\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(
            errorMessage { _ = try ToySettings.resolve(file: file.path, arguments: []) }
                == "--config \(file.path): line 2: unknown key 'epohcs' (did you mean 'epochs'?)")
        try "lr: 0.1\nflavour: [1]\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(
            errorMessage { _ = try ToySettings.resolve(file: file.path, arguments: []) }
                == "--config \(file.path): line 2: wrong type at 'flavour': expected one of plain, fancy, got [1]")
        try "epochs: 0\n".write(to: file, atomically: true, encoding: .utf8)
        #expect(
            errorMessage { _ = try ToySettings.resolve(file: file.path, arguments: []) } == "--epochs must be at least 1, got 0")
    }

    @Test("records: a group encodes to its flat object and decodes back; absent keys keep their defaults")
    func records() throws {
        var toy = ToySettings()
        (toy.epochs, toy.samples, toy.flavour) = (7, 12, .fancy)
        let data = try JSONStyle.record.encode(toy)
        #expect(try JSONDecoder().decode(ToySettings.self, from: data) == toy)
        let partial = try JSONDecoder().decode(ToySettings.self, from: Data(#"{"epochs": 2}"#.utf8))
        #expect(partial.epochs == 2 && partial.lr == 0.05 && partial.radii == [0.1, 0.2])

        // Unset where the default is set: written as null, read back unset (not as the default).
        var all = ToyLimits()
        all.samples = nil
        let written = try JSONStyle.record.encode(all)
        #expect(String(decoding: written, as: UTF8.self).contains(#""samples" : null"#))
        #expect(try JSONDecoder().decode(ToyLimits.self, from: written).samples == nil)
        #expect(try JSONDecoder().decode(ToyLimits.self, from: JSONStyle.record.encode(ToyLimits())).samples == 500)
    }

    @Test("presets: a preset chosen in a file or a flag sets its values, which the other flags then override")
    func presets() throws {
        let standard = try EvaluationConfig.resolve(file: nil, arguments: ["--preset", "standard", "--steps", "50"]).settings
        #expect(standard.attacks == [.apgdCE, .apgdT, .fabT, .square] && standard.steps == 50 && standard.queries == 5000)
        #expect(standard.changesFromPreset == ["--steps 50"])
        let quick = try EvaluationConfig.resolve(file: nil, arguments: []).settings
        #expect(quick.attacks == [.apgdCE, .apgdDLR, .square] && quick.steps == 20 && quick.queries == 300)
        #expect(quick.changesFromPreset.isEmpty)
        // --eps's help says the dataset defaults that resolving uses.
        #expect(
            EvaluationConfig.defaultEpsilonsText
                == "the dataset's usual ones: L∞ 0.1, 0.2 for (Fashion-)MNIST, 4/255, 8/255 for CIFAR, 2/255, 4/255 for Tiny ImageNet"
        )
    }

    @Test("the shared settings keep one declaration: --threads is checked the same way everywhere")
    func sharedSettings() {
        #expect(
            errorMessage { _ = try RuntimeSettings.resolve(file: nil, arguments: ["--threads", "0"]) }
                == "--threads must be in 1...1024, got 0")
        #expect(
            errorMessage { _ = try TrainingConfig.resolve(file: nil, arguments: ["--threads", "2000"]) }
                == "--threads must be in 1...1024, got 2000")
    }

    @Test("--device: auto, cpu, cuda or cuda:N, in flags and files; auto is the CPU where libtorch sees no GPU")
    func device() throws {
        #expect(try RuntimeSettings.resolve(file: nil, arguments: []).device == .auto)
        #expect(try RuntimeSettings.resolve(file: nil, arguments: ["--device", "cuda:1"]).device == .exactly(.cuda(1)))
        #expect(try RuntimeSettings.resolve(file: nil, arguments: ["--device", "CUDA"]).device == .cuda)
        #expect(try RuntimeSettings.resolve(file: nil, arguments: ["--device", "cuda:0"]).device == .exactly(.cuda(0)))
        var runtime = RuntimeSettings()
        runtime.device = .exactly(.cuda(2))
        let record = try JSONStyle.record.encode(runtime)
        #expect(String(decoding: record, as: UTF8.self).contains(#""device" : "cuda:2""#))
        #expect(try JSONDecoder().decode(RuntimeSettings.self, from: record).device == .exactly(.cuda(2)))
        #expect(
            errorMessage { _ = try RuntimeSettings.resolve(file: nil, arguments: ["--device", "tpu"]) }?
                .contains("'tpu' is invalid for '--device': expected auto|cpu|cuda|cuda:N") == true)
        #expect(try DeviceChoice.exactly(.cpu).resolved() == .cpu)
        if Device.cudaDeviceCount == 0 {
            #expect(try DeviceChoice.auto.resolved(localRank: 3) == .cpu)
            #expect(
                errorMessage { _ = try DeviceChoice.exactly(.cuda(0)).resolved() }?
                    .hasPrefix("--device cuda:0 is not available: ") == true)
            // Bare cuda is GPU 0 alone and the process's own GPU in a distributed job.
            #expect(
                errorMessage { _ = try DeviceChoice.cuda.resolved() }?.hasPrefix("--device cuda:0 is not available: ") == true)
            let ranked = errorMessage { _ = try DeviceChoice.cuda.resolved(localRank: 2) }
            #expect(ranked?.hasPrefix("--device cuda:2 is not available: ") == true, "\(ranked ?? "")")
            #expect(ranked?.hasSuffix(" (cuda is GPU LOCAL_RANK in a distributed job)") == true, "\(ranked ?? "")")
        }
        // A study's machine settings go over every run's, and only those given.
        var training = RuntimeSettings()
        training.threads = 4
        StudyMachine(device: .exactly(.cpu), deterministic: true).apply(to: &training)
        #expect(training.threads == 4 && training.device == .exactly(.cpu) && training.deterministic)
    }

    @Test("result-neutral settings (threads, the data folder) are declared once, by their groups")
    func resultNeutral() throws {
        #expect(TrainingConfig.resultNeutralKeys == ["threads", "device", "deterministic", "data-dir"])
        #expect(EvaluationConfig.resultNeutralKeys == ["threads", "device", "deterministic", "data-dir"])
        #expect(ToySettings.resultNeutralKeys.isEmpty)
        var config = TrainingConfig()
        config.runtime.threads = 3
        config.data.directory = "/data"
        #expect(config.resultDeciding["threads"] == nil && config.resultDeciding["data-dir"] == nil)
        #expect(config.resultDeciding["lr"] == .number(config.learningRate))
        #expect(config.resultDeciding == TrainingConfig().resultDeciding)
        // The evaluation's fingerprint hashes the same object: no result-neutral key, and an unset
        // optional (evaluate --samples all) left out, as every earlier version wrote it.
        var evaluation = EvaluationConfig()
        (evaluation.samples, evaluation.runtime.threads) = (nil, 2)
        #expect(evaluation.fingerprintSettings == evaluation.resultDeciding)
        #expect(evaluation.fingerprintSettings["device"] == nil && evaluation.fingerprintSettings["samples"] == nil)
        // Resuming may change them, and nothing else but the epochs and the non-finite policy.
        var changed = config
        (changed.runtime.threads, changed.data.directory, changed.epochs) = (1, "/elsewhere", 99)
        #expect(config.resumeConflicts(with: changed).isEmpty)
        changed.learningRate = 0.5
        #expect(config.resumeConflicts(with: changed) == ["--lr (\(config.learningRate.argument) recorded, 0.5 given)"])
    }
}
