import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMTraining

/// 1 000 one-pixel images whose pixel is their position mod 256 and whose label is position mod 5
/// (position / 256 is carried in the label order, so every image is identified by (pixel, label)).
private func numberedImages(count: Int = 1000) throws -> ImageSet {
    try ImageSet(
        pixels: (0..<count).map { UInt8($0 % 256) }, labels: (0..<count).map { Int32($0 % 5) }, count: count, channels: 1,
        height: 1, width: 1, classCount: 5)
}

@Suite("The validation split")
struct ValidationSplitTests {
    @Test func theValidationImagesAreHeldOutStratifiedAndTheSameForEverySeed() throws {
        let images = try numberedImages()
        var config = TrainingConfig()
        config.batchSize = 10
        config.validation = 100
        config.seeding.seed = 1
        let (train, validation) = try config.splitTrainingImages(images)
        let held = try #require(validation)
        #expect(held.count == 100 && train.count == 900)
        // Stratified: 20 of each of the 5 classes.
        #expect((0..<5).map { c in held.labels.filter { $0 == c }.count } == [20, 20, 20, 20, 20])
        // The held-out images are exactly those the fixed seed draws, and none of them is trained on.
        let expected = stratifiedSubset(
            labels: images.labels, classCount: 5, limit: 100, seed: TrainingConfig.validationSeed)
        #expect(held == images.subset(expected))
        let heldSet = Set(expected)
        #expect(train == images.subset((0..<1000).filter { !heldSet.contains($0) }))
        // Another seed holds out the same images; with --train-limit it trains on a seeded subset of the rest.
        config.seeding.seed = 2
        config.trainLimit = 500
        let (limited, same) = try config.splitTrainingImages(images)
        #expect(same == held && limited.count == 500)
        let rest = (0..<1000).filter { !heldSet.contains($0) }
        let chosen = stratifiedSubset(labels: rest.map { images.labels[$0] }, classCount: 5, limit: 500, seed: 2)
        #expect(limited == images.subset(chosen.map { rest[$0] }))
        // Without --validation the training images are what --train-limit always drew.
        config.validation = nil
        let (plain, none) = try config.splitTrainingImages(images)
        #expect(none == nil)
        #expect(plain == images.subset(stratifiedSubset(labels: images.labels, classCount: 5, limit: 500, seed: 2)))
    }

    @Test func aValidationSplitThatLeavesLessThanABatchIsRefused() throws {
        var config = TrainingConfig()
        config.batchSize = 128
        config.validation = 900
        #expect(
            throws: EDLCMError("--validation 900 leaves 100 of the 1000 training images, fewer than --batch-size 128")
        ) { try config.splitTrainingImages(numberedImages()) }
    }

    @Test(
        "training logs the validation accuracy; the run's validation images are the ones evaluate --split validation reads",
        .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .exclusiveRandomGenerator)
    func trainingAndEvaluationShareTheSplit() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        var config = smallConfig(trainLimit: 640)
        config.validation = 300
        config.runtime.threads = 1
        let trainer = try Trainer(config: config, output: directory, resume: false, command: ["edlcm", "train"])
        let metrics = try trainer.train()
        let record = try trainer.run.readRecord()
        #expect(record.dataset.validationCount == 300 && record.dataset.trainCount == 640)
        let trained = try TrainedEnsemble(runFolder: directory)
        let validation = try trained.evaluationSet(.validation)
        #expect(validation.count == 300)
        let accuracy = trained.ensemble.cleanAccuracy(on: DataLoader(validation, batchSize: 500)).ensemble
        #expect(metrics[0].validationAccuracy == accuracy)
        #expect(accuracy > 0.3, "validation accuracy \(accuracy)")
        // The metrics line carries it; the test split is unaffected.
        #expect(try trainer.run.readMetrics()[0].validationAccuracy == accuracy)
        #expect(try trained.evaluationSet(.test).count == 10_000)

        // A run without a validation split says so.
        let other = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: other) }
        var plain = smallConfig(trainLimit: 128)
        plain.runtime.threads = 1
        let plainMetrics = try Trainer(config: plain, output: other, resume: false, command: ["edlcm", "train"]).train()
        #expect(plainMetrics[0].validationAccuracy == nil)
        let lines = try String(contentsOf: other.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
        #expect(!lines.contains("validation"))
        #expect(
            throws: EDLCMError(
                "--split validation: the run in \(other.path) holds out no validation images (train it with --validation N)")
        ) { try TrainedEnsemble(runFolder: other).evaluationSet(.validation) }
    }
}
