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

/// A short Fashion-MNIST configuration for tests.
func smallConfig(trainLimit: Int = 2000, epochs: Int = 1) -> TrainingConfig {
    var config = TrainingConfig()
    config.members = 2
    config.epochs = epochs
    config.trainLimit = trainLimit
    config.testLimit = 500
    config.batchSize = 64
    config.learningRate = 0.05
    config.seeding.seed = 11
    return config
}

@Suite(
    "Training", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized,
    .exclusiveRandomGenerator)
struct TrainingTests {
    @Test func oneEpochOnASliceLearnsAndWritesTheRunFolder() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let trainer = try Trainer(config: smallConfig(), output: directory, resume: false, command: ["edlcm", "train"])
        var batches = 0
        let metrics = try trainer.train(progress: { event in if case .batch = event { batches += 1 } })
        #expect(batches == 2000 / 64)
        #expect(metrics.count == 1)
        // Chance is 10 %; one epoch on 2 000 images reaches well above it.
        #expect(metrics[0].testAccuracy > 0.6, "test accuracy \(metrics[0].testAccuracy)")
        #expect(metrics[0].memberTestAccuracy.count == 2)
        #expect(metrics[0].losses["ce"]! > 0 && metrics[0].losses["total"] == metrics[0].losses["ce"])

        let run = try RunDirectory.existing(directory)
        let record = try run.readRecord()
        #expect(record.config == smallConfig().resolved)
        #expect(record.dataset.trainCount == 2000 && record.dataset.testCount == 500)
        #expect(record.dataset.files.count == 4)
        #expect(record.dataset.files.allSatisfy { $0.sha256.count == 64 })
        #expect(record.libtorchVersion == Runtime.libtorchVersion)
        #expect(try run.readMetrics() == metrics)

