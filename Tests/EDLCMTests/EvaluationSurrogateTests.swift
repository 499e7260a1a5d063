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

/// Surrogates the evaluation trains itself, through a run folder, as `--train-surrogates` does.
@Suite("Evaluation: self-trained surrogates and run folders")
struct EvaluationSurrogateTests {
    @Test("surrogates are trained with other seeds, reused, and used for transfer")
    func trainedSurrogates() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var base = TrainingConfig()
        base.trainLimit = 128
        base.batchSize = 64
        base.epochs = 1
        base.runtime.threads = 1
        // A small target run, written the way the trainer writes runs.
        let target = folder.appendingPathComponent("target")
        try SurrogateTrainer.train(members: 2, like: base, epochs: nil, into: target)
        let trainedTarget = try TrainedEnsemble(runFolder: target)
        #expect(trainedTarget.metadata.members == 2 && trainedTarget.metadata.config.seeding.seed == 1002)

        var config = EvaluationConfig()
        config.attacks = [.fgsm]
        config.epsilons = [0.1]
        config.targets = [.probabilities]
        config.steps = 2
        config.samples = 16
        config.trainSurrogates = [1]
        config.transferAttacks = [.mpgd]
        config.transferSteps = 2
        config.matrix = false
        config.checks = false
        config.runtime.threads = 1
        let out = folder.appendingPathComponent("eval/result.json")
        var epochsSeen: [Int] = []
        let session = try EvaluationSession(config: config.validated(), runFolder: target.path, out: out.path, command: ["test"])
        { members, epoch, _ in
            #expect(members == 1)
            epochsSeen.append(epoch)
        }
        #expect(epochsSeen == [1])
        let result = try session.run()
        let surrogate = try #require(result.surrogates.first)
        #expect(surrogate.members == 1 && surrogate.trainedHere && surrogate.trainingSeed == 1002 + 1001)
        #expect(surrogate.run.hasSuffix("eval/result.surrogates/plain-m1-seed1002"))
        #expect(result.transfer.count == 1 && result.transfer[0].surrogate == "plain-m1-seed1002")
        #expect(result.model.run == target.path && result.samples.count == 16)
        #expect(FileManager.default.fileExists(atPath: folder.appendingPathComponent("eval/result.md").path))

        // A second session reuses the trained surrogate and the cached transfer examples.
        let checkpoint = URL(fileURLWithPath: surrogate.run).appendingPathComponent("checkpoint.safetensors")
        let written = try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date
        var retrained = false
        config.attacks = [.fgsm, .pgd]
        let again = try EvaluationSession(config: config.validated(), runFolder: target.path, out: out.path, command: ["again"]) {
            _, _, _ in retrained = true
        }
        let second = try again.run()
        #expect(!retrained)
        #expect(try FileManager.default.attributesOfItem(atPath: checkpoint.path)[.modificationDate] as? Date == written)
        #expect(second.transfer[0].reused)

        // Other epochs for a surrogate folder that already holds one are refused, not overwritten.
        config.surrogateEpochs = 2
        #expect(throws: EDLCMError("\(surrogate.run): holds a surrogate trained with other settings; delete it to retrain")) {
            try EvaluationSession(config: config.validated(), runFolder: target.path, out: out.path, command: [])
        }
    }
}
