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

/// An evaluation on the fixture: a small, fast configuration and its input.
enum EvaluationFixture {
    static func config(attacks: [AttackName] = [.fgsm, .pgd, .square], epsilons: [Double] = [0.1, 0.15]) -> EvaluationConfig {
        var config = EvaluationConfig()
        config.attacks = attacks
        config.epsilons = epsilons
        config.steps = 4
        config.queries = 40
        config.batchSize = 16
        config.matrix = false
        config.checks = false
        config.matrixSamples = 24
        config.checkSamples = 32
        config.transferSteps = 4
        return config
    }

    static func input(_ ensemble: Ensemble = AttackFixtures.ensemble(), count: Int = 40, surrogates: [Surrogate] = [])
        -> EvaluationInput
    {
        let (images, labels) = AttackFixtures.dataset(count: count, seed: 61)
        let model = ModelRecord(
            run: "", checkpointSHA256: "fixture", members: ensemble.members.count, architecture: "tiny",
            output: ensemble.output.rawValue,
            method: "baseline", dataset: "synthetic", epochs: 150, trainingSeed: 1)
        return EvaluationInput(
            ensemble: ensemble, images: images, labels: labels, sampleIndices: (0..<count).map { $0 * 3 + 1 },
            surrogates: surrogates, model: model)
    }

}

/// The robustness numbers without timings, for comparing runs.
func numbers(_ result: EvaluationResult) -> [[Double]] {
    result.robustness.map { record in
        [record.epsilon, record.worstCaseAccuracy, record.suiteAccuracy, Double(record.inheritedBroken)]
            + record.units.flatMap { [Double($0.attacked), Double($0.succeeded), Double($0.newlyBroken), $0.accuracyAfter] }
    }
}