        // The checkpoint rebuilds the same ensemble without any flags.
        let rebuilt = try TrainedEnsemble(runFolder: directory)
        #expect(rebuilt.metadata.epoch == 1)
        #expect(rebuilt.metadata.members == 2)
        let accuracy = rebuilt.ensemble.cleanAccuracy(on: trainer.testLoader)
        #expect(accuracy.ensemble == metrics[0].testAccuracy)
    }

    /// Per-epoch schedule: a finished 1-epoch run extended to 2 by `--resume --epochs 2` equals a
    /// 2-epoch run (the first epoch's rate does not depend on the epoch count). Per-batch schedule
    /// (the default): the cosine over all batches does depend on it, so the check is a 2-epoch run
    /// stopped mid-way (after 13 of its 20 batches) and resumed with the same settings.
    @Test(arguments: [ScheduleInterval.epoch, .batch])
    func resumeEqualsAnUninterruptedRun(_ interval: ScheduleInterval) throws {
        let straight = try temporaryDirectory()
        let resumed = try temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: resumed)
        }
        func config(epochs: Int) -> TrainingConfig {
            var config = smallConfig(trainLimit: 640, epochs: epochs)
            config.scheduleInterval = interval
            return config
        }
        try Trainer(config: config(epochs: 2), output: straight, resume: false, command: []).train()
        if interval == .epoch {
            try Trainer(config: config(epochs: 1), output: resumed, resume: false, command: []).train()
        } else {
            var batches = 0
            #expect(throws: TrainingStopped.self) {
                try Trainer(config: config(epochs: 2), output: resumed, resume: false, command: []).train(shouldStop: {
                    batches += 1
                    return batches == 13
                })
            }
        }
        let second = try Trainer(config: config(epochs: 2), output: resumed, resume: true, command: ["resume"])
        #expect(second.completedEpochs == 1)
        try second.train()

        let a = try Checkpoint.load(from: straight.appendingPathComponent("checkpoint.safetensors")).tensors
        let b = try Checkpoint.load(from: resumed.appendingPathComponent("checkpoint.safetensors")).tensors
        #expect(Set(a.keys) == Set(b.keys))
        #expect(a.keys.contains("optimizer.momentum_buffer.0"))
        for (name, tensor) in a {
            #expect(
                tensor.scalars(as: UInt8.self) == b[name]!.scalars(as: UInt8.self)
                    || tensor.scalars(as: Double.self) == b[name]!.scalars(as: Double.self), "\(name) differs")
        }
        let metricsA = try RunDirectory.existing(straight).readMetrics()
        let metricsB = try RunDirectory.existing(resumed).readMetrics()
        #expect(metricsA.map(\.losses) == metricsB.map(\.losses))
        #expect(try RunDirectory.existing(resumed).readRecord().commands.count == 2)
    }

    /// Results are committed without weights. Resuming such a run trains its recorded epochs again
    /// and checks each against its line: equal numbers keep metrics.jsonl byte for byte (timings
    /// included) and rebuild the uninterrupted run's checkpoint; other numbers (here a doctored
    /// line, as another machine's kernels would give) stop at that epoch, with metrics.jsonl as it
    /// was and the checkpoint of the last epoch that matched.
    @Test func retrainingRecordedEpochsChecksEachAgainstItsLine() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let config = smallConfig(trainLimit: 320, epochs: 2)
        try Trainer(config: config, output: directory, resume: false, command: ["first"]).train()
        let checkpoint = directory.appendingPathComponent("checkpoint.safetensors")
        let metricsURL = directory.appendingPathComponent("metrics.jsonl")
        let weights = try Checkpoint.load(from: checkpoint).tensors
        let lines = try Data(contentsOf: metricsURL)
        try FileManager.default.removeItem(at: checkpoint)

        let again = try Trainer(config: config, output: directory, resume: true, command: ["again"])
        #expect(again.completedEpochs == 0)
        #expect(try again.train().count == 2)
        #expect(try Data(contentsOf: metricsURL) == lines)
        let rebuilt = try Checkpoint.load(from: checkpoint).tensors
        #expect(Set(rebuilt.keys) == Set(weights.keys))
        for (name, tensor) in weights where !name.hasPrefix("rng.") {
            #expect(tensor.scalars(as: Double.self) == rebuilt[name]!.scalars(as: Double.self), "\(name) differs")
        }
        let record = try RunDirectory.existing(directory).readRecord()
        #expect(record.commands == [["first"], ["again"]])
        #expect(record.hosts == [.current, .current])

        var doctored = try RunDirectory.existing(directory).readMetrics()
        let testAccuracy = doctored[1].testAccuracy
        doctored[1].testAccuracy = 0.5
        let doctoredLines = Data(try doctored.map { try RunDirectory.jsonLine($0) }.joined().utf8)
        try doctoredLines.write(to: metricsURL)
        try FileManager.default.removeItem(at: checkpoint)
        let third = try Trainer(config: config, output: directory, resume: true, command: ["third"])
        let host = HostRecord.current.summary
        #expect(
            throws: EDLCMError(
                "\(directory.path): epoch 2, recorded in metrics.jsonl but not in the checkpoint, came out different when trained again (test accuracy \(testAccuracy), recorded 0.5): this machine (\(host)) does not compute as the one that trained it (\(host)) did, or --epochs or --threads changed; metrics.jsonl is kept as it was. Train it again where it was trained, or delete the folder to train it afresh"
            )
        ) { try third.train() }
        #expect(try Data(contentsOf: metricsURL) == doctoredLines)
        #expect(try RunDirectory.existing(directory).readCheckpoint().metadata.epoch == 1)
    }

    /// The CPU kernels libtorch reports are the ones its rule gives for this processor's flags
    /// (ATen's: AVX512 needs avx512vl, avx512bw, avx512dq and fma, AVX2 needs avx2 and fma; but
    /// libtorch 1.12 and 1.13 stop at AVX2 unless ATEN_CPU_CAPABILITY opts in, pytorch/pytorch#80253),
    /// and the record of this machine names them with the processor's vector instructions.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["ATEN_CPU_CAPABILITY"] == nil))
    func cpuCapabilityFollowsTheProcessorFlags() throws {
        let cpuinfo = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
        let flagsLine = try #require(cpuinfo.split(separator: "\n").first { $0.hasPrefix("flags") })
        let flags = Set(flagsLine.split(separator: ":")[1].split(separator: " ").map(String.init))
        let avx512OptIn = ["1.12", "1.13"].contains { Runtime.libtorchVersion.hasPrefix("\($0).") }
        let expected =
            ["avx512vl", "avx512bw", "avx512dq", "fma"].allSatisfy(flags.contains) && !avx512OptIn
            ? "AVX512" : ["avx2", "fma"].allSatisfy(flags.contains) ? "AVX2" : "DEFAULT"
        #expect(Runtime.cpuCapability == expected)
        #expect(Runtime.cpuModel?.isEmpty == false)
        let extensions = try #require(Runtime.vectorExtensions)
        #expect(
            HostRecord.current.summary
                == "\(Runtime.cpuModel!), \(extensions), CPU capability \(expected), \(Runtime.threadCount) thread\(Runtime.threadCount == 1 ? "" : "s")"
        )
    }

    @Test func existingRunsAreNeverOverwritten() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        try Trainer(config: smallConfig(trainLimit: 128), output: directory, resume: false, command: []).train()
        let before = try Data(contentsOf: directory.appendingPathComponent("checkpoint.safetensors"))
        #expect(
            throws: EDLCMError(
                "--out \(directory.path): already holds a run (checkpoint.safetensors); pass --resume to continue it or choose another folder"
            )
        ) {
            _ = try Trainer(config: smallConfig(trainLimit: 128), output: directory, resume: false, command: [])
        }
        var changed = smallConfig(trainLimit: 128)
        changed.learningRate = 0.1
        #expect(
            throws: EDLCMError(
                "--resume: the settings differ from the run in \(directory.path): --lr (0.05 recorded, 0.1 given); only --epochs, --threads and --data-dir may change"
            )
        ) {
            _ = try Trainer(config: changed, output: directory, resume: true, command: [])
        }
        #expect(try Data(contentsOf: directory.appendingPathComponent("checkpoint.safetensors")) == before)
    }

    /// One plain SGD step (no momentum, no weight decay, learning rate 1) moves the weights by the
    /// clipped gradient, so the step's L2 norm is exactly --max-grad-norm.
    @Test func maxGradNormClipsTheGlobalGradientNorm() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = smallConfig(trainLimit: 64)
        config.learningRate = 1
        config.momentum = 0
        config.weightDecay = 0
        config.schedule = .constant
        config.maxGradNorm = 0.01
        Runtime.seed(config.seeding.seed)
        let initial = Ensemble(spec: config.modelSpec, count: config.members, output: config.ensembleOutput)
        let trainer = try Trainer(config: config, output: directory, resume: false, command: [])
        try trainer.train()
        let step = zip(trainer.ensemble.parameters, initial.parameters).map { ($0 - $1).squared().sum().item() }.reduce(0, +)
            .squareRoot()
        #expect(abs(step - 0.01) < 1e-6, "step norm \(step)")
        #expect(throws: EDLCMError("--max-grad-norm must be a positive number, got 0")) {
            var zero = config
            zero.maxGradNorm = 0
            try zero.validate()
        }
    }
}

