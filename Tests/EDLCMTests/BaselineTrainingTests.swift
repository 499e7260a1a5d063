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

/// A method, optionally with adversarial training, and the terms it logs.
struct BaselineCase: Sendable, CustomTestStringConvertible {
    let method: TrainingMethod
    let adversarial: AdversarialTrainingMode
    let terms: Set<String>

    var testDescription: String { method.rawValue + (adversarial == .pgd ? "+pgd" : "") }

    static let all = [
        BaselineCase(method: .adp, adversarial: .disabled, terms: ["ce", "entropy", "log_det"]),
        BaselineCase(method: .gal, adversarial: .disabled, terms: ["ce", "coherence"]),
        BaselineCase(method: .dverge, adversarial: .disabled, terms: ["dverge"]),
        BaselineCase(method: .trs, adversarial: .disabled, terms: ["ce", "similarity", "smoothness"]),
        BaselineCase(method: .trs, adversarial: .pgd, terms: ["ce", "similarity", "smoothness"]),
        BaselineCase(method: .baseline, adversarial: .pgd, terms: ["ce"]),
    ]
}

/// A short Fashion-MNIST run of a baseline: 2 members, 64 images in batches of 32, the inner
/// searches shortened (their full lengths are exercised by the unit tests and the CLI).
func baselineConfig(
    _ method: TrainingMethod, adversarial: AdversarialTrainingMode = .disabled, trainLimit: Int = 64, epochs: Int = 1
) -> TrainingConfig {
    var config = smallConfig(trainLimit: trainLimit, epochs: epochs)
    config.batchSize = 32
    config.testLimit = 100
    config.method = method
    config.adversarial = adversarial
    config.trsSteps = 2
    config.dvergeSteps = 2
    config.advSteps = 2
    return config
}

@Suite(
    "Baseline training", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized,
    .exclusiveRandomGenerator)