@Suite("Evaluation: worst-case bookkeeping, resuming, transfer and the matrix")
struct EvaluationTests {
    @Test("the worst case is per image, over every attack and objective, and monotone in ε")
    func worstCase() throws {
        let evaluator = try Evaluator(
            config: EvaluationFixture.config().validated(), input: EvaluationFixture.input(), stateURL: nil, command: ["test"])
        let result = try evaluator.run()
        #expect(result.clean.accuracy == 1)
        #expect(result.robustness.map(\.epsilon) == [0.1, 0.15])
        for (e, record) in result.robustness.enumerated() {
            // fgsm and pgd on three objectives each, square on the deployed output.
            #expect(
                record.units.map { "\($0.attack)/\($0.target)" } == [
                    "fgsm/probabilities", "fgsm/logits", "fgsm/member-losses", "pgd/probabilities", "pgd/logits",
                    "pgd/member-losses", "square/deployed",
                ])
            // Cascade: each run attacks exactly the images still robust after the previous one.
            var robust = 40 - record.inheritedBroken
            for unit in record.units {
                #expect(unit.attacked == robust)
                #expect(unit.newlyBroken == unit.succeeded)
                robust -= unit.newlyBroken
                #expect(abs(unit.accuracyAfter - Double(robust) / 40) < 1e-12)
            }
            #expect(abs(record.worstCaseAccuracy - Double(robust) / 40) < 1e-12)
            // The per-example records agree with the worst case.
            let survivors = result.perExample.filter { $0.cleanCorrect && $0.brokenBy[e] == nil }.count
            #expect(Double(survivors) / 40 == record.worstCaseAccuracy)
        }
        // Images broken at ε = 0.1 stay broken at 0.15, so accuracy cannot rise.
        #expect(result.robustness[1].inheritedBroken == 40 - Int((result.robustness[0].worstCaseAccuracy * 40).rounded()))
        #expect(result.robustness[1].worstCaseAccuracy <= result.robustness[0].worstCaseAccuracy)
        #expect(result.robustness[1].worstCaseAccuracy < 0.5, "ε = 0.15 breaks most images of the fixture")
        // Seeds depend on the settings only: a second run gives the same numbers.
        let again = try Evaluator(
            config: EvaluationFixture.config().validated(), input: EvaluationFixture.input(), stateURL: nil, command: ["test"]
        ).run()
        #expect(numbers(again) == numbers(result))
    }

    @Test("independent mode knows each attack's own accuracy and gives the same worst case")
    func independent() throws {
        var config = EvaluationFixture.config(attacks: [.fgsm, .pgd])
        let cascade = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: [])
            .run()
        config.mode = .independent
        let independent = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: [])
            .run()
        for (a, b) in zip(cascade.robustness, independent.robustness) {
            #expect(b.attacks.allSatisfy { $0.standaloneAccuracy != nil })
            // Every unit ran on all clean-correct images.
            #expect(b.units.allSatisfy { $0.attacked == 40 })
            // PGD on its own is at least as strong as FGSM on its own.
            #expect(b.attacks[1].standaloneAccuracy! <= b.attacks[0].standaloneAccuracy!)
            #expect(
                abs(a.worstCaseAccuracy - b.worstCaseAccuracy) <= 0.05,
                "cascade \(a.worstCaseAccuracy) vs independent \(b.worstCaseAccuracy)")
        }
    }

    @Test("the ensemble preset's attacks and transfer protocol, stopped again and again, resume to the same numbers")
    func ensemblePresetResumes() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = EvaluationConfig(preset: .ensemble)
        (config.steps, config.queries, config.transferSteps, config.batchSize) = (3, 20, 3, 16)
        (config.trainSurrogates, config.epsilons, config.matrix, config.checks) = ([], [0.1, 0.15], false, false)
        let surrogate = Surrogate(
            name: "s", ensemble: AttackFixtures.ensemble(seeds: [7, 8]), checkpointSHA256: "s", trainingSeed: 7)
        let input = { EvaluationFixture.input(count: 24, surrogates: [surrogate]) }
        let uninterrupted = try Evaluator(config: config.validated(), input: input(), stateURL: nil, command: ["a"]).run()
        #expect(
            uninterrupted.robustness[0].units.map(\.attack) == [
                "apgd-ce", "apgd-ce", "apgd-ce", "apgd-t", "apgd-t", "apgd-t", "fab-t", "fab-t", "fab-t", "mora", "mora",
                "square",
            ])
        #expect(
            uninterrupted.transfer.map { "\($0.attack)/\($0.starts ?? 1)" }.prefix(4) == [
                "m-pgd/3", "m-pgd-margin/3", "m-di2-fgsm/1", "m-di2-fgsm-margin/1",
            ])
        let stateURL = folder.appendingPathComponent("eval.state.json")
        var stops = 0
        var resumed: EvaluationResult?
        while resumed == nil {
            var batches = 0
            do {
                resumed = try Evaluator(config: config.validated(), input: input(), stateURL: stateURL, command: ["b"])
                    .run(shouldStop: {
                        batches += 1
                        return batches == 3
                    })
            } catch let error as EDLCMError where error.message.hasPrefix("evaluation interrupted") {
                stops += 1
            }
        }
        #expect(stops >= 5, "the evaluation should have been stopped several times, was \(stops)")
        #expect(numbers(resumed!) == numbers(uninterrupted))
        #expect(resumed!.transfer.map(\.targetAccuracy) == uninterrupted.transfer.map(\.targetAccuracy))
        #expect(resumed!.perExample == uninterrupted.perExample)
    }

    @Test("an interrupted evaluation resumes from its state and gives the same numbers")
    func resumes() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let stateURL = folder.appendingPathComponent("eval.state.json")
        let config = EvaluationFixture.config()
        let uninterrupted = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: ["a"]
        ).run()

        var batches = 0
        #expect(
            throws: EDLCMError(
                "evaluation interrupted; its state is saved in \(stateURL.path): run the same command again to resume")
        ) {
            try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: stateURL, command: ["first"])
                .run(shouldStop: {
                    batches += 1
                    return batches == 5
                })
        }
        let interrupted = try EvaluationState.read(from: stateURL)
        // Batches of 16 over 40 images: the first run (3 batches) finished, the second stopped after 2 of its 3.
        #expect(interrupted.units.count == 1 && interrupted.partial?.nextBatch == 2 && !interrupted.finished)
        var resumedFrom: Int?
        let resumed = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(), stateURL: stateURL, command: ["second"]
        ).run { event in
            if case let .resumed(_, runs) = event { resumedFrom = runs }
        }
        #expect(resumedFrom == 1)
        #expect(numbers(resumed) == numbers(uninterrupted))
        #expect(resumed.provenance.commands == [["first"], ["second"]])

        // Other settings may not take over an unfinished state, but may replace a finished one.
        var other = config
        other.steps = 5
        let state = try EvaluationState.read(from: stateURL)
        #expect(state.finished)
        #expect(throws: Never.self) {
            try Evaluator(config: other.validated(), input: EvaluationFixture.input(), stateURL: stateURL, command: [])
        }
        var unfinished = state
        unfinished.finished = false
        try unfinished.write(to: stateURL)
        #expect(
            throws: EDLCMError(
                "\(stateURL.path): holds an unfinished evaluation with other settings, model or images; run the same command to resume it, or delete the file to start over"
            )
        ) {
            try Evaluator(config: other.validated(), input: EvaluationFixture.input(), stateURL: stateURL, command: [])
        }
    }

    @Test("a lighter suite at the --light-eps radii, and --every-objective limiting which attacks run on every objective")
    func lightRadiiAndObjectives() throws {
        var config = EvaluationFixture.config(attacks: [.pgd, .apgdCE, .square], epsilons: [0.05, 0.15])
        config.targets = [.probabilities, .logits]
        (config.lightEps, config.lightAttacks, config.everyObjective) = ([0.05], [.fgsm], [.pgd])
        let result = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: []).run()
        let runs = result.robustness.map { $0.units.map { "\($0.attack)/\($0.target)" } }
        // ε 0.05: FGSM alone, on the first objective; ε 0.15: PGD on both, APGD-CE on the first, Square on the output.
        #expect(runs[0] == ["fgsm/probabilities"])
        #expect(runs[1] == ["pgd/probabilities", "pgd/logits", "apgd-ce/probabilities", "square/deployed"])
        #expect(result.attackSettings.filter { $0.role == "suite" }.map(\.attack) == ["pgd", "apgd-ce", "square", "fgsm"])
        #expect(result.budgetDescription.hasSuffix("--every-objective pgd, --light-eps 0.05; at ε = 0.05 the suite is only fgsm"))
        config.lightEps = [0.1]
        #expect(throws: EDLCMError("--light-eps 0.1 is not among --eps (0.05, 0.15)")) { try config.validate() }
        config.epsilons = nil
        config.lightEps = [0.3]
        config.epsilons = [0.1]
        #expect(throws: EDLCMError("--light-eps 0.3 is not among --eps (0.1)")) { try config.validate() }
    }

    @Test("targeted mode counts an image as broken only when it reaches its target class")
    func targetedMode() throws {
        var config = EvaluationFixture.config(attacks: [.pgd], epsilons: [0.3])
        config.targeted = true
        let evaluator = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: [])
        let targets = evaluator.targetClasses!.scalars(as: Int64.self)
        let labels = EvaluationFixture.input().labels.scalars(as: Int64.self)
        #expect(zip(targets, labels).allSatisfy { $0 != $1 && (0..<4).contains($0) })
        let result = try evaluator.run()
        #expect(result.robustness[0].worstCaseAccuracy < 0.5)
        #expect(result.settings.targeted)
    }

    @Test("transfer attacks are crafted on surrogates, cached with their settings and reused")
    func transfer() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let surrogate = Surrogate(
            name: "s1", ensemble: AttackFixtures.ensemble(seeds: [7]), checkpointSHA256: "surrogate-7", trainingSeed: 7,
            cacheDirectory: folder)
        var config = EvaluationFixture.config(attacks: [.fgsm], epsilons: [0.15])
        config.transferAttacks = [.mpgd, .diFGSM]
        let first = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(surrogates: [surrogate]), stateURL: nil, command: []
        ).run()
        #expect(first.transfer.map(\.attack) == ["m-pgd", "di2-fgsm"])
        #expect(first.transfer.allSatisfy { !$0.reused && $0.cache != nil })
        #expect(first.transfer[0].surrogateSuccess > 0.5, "M-PGD is white-box on the surrogate itself")
        // The examples fool the surrogate at least as often as they transfer to the target.
        #expect(first.transfer.allSatisfy { 1 - $0.targetAccuracy <= $0.surrogateSuccess + 0.05 })
        #expect(first.transfer.allSatisfy { $0.targetAccuracy < 1 }, "some examples transfer")
        #expect(
            try FileManager.default.contentsOfDirectory(atPath: folder.path).filter { $0.hasSuffix(".safetensors") }.count == 2)
        let cached = try Checkpoint.load(from: URL(fileURLWithPath: first.transfer[0].cache!))
        #expect(cached.metadata["edlcm.transfer.settings"]?.contains("\"epsilon\":0.15") == true)

        let second = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(surrogates: [surrogate]), stateURL: nil, command: []
        ).run()
        #expect(second.transfer.allSatisfy { $0.reused })
        #expect(second.transfer.map(\.targetAccuracy) == first.transfer.map(\.targetAccuracy))
        #expect(second.robustness[0].worstCaseAccuracy == first.robustness[0].worstCaseAccuracy)
        #expect(first.robustness[0].worstCaseAccuracy <= first.robustness[0].suiteAccuracy)

        // Other settings do not reuse the examples.
        config.transferSteps = 5
        let third = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(surrogates: [surrogate]), stateURL: nil, command: []
        ).run()
        #expect(third.transfer.allSatisfy { !$0.reused })
        // The evaluated model cannot be its own surrogate.
        let itself = Surrogate(name: "self", ensemble: AttackFixtures.ensemble(), checkpointSHA256: "fixture", trainingSeed: 1)
        #expect(
            throws: EDLCMError("--surrogates self: is the evaluated model itself; a transfer attack needs a held-out surrogate")
        ) {
            try Evaluator(
                config: config.validated(), input: EvaluationFixture.input(surrogates: [itself]), stateURL: nil, command: [])
        }
    }

    @Test("the transferability matrix is M × (M + 1) over images every member gets right")
    func transferabilityMatrix() throws {
        var config = EvaluationFixture.config(attacks: [.fgsm], epsilons: [0.15])
        config.matrix = true
        let result = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: []).run()
        let matrix = try #require(result.transferability.first)
        #expect(matrix.models == ["member0", "member1", "member2", "ensemble"])
        #expect(matrix.success.count == 3 && matrix.success.allSatisfy { $0.count == 4 })
        #expect(matrix.images == 24)
        #expect(matrix.success.joined().allSatisfy { (0...1).contains($0) })
        // White-box success on the member it was crafted on beats transfer to the others.
        for i in 0..<3 {
            let others = (0..<3).filter { $0 != i }.map { matrix.success[i][$0] }
            #expect(matrix.success[i][i] >= others.max()!, "row \(i): \(matrix.success[i])")
            #expect(matrix.success[i][i] > 0.5)
        }
    }

    @Test("bad settings are refused with one-line messages")
    func badSettings() {
        var config = EvaluationFixture.config()
        config.epsilons = [-0.1]
        #expect(throws: EDLCMError("--eps must be ≥ 0, got -0.1")) { try config.validate() }
        config = EvaluationFixture.config(attacks: [.pgd, .cwL2])
        #expect(throws: EDLCMError("--attacks cw-l2 is an L2 attack; use --norm l2 or drop it")) { try config.validate() }
        config = EvaluationFixture.config(attacks: [.mpgd])
        #expect(throws: EDLCMError("--attacks: m-pgd is a transfer attack; list it in --transfer-attacks and give --surrogates"))
        { try config.validate() }
        config = EvaluationFixture.config(attacks: [.pgd, .pgd])
        #expect(throws: EDLCMError("--attacks lists an attack twice")) { try config.validate() }
        config = EvaluationFixture.config()
        config.targets = [.member(0)]
        #expect(
            throws: EDLCMError("--targets: member0 is for the transferability matrix; use probabilities, logits or member-losses")
        ) { try config.validate() }
        config = EvaluationFixture.config()
        config.epsilons = nil
        #expect(throws: EDLCMError("evaluation: no radii (set --eps or resolve the dataset's defaults)")) {
            try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: [])
        }
    }
}

