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

/// Every attack stays inside its ε-ball and [0, 1], is reproducible, restores the model's mode,
/// and refuses what it does not support.
@Suite("Attacks: bounds, seeds, modes and unsupported requests")
struct AttackBoundsTests {
    /// Small budgets so that every attack runs in well under a second on the fixture.
    static func smallAttack(_ name: AttackName) -> any Attack {
        switch name {
        case .cwL2: CarliniWagnerL2(CarliniWagnerL2.Configuration(binarySearchSteps: 4, maxIterations: 30, learningRate: 0.05))
        default: name.makeAttack(AttackBudget(steps: 4, restarts: 2, queries: 20))
        }
    }

    static let cases: [(AttackName, PerturbationNorm)] = AttackName.allCases.flatMap { name in
        name == .cwL2 ? [(name, PerturbationNorm.l2)] : [(name, .linf), (name, .l2)]
    }

    @Test("stays in the ε-ball and [0, 1]", arguments: cases)
    func staysInBall(name: AttackName, norm: PerturbationNorm) throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 24, seed: 41)
        let epsilon = norm == .linf ? 0.15 : 1.2
        // Without early stopping the attacks keep moving, so the bounds are tested at full stretch.
        let output = try runAttack(
            Self.smallAttack(name), on: ensemble, images: images, labels: labels, epsilon: epsilon, norm: norm,
            stopOnSuccess: false)
        let delta = output.adversarial - images
        #expect(output.adversarial.shape == images.shape)
        #expect(output.adversarial.min().item() >= 0)
        #expect(output.adversarial.max().item() <= 1)
        let norms = norm.norms(delta).scalars(as: Double.self)
        #expect(norms.allSatisfy { $0 <= epsilon * (1 + 1e-5) + 1e-6 }, "largest norm \(norms.max()!) > ε \(epsilon)")
        // The attack moved the images (every attack here perturbs at this radius; CW-L2 returns
        // only successful perturbations, which are smaller).
        #expect(norms.max()! > epsilon * (name == .cwL2 ? 0.1 : 0.3))
        // Success flags agree with the ensemble's decisions on the returned images.
        let fooled = withoutGradients { attackSucceeded(ensemble(output.adversarial), labels: labels, targets: nil) }
        #expect(fooled == output.success)
    }

    @Test("the same seeds give the same examples; other seeds other random starts")
    func reproducible() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 16, seed: 42)
        let attack = PGD(PGD.Configuration(steps: 3))
        let target = EnsembleTarget.deployed(ensemble)
        func run(_ seeds: [UInt64]) throws -> [Float] {
            try attack.perturb(
                images, labels: labels, target: target,
                context: AttackContext(epsilon: 0.1, norm: .linf, seeds: seeds, stopOnSuccess: false)
            ).adversarial.scalars(as: Float.self)
        }
        let seeds = (0..<16).map { UInt64($0) * 7 }
        #expect(try run(seeds) == run(seeds))
        #expect(try run(seeds) != run(seeds.map { $0 + 1 }))
        // An image's example does not depend on the batch it is attacked in.
        let alone = try attack.perturb(
            images[3..<4], labels: labels[3..<4], target: target,
            context: AttackContext(epsilon: 0.1, norm: .linf, seeds: [seeds[3]], stopOnSuccess: false))
        assertClose(alone.adversarial[0], try run(seeds)[(3 * 64)..<(4 * 64)].map(Double.init), atol: 1e-6)
    }

    @Test("the model's training mode is restored")
    func restoresMode() throws {
        let ensemble = AttackFixtures.ensemble()
        ensemble.train()
        let (images, labels) = AttackFixtures.dataset(count: 8, seed: 43)
        _ = try runAttack(FGSM(), on: ensemble, images: images, labels: labels, epsilon: 0.1)
        #expect(ensemble.isTraining)
        #expect(ensemble.members.allSatisfy { $0.isTraining })
        ensemble.eval()
        _ = try runAttack(FGSM(), on: ensemble, images: images, labels: labels, epsilon: 0.1)
        #expect(!ensemble.isTraining)
    }

    @Test("ε = 0 returns the clean images")
    func zeroRadius() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 8, seed: 44)
        for name in [AttackName.pgd, .apgdCE, .square, .fgsm] {
            let output = try runAttack(
                name.makeAttack(AttackBudget(steps: 2, queries: 5)), on: ensemble, images: images, labels: labels, epsilon: 0)
            #expect((output.adversarial - images).abs().max().item() == 0, "\(name)")
        }
    }

    /// (the configuration with one setting broken, the message it must give).
    static let brokenSettings: [(any AttackConfiguration, String)] = {
        var apgd = APGD.Configuration()
        apgd.rho = 1.5
        var bim = BIM.Configuration()
        bim.stepSize = -1
        var cw = CarliniWagnerL2.Configuration()
        cw.maxIterations = 0
        var di = DiverseInputsFGSM.Configuration()
        di.resizeRate = 1
        var fab = FAB.Configuration()
        fab.overshoot = 0.5
        var mim = MIM.Configuration()
        mim.decay = -0.5
        var mora = MORA.Configuration()
        mora.temperature = -.infinity
        var noWeighting = MORA.Configuration()
        noWeighting.weightings = []
        var pgd = PGD.Configuration()
        pgd.confidence = 0
        var sgm = SkipGradientMethod.Configuration()
        sgm.gamma = 2
        var square = SquareAttack.Configuration()
        square.initialFraction = 0
        return [
            (apgd, "APGD-CE: ρ must be in [0, 1], got 1.5"), (bim, "BIM: step size must be a positive number, got -1.0"),
            (cw, "CW-L2: iterations must be at least 1, got 0"), (di, "DI²-FGSM: resize rate must be in (0, 1), got 1.0"),
            (fab, "FAB-T: overshoot η must be ≥ 1, got 0.5"), (mim, "MIM: decay must be ≥ 0, got -0.5"),
            (mora, "MORA: temperature must be ≥ 0, got -inf"), (noWeighting, "MORA: needs at least one weighting"),
            (pgd, "PGD: the margin cap κ must be positive, got 0.0"), (sgm, "SGM: γ must be in (0, 1], got 2.0"),
            (square, "Square: initial fraction must be in (0, 1], got 0.0"),
        ]
    }()

    @Test("every attack checks its settings: one line naming the attack, the setting, its rule and the value")
    func settingChecks() throws {
        for (configuration, message) in Self.brokenSettings {
            #expect(throws: EDLCMError(message)) { try configuration.validate() }
        }
        // The defaults pass.
        let defaults: [any AttackConfiguration] = [
            APGD.Configuration(), BIM.Configuration(), CarliniWagnerL2.Configuration(), DiverseInputsFGSM.Configuration(),
            FAB.Configuration(), MIM.Configuration(), MORA.Configuration(), PGD.Configuration(),
            SkipGradientMethod.Configuration(), SquareAttack.Configuration(), FGSM.Configuration(),
        ]
        for configuration in defaults { #expect(throws: Never.self) { try configuration.validate() } }
    }

    @Test("unsupported requests throw one-line errors")
    func unsupported() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 4, seed: 45)
        #expect(throws: EDLCMError("CW-L2 is not defined for the linf threat model (only l2)")) {
            try runAttack(CarliniWagnerL2(), on: ensemble, images: images, labels: labels, epsilon: 0.1, norm: .linf)
        }
        #expect(throws: EDLCMError("PGD: ε must be a finite number ≥ 0, got -0.1")) {
            try runAttack(PGD(), on: ensemble, images: images, labels: labels, epsilon: -0.1)
        }
        #expect(throws: EDLCMError("PGD: steps must be at least 1, got 0")) {
            try runAttack(PGD(PGD.Configuration(steps: 0)), on: ensemble, images: images, labels: labels, epsilon: 0.1)
        }
        expectError(startingWith: "FGSM: images must lie in [0, 1] pixel space, got values in [0.") {
            _ = try runAttack(FGSM(), on: ensemble, images: images * 2, labels: labels, epsilon: 0.1)
        }
        #expect(throws: EDLCMError("PGD: 3 seeds for 4 images (one per image)")) {
            try PGD().perturb(
                images, labels: labels, target: EnsembleTarget.deployed(ensemble),
                context: AttackContext(epsilon: 0.1, norm: .linf, seeds: [1, 2, 3]))
        }
        // DLR needs 3 classes (4 targeted): a 4-class model supports both, and a targeted request
        // on a model with fewer classes is refused.
        let threeClass = ThreeClassTarget(ensemble: ensemble)
        let threeLabels = Tensor(labels.scalars(as: Int64.self).map { $0 % 3 })
        let threeTargets = Tensor(labels.scalars(as: Int64.self).map { ($0 + 1) % 3 })
        #expect(throws: EDLCMError("APGD-DLR (targeted) needs at least 4 classes, the model has 3")) {
            try APGD(APGD.Configuration(loss: .dlr, steps: 2)).perturb(
                images, labels: threeLabels, target: threeClass,
                context: AttackContext(epsilon: 0.1, norm: .linf, targets: threeTargets, seeds: [1, 2, 3, 4]))
        }
        #expect(throws: Never.self) {
            try APGD(APGD.Configuration(loss: .dlr, steps: 2)).perturb(
                images, labels: threeLabels, target: threeClass,
                context: AttackContext(epsilon: 0.1, norm: .linf, seeds: [1, 2, 3, 4]))
        }
    }

    @Test("documented configurations decode, and unknown keys are refused")
    func configurationsDecode() throws {
        let json =
            #"{"steps": 100, "restarts": 5, "stepSizeFactor": 2.5, "randomStart": true, "loss": "margin", "confidence": 50}"#
        let decoded = try JSONDecoder().decode(PGD.Configuration.self, from: Data(json.utf8))
        #expect(decoded == PGD.Configuration(steps: 100, restarts: 5, loss: .margin))
        let square = try JSONDecoder().decode(
            SquareAttack.Configuration.self, from: Data(#"{"queries": 5000, "initialFraction": 0.8}"#.utf8))
        #expect(square.queries == 5000)
        // Each attack's configuration survives a JSON round trip.
        for name in AttackName.allCases {
            let value = name.makeAttack().configurationJSON()
            #expect(value != .null, "\(name)")
        }
        let config = try JSONDecoder().decode(
            EvaluationConfig.self, from: Data(#"{"attacks": ["pgd", "square"], "eps": [0.1], "steps": 50}"#.utf8))
        #expect(config.attacks == [.pgd, .square] && config.epsilons == [0.1] && config.steps == 50 && config.restarts == 1)
        #expect(throws: EDLCMError("unknown key 'step' (did you mean 'steps'?)")) {
            try JSONDecoder().decode(EvaluationConfig.self, from: Data(#"{"step": 50}"#.utf8))
        }
    }
}

/// The first three classes of the fixture ensemble, to test class-count limits.
struct ThreeClassTarget: AttackTarget {
    let ensemble: Ensemble
    var modules: [any Module] { [ensemble] }
    var classCount: Int { 3 }
    func forward(_ images: Tensor) -> TargetOutput {
        let scores = ensemble(images).sliced(alongAxis: 1, from: 0, to: 3)
        return TargetOutput(decision: scores, lossInputs: [scores])
    }
}