struct BaselineTrainingTests {
    @Test(arguments: BaselineCase.all)
    func oneEpochLogsEveryTermAndStepsLowerTheMethodsOwnLoss(_ testCase: BaselineCase) throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let config = baselineConfig(testCase.method, adversarial: testCase.adversarial)
        let trainer = try Trainer(config: config, output: folder, resume: false, command: [])
        // A few small plain gradient steps on the objective of one batch (and its pair) lower it;
        // the random starts are the same in every evaluation. (Small: at SGD rates near the
        // training default, TRS's |cos| term oscillates across its kink at 0 from step to step.)
        let first = trainer.trainLoader.trainingBatches(epoch: 0)[0]
        let paired = trainer.trainLoader.trainingBatches(epoch: 0, stream: 1)[0]
        let batch = Batch(images: first.images[0..<16], labels: first.labels[0..<16], pairedImages: paired.images[0..<16])
        let ensemble = Ensemble(spec: config.modelSpec, count: config.members)
        func objectiveValue() -> Tensor {
            Runtime.seed(99)
            return trainer.objective.loss(
                ensemble: ensemble, batch: batch, context: TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 2)
            ).total
        }
        let sgd = SGD(parameters: ensemble.parameters, learningRate: 0.002)
        var values: [Double] = []
        for _ in 0..<2 {
            let value = objectiveValue()
            values.append(value.item())
            sgd.zeroGrad()
            value.backward()
            sgd.step()
        }
        let before = values[0], after = objectiveValue().item()
        #expect(after < before, "\(testCase.testDescription): loss on one batch \(before) → \(after)")

        let metrics = try trainer.train()
        // Every term, and the total, is in metrics.jsonl: finite and non-zero, with its weight.
        #expect(try RunDirectory.existing(folder).readMetrics() == metrics)
        let losses = metrics[0].losses
        #expect(Set(losses.keys) == testCase.terms.union(["total"]))
        #expect(Set(metrics[0].weights.keys) == testCase.terms)
        #expect(losses.values.allSatisfy { $0.isFinite && $0 != 0 }, "\(losses)")
        switch testCase.method {
        case .dverge:
            // Cycled per batch (the default), the layer is no epoch setting; the authors' per-epoch
            // draw logs it (TrainCommandTests).
            #expect(config.dvergeLayerDraw == .cycle && metrics[0].settings == nil)
        case .trs: #expect(metrics[0].settings == ["trs_delta": 0.1])
        default: #expect(metrics[0].settings == nil)
        }
        // config.json records the settings resolved for Fashion-MNIST.
        let recorded = try RunDirectory.existing(folder).readRecord().config
        #expect(recorded == config.resolved)
        #expect(recorded.trsLambdaA == 10 && recorded.dvergeEps == 0.35 && recorded.advEps == 0.1)
    }

    @Test func dvergeStartsFromATrainedPlainEnsemble() throws {
        let plainFolder = try temporaryDirectory()
        let dvergeFolder = try temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: plainFolder)
            try? FileManager.default.removeItem(at: dvergeFolder)
        }
        try Trainer(config: baselineConfig(.baseline, trainLimit: 32), output: plainFolder, resume: false, command: []).train()
        let checkpoint = plainFolder.appendingPathComponent("checkpoint.safetensors")
        var config = baselineConfig(.dverge, trainLimit: 32)
        config.from = plainFolder.path
        let trainer = try Trainer(config: config, output: dvergeFolder, resume: false, command: [])
        // The weights are the plain ensemble's before the first epoch; the optimizer starts afresh.
        let source = try Checkpoint.load(from: checkpoint).tensors
        for (name, tensor) in trainer.ensemble.stateTensors() {
            #expect(tensor.scalars(as: Float.self) == source[name]?.scalars(as: Float.self), "\(name)")
        }
        #expect(trainer.optimizer.stateTensors().isEmpty)
        let record = try RunDirectory(url: dvergeFolder).readRecord()
        #expect(
            record.initialWeights
                == InitialWeightsRecord(path: checkpoint.path, sha256: try sha256Hex(of: checkpoint), method: .baseline, epoch: 1)
        )
        #expect(record.config.from == plainFolder.path)
        try trainer.train()

        // The checkpoint file itself works too; mismatches and missing files are one-line errors
        // that leave no run behind.
        let other = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: other) }
        config.from = checkpoint.path
        _ = try Trainer(config: config, output: other, resume: false, command: [])
        try FileManager.default.removeItem(at: other)
        var three = config
        three.members = 3
        #expect(
            throws: EDLCMError(
                "--from \(checkpoint.path): the checkpoint holds 2 × cnn (width 1, 1×28×28 inputs, 10 classes), this run needs 3 × cnn (width 1, 1×28×28 inputs, 10 classes)"
            )
        ) {
            _ = try Trainer(config: three, output: other, resume: false, command: [])
        }
        var wider = config
        wider.width = 2
        #expect(
            throws: EDLCMError(
                "--from \(checkpoint.path): the checkpoint holds 2 × cnn (width 1, 1×28×28 inputs, 10 classes), this run needs 2 × cnn (width 2, 1×28×28 inputs, 10 classes)"
            )
        ) {
            _ = try Trainer(config: wider, output: other, resume: false, command: [])
        }
        var missing = config
        missing.from = other.appendingPathComponent("nothing").path
        #expect(throws: EDLCMError("--from \(other.appendingPathComponent("nothing").path): no such checkpoint")) {
            _ = try Trainer(config: missing, output: other, resume: false, command: [])
        }
        #expect(!FileManager.default.fileExists(atPath: other.path))
    }

    @Test func dvergeResumeEqualsAnUninterruptedRun() throws {
        let straight = try temporaryDirectory()
        let resumed = try temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: straight)
            try? FileManager.default.removeItem(at: resumed)
        }
        let config = baselineConfig(.dverge, trainLimit: 32, epochs: 2)
        try Trainer(config: config, output: straight, resume: false, command: []).train()
        var first = config
        first.epochs = 1
        try Trainer(config: first, output: resumed, resume: false, command: []).train()
        try Trainer(config: config, output: resumed, resume: true, command: []).train()
        let a = try RunDirectory.existing(straight).readMetrics()
        let b = try RunDirectory.existing(resumed).readMetrics()
        #expect(a.map(\.losses) == b.map(\.losses))
        #expect(a.map(\.settings) == b.map(\.settings))
        let weightsA = try Checkpoint.load(from: straight.appendingPathComponent("checkpoint.safetensors")).tensors
        let weightsB = try Checkpoint.load(from: resumed.appendingPathComponent("checkpoint.safetensors")).tensors
        for (name, tensor) in weightsA where name.hasPrefix("member") {
            #expect(tensor.scalars(as: Float.self) == weightsB[name]?.scalars(as: Float.self), "\(name) differs")
        }
    }
}