/// Every success counted: what the sanity checks' own runs and the transferability matrix break
/// lowers the worst case, labelled with the attack that broke it.
@Suite("Evaluation: every success counted")
struct EveryBreakCountedTests {
    /// The worst case is exactly the clean-correct images no label marks broken, and `inherited`
    /// counts images broken at a smaller radius.
    func expectConsistent(_ result: EvaluationResult) {
        let n = Double(result.perExample.count)
        for (e, record) in result.robustness.enumerated() {
            let robust = result.perExample.filter { $0.cleanCorrect && $0.brokenBy[e] == nil }.count
            #expect(record.worstCaseAccuracy == Double(robust) / n)
            #expect(record.inheritedBroken == result.perExample.filter { $0.brokenBy[e] == "inherited" }.count)
        }
    }

    @Test("images only the sanity checks' PGD and BIM break count in the worst case")
    func sanityCheckBreaksCount() throws {
        // FGSM alone in the suite; the checks run BIM and PGD with more steps on every clean-correct image.
        var config = EvaluationFixture.config(attacks: [.fgsm], epsilons: [0.15])
        (config.checks, config.checkSamples, config.steps) = (true, 40, 10)
        let result = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: []).run()
        let byChecks = result.perExample.filter { $0.brokenBy[0]?.hasPrefix("check:") == true }.count
        #expect(byChecks > 0, "the checks' stronger attacks break images FGSM does not")
        let record = result.robustness[0]
        #expect(Int((record.worstCaseAccuracy * 40).rounded()) == Int((record.suiteAccuracy * 40).rounded()) - byChecks)
        expectConsistent(result)
    }

    @Test("images only the transferability matrix's examples break count in the worst case, at larger radii too")
    func matrixBreaksCount() throws {
        var config = EvaluationFixture.config(attacks: [.fgsm], epsilons: [0.05, 0.15])
        (config.matrix, config.matrixSamples) = (true, 40)
        let result = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: []).run()
        let byMatrix = result.perExample.filter { $0.brokenBy.contains { $0?.hasPrefix("matrix:") == true } }.count
        #expect(byMatrix > 0, "PGD on one member breaks ensemble images that FGSM on the ensemble does not")
        for record in result.robustness { #expect(record.worstCaseAccuracy <= record.suiteAccuracy) }
        #expect(result.robustness[1].worstCaseAccuracy < result.robustness[1].suiteAccuracy)
        expectConsistent(result)
    }

    @Test("a targeted evaluation counts only targeted evidence: the checks' and the matrix's untargeted breaks stay out")
    func targetedCountsOnlyTargeted() throws {
        // The setting of the two tests above, targeted: FGSM alone toward each image's target class.
        var config = EvaluationFixture.config(attacks: [.fgsm], epsilons: [0.05, 0.15])
        (config.checks, config.checkSamples, config.steps, config.matrix, config.matrixSamples) = (true, 40, 10, true, 40)
        config.targeted = true
        let result = try Evaluator(config: config.validated(), input: EvaluationFixture.input(), stateURL: nil, command: []).run()
        #expect(
            !result.perExample.contains {
                $0.brokenBy.contains { $0?.hasPrefix("check:") == true || $0?.hasPrefix("matrix:") == true }
            })
        for record in result.robustness { #expect(record.worstCaseAccuracy == record.suiteAccuracy) }
        // The checks still ran (untargeted, as diagnostics) and broke images the targeted suite did not.
        #expect(result.sanityChecks.contains { $0.name == .moreEffortDoesNotHelp })
        var untargeted = config
        untargeted.targeted = false
        let other = try Evaluator(config: untargeted.validated(), input: EvaluationFixture.input(), stateURL: nil, command: [])
            .run()
        #expect(
            other.perExample.contains {
                $0.brokenBy.contains { $0?.hasPrefix("check:") == true || $0?.hasPrefix("matrix:") == true }
            })
        expectConsistent(result)
    }
}