@Suite("Training configuration")
struct TrainingConfigTests {
    @Test func decodesPartialJSONWithDefaults() throws {
        let config = try JSONDecoder().decode(
            TrainingConfig.self, from: Data(#"{"members": 5, "lr": 0.01, "train-limit": 3000}"#.utf8))
        var expected = TrainingConfig()
        expected.members = 5
        expected.learningRate = 0.01
        expected.trainLimit = 3000
        #expect(config == expected)
    }

    @Test func rejectsUnknownKeysWithASuggestion() {
        #expect(throws: EDLCMError("unknown key 'member' (did you mean 'members'?)")) {
            _ = try JSONDecoder().decode(TrainingConfig.self, from: Data(#"{"member": 5}"#.utf8))
        }
    }

    @Test func validationNamesTheFlag() {
        var config = TrainingConfig()
        config.members = 1
        #expect(throws: EDLCMError("--members must be at least 2 (an ensemble), got 1")) { try config.validate() }
        config = TrainingConfig()
        config.learningRate = -1
        #expect(throws: EDLCMError("--lr must be a positive number, got -1")) { try config.validate() }
        config = TrainingConfig()
        config.trainLimit = 10
        #expect(throws: EDLCMError("--train-limit must be at least the batch size (128), got 10")) { try config.validate() }
    }

    @Test func encodedConfigRoundTrips() throws {
        var config = TrainingConfig()
        config.data.directory = "/data"
        config.augment = true
        let data = try JSONEncoder().encode(config)
        #expect(try JSONDecoder().decode(TrainingConfig.self, from: data) == config)
        let keys = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any]).keys
        #expect(keys.contains("batch-size") && keys.contains("data-dir"))
    }
}

/// The plain ensemble's loss, except that one term turns NaN from the third batch of the first epoch on.
private struct PoisonedObjective: EnsembleObjective {
    func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let plain = BaselineObjective().loss(ensemble: ensemble, batch: batch, context: context)
        let poison = context.epoch == 0 && context.step >= 2 ? Double.nan : 0
        return ObjectiveOutput(
            terms: plain.terms + [LossTerm(name: "poison", value: plain.terms[0].value * 0 + poison)],
            memberLogits: plain.memberLogits)
    }
}

@Suite("Non-finite losses", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized)
struct NonFiniteTests {
    @Test func aNaNLossStopsNamingEpochBatchAndTerm() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let trainer = try Trainer(
            config: smallConfig(trainLimit: 256), output: folder, resume: false, command: [], objective: PoisonedObjective())
        #expect(
            throws: EDLCMError(
                "epoch 1, batch 3: loss term 'poison' is nan; no checkpoint was written yet (lower --lr, or pass --on-nonfinite skip to skip such batches)"
            )
        ) {
            try trainer.train()
        }
        #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("checkpoint.safetensors").path))
    }

    @Test func skipPolicySkipsTheBadBatchesAndTrainsOn() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = smallConfig(trainLimit: 256, epochs: 2)
        config.onNonFinite = .skip
        let trainer = try Trainer(config: config, output: folder, resume: false, command: [], objective: PoisonedObjective())
        let metrics = try trainer.train()
        // 256 / 64 = 4 batches per epoch; batches 3 and 4 of epoch 1 are skipped.
        #expect(trainer.skippedBatches == 2)
        #expect(metrics.count == 2)
        #expect(metrics.allSatisfy { $0.losses.values.allSatisfy(\.isFinite) })
    }
}
