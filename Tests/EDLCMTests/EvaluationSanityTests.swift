import Foundation
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

/// Each gradient-masking check passes on a plain model and fails on a model built to mask gradients.
@Suite("Evaluation: gradient-masking sanity checks")
struct EvaluationSanityTests {
    static func checks(on ensemble: Ensemble, epsilons: [Double], steps: Int) throws -> [SanityCheckName: SanityCheckResult] {
        var config = EvaluationFixture.config(attacks: [], epsilons: epsilons)
        config.checks = true
        config.steps = steps
        config.queries = 60
        config.checkSamples = 60
        let result = try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(ensemble, count: 60), stateURL: nil, command: []
        ).run()
        #expect(result.sanityChecks.map(\.name) == SanityCheckName.allCases)
        return Dictionary(uniqueKeysWithValues: result.sanityChecks.map { ($0.name, $0) })
    }

    @Test("every check passes on a plain model")
    func plainModelPasses() throws {
        let checks = try Self.checks(on: AttackFixtures.ensemble(), epsilons: [0.1, 0.14], steps: 4)
        for name in SanityCheckName.allCases {
            #expect(checks[name]!.passed, "\(name.rawValue): \(checks[name]!.failures)")
            #expect(!checks[name]!.measurements.isEmpty)
        }
    }

    @Test("a model that rounds its input (zero gradients) fails the checks that see it")
    func roundingModelFails() throws {
        let masked = Ensemble(members: [1, 2, 3].map { RoundingClassifier(base: AttackFixtures.member(seed: $0)) })
        masked.eval()
        let checks = try Self.checks(on: masked, epsilons: [0.1, 0.16], steps: 4)
        // Gradient attacks cannot move, so iterating does not help, Square beats them, accuracy
        // does not fall with ε, an unbounded attack leaves images correct, and the gradients are zero.
        for name in [
            SanityCheckName.iterativeBeatsSingleStep, .whiteBoxBeatsBlackBox, .accuracyFallsWithEpsilon, .unboundedReachesZero,
            .gradientsFiniteAndNonZero,
        ] {
            #expect(!checks[name]!.passed, "\(name.rawValue) should fail on the rounding model")
        }
        let gradients = checks[.gradientsFiniteAndNonZero]!.measurements.first { $0.label == "probabilities zero fraction" }
        #expect(gradients?.value == 1)
    }

    @Test("a model whose gradients oscillate (shattered) fails the more-steps check")
    func shatteredModelFails() throws {
        let masked = Ensemble(members: [1, 2, 3].map { ShatteredClassifier(base: AttackFixtures.member(seed: $0)) })
        masked.eval()
        let checks = try Self.checks(on: masked, epsilons: [0.15, 0.3], steps: 2)
        // Small steps get trapped in the oscillations, so doubling the steps raises accuracy,
        // and BIM does worse than FGSM.
        #expect(!checks[.moreEffortDoesNotHelp]!.passed)
        #expect(!checks[.iterativeBeatsSingleStep]!.passed)
        #expect(!checks[.whiteBoxBeatsBlackBox]!.passed)
        // Its gradients are finite and non-zero: that check alone would not catch it.
        #expect(checks[.gradientsFiniteAndNonZero]!.passed)
    }

    static func measurements() -> SanityMeasurements {
        SanityMeasurements(
            images: 100, epsilons: [0.1, 0.2], fgsm: [0.6, 0.3], bim: [0.5, 0.1], pgd: [0.45, 0.05], whiteBox: [0.45, 0.05],
            square: [0.7, 0.4], transfer: ["s/m-pgd": [0.8, 0.5]], pgdMoreSteps: [0.44, 0.05],
            pgdMoreRestarts: [0.45, 0.04], apgd: [0.4, 0.04], apgdMoreSteps: [0.4, 0.04], apgdMoreRestarts: [0.39, 0.03],
            unboundedRadius: 1, unbounded: 0,
            gradients: [GradientStatistics(target: "probabilities", images: 100, nonFinite: 0, zero: 1, meanAbsolute: 0.01)],
            steps: 20, restarts: 1)
    }

    static func verdicts(_ m: SanityMeasurements) -> [SanityCheckName: Bool] {
        Dictionary(uniqueKeysWithValues: SanityChecks.evaluate(m).map { ($0.name, $0.passed) })
    }

    @Test("the rules and their thresholds, on hand-made numbers")
    func rules() {
        let good = Self.measurements()
        #expect(Self.verdicts(good).values.allSatisfy { $0 })

        var m = good
        m.bim = [0.62, 0.1]  // BIM worse than FGSM by more than the 1-point tolerance at ε = 0.1
        #expect(Self.verdicts(m)[.iterativeBeatsSingleStep] == false)
        m = good
        m.bim = [0.5, 0.3]  // no gain at the largest ε
        #expect(Self.verdicts(m)[.iterativeBeatsSingleStep] == false)
        m.fgsm = [0.6, 0.01]
        m.bim = [0.5, 0.01]  // unless FGSM already leaves ≤ 1 %
        #expect(Self.verdicts(m)[.iterativeBeatsSingleStep] == true)

        m = good
        m.square = [0.7, 0.03]  // Square beats white-box at ε = 0.2
        #expect(Self.verdicts(m)[.whiteBoxBeatsBlackBox] == false)
        m = good
        m.transfer["s/m-pgd"] = [0.43, 0.5]  // a transfer attack beats white-box by 2 points (2 images)
        #expect(Self.verdicts(m)[.whiteBoxBeatsBlackBox] == false)
        m.transfer["s/m-pgd"] = [0.445, 0.5]  // within the tolerance
        #expect(Self.verdicts(m)[.whiteBoxBeatsBlackBox] == true)

        m = good
        m.whiteBox = [0.45, 0.47]  // rises by 2 points
        #expect(Self.verdicts(m)[.accuracyFallsWithEpsilon] == false)
        m.whiteBox = [0.45, 0.45]  // flat
        #expect(Self.verdicts(m)[.accuracyFallsWithEpsilon] == false)
        m.whiteBox = [1, 1]  // nothing broken
        #expect(Self.verdicts(m)[.accuracyFallsWithEpsilon] == false)
        m.whiteBox = [0.005, 0.005]  // flat at zero is fine
        #expect(Self.verdicts(m)[.accuracyFallsWithEpsilon] == true)

        m = good
        m.unbounded = 0.02
        #expect(Self.verdicts(m)[.unboundedReachesZero] == false)
        m.unbounded = 0.01
        #expect(Self.verdicts(m)[.unboundedReachesZero] == true)

        m = good
        m.pgdMoreSteps = [0.44, 0.07]  // two more points with twice the steps
        #expect(Self.verdicts(m)[.moreEffortDoesNotHelp] == false)
        m = good
        m.pgdMoreRestarts = [0.45, 0.07]
        #expect(Self.verdicts(m)[.moreEffortDoesNotHelp] == false)
        m = good
        m.apgdMoreSteps = [0.4, 0.06]  // APGD-CE: two more points with twice the steps
        let verdict = SanityChecks.evaluate(m).first { $0.name == .moreEffortDoesNotHelp }!
        #expect(!verdict.passed && verdict.failures == ["ε=0.2: APGD-CE with 40 steps leaves 6.0%, more than 20 steps' 4.0%"])
        #expect(verdict.measurements.count == 12)  // 2 attacks × 3 runs × 2 radii
        m.apgdMoreSteps = [0.4, 0.05]  // one image: within the tolerance
        #expect(Self.verdicts(m)[.moreEffortDoesNotHelp] == true)
        m = good
        m.apgdMoreRestarts = [0.39, 0.06]
        #expect(Self.verdicts(m)[.moreEffortDoesNotHelp] == false)
        m = good
        m.pgdMoreSteps = [0.47, 0.05]  // the check runs at every radius: at ε = 0.1 too
        #expect(
            SanityChecks.evaluate(m).first { $0.name == .moreEffortDoesNotHelp }!.failures == [
                "ε=0.1: PGD with 40 steps leaves 47.0%, more than 20 steps' 45.0%"
            ])

        m = good
        m.gradients[0].zero = 2  // 2 % zero gradients
        #expect(Self.verdicts(m)[.gradientsFiniteAndNonZero] == false)
        m = good
        m.gradients[0].nonFinite = 1
        #expect(Self.verdicts(m)[.gradientsFiniteAndNonZero] == false)

        m = good
        m.images = 0
        #expect(Self.verdicts(m).values.filter { $0 }.count == 1, "only the gradient check can be decided without images")
    }
}
