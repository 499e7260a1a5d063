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

/// The attacks are as strong as their papers say, relative to each other, on a fixed undefended model.
@Suite("Attacks: relative strength, losses and targets")
struct AttackStrengthTests {
    @Test("PGD fools at least as many images as FGSM, and BIM sits between")
    func pgdBeatsFGSM() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 120, seed: 51)
        let fgsm = rate(try runAttack(FGSM(), on: ensemble, images: images, labels: labels, epsilon: 0.15).success)
        let bim = rate(
            try runAttack(BIM(BIM.Configuration(steps: 10)), on: ensemble, images: images, labels: labels, epsilon: 0.15).success)
        let pgd = rate(
            try runAttack(PGD(PGD.Configuration(steps: 10)), on: ensemble, images: images, labels: labels, epsilon: 0.15).success)
        #expect(fgsm > 0.3 && fgsm < 0.95, "FGSM \(fgsm): the radius should leave room to improve")
        #expect(pgd > fgsm, "PGD \(pgd) vs FGSM \(fgsm)")
        #expect(bim >= fgsm, "BIM \(bim) vs FGSM \(fgsm)")
    }

    @Test("APGD fools at least as many images as PGD at equal steps")
    func apgdBeatsPGD() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 120, seed: 52)
        for epsilon in [0.12, 0.15] {
            let pgd = rate(
                try runAttack(PGD(PGD.Configuration(steps: 10)), on: ensemble, images: images, labels: labels, epsilon: epsilon)
                    .success)
            let apgd = rate(
                try runAttack(APGD(APGD.Configuration(steps: 10)), on: ensemble, images: images, labels: labels, epsilon: epsilon)
                    .success)
            #expect(apgd >= pgd, "ε \(epsilon): APGD-CE \(apgd) vs PGD \(pgd)")
            #expect(apgd > 0.05, "ε \(epsilon): APGD-CE \(apgd) should fool some images")
        }
    }

    @Test("CW-L2 finds smaller perturbations than PGD-L2 at equal success")
    func carliniWagnerIsMinimal() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 24, seed: 53)
        let epsilon = 2.0
        let pgd = try runAttack(
            PGD(PGD.Configuration(steps: 10)), on: ensemble, images: images, labels: labels, epsilon: epsilon,
            norm: .l2, stopOnSuccess: false)
        let cw = try runAttack(
            CarliniWagnerL2(CarliniWagnerL2.Configuration(binarySearchSteps: 6, maxIterations: 60, learningRate: 0.05)),
            on: ensemble, images: images, labels: labels, epsilon: epsilon, norm: .l2)
        #expect(rate(pgd.success) == 1)
        #expect(rate(cw.success) >= rate(pgd.success) - 0.1, "CW \(rate(cw.success)) vs PGD \(rate(pgd.success))")
        let pgdNorms = PerturbationNorm.l2.norms(pgd.adversarial - images).scalars(as: Double.self)
        let cwNorms = PerturbationNorm.l2.norms(cw.adversarial - images).scalars(as: Double.self)
        let both = (0..<24).filter { pgd.success[$0] && cw.success[$0] }
        let pgdMean = both.map { pgdNorms[$0] }.reduce(0, +) / Double(both.count)
        let cwMean = both.map { cwNorms[$0] }.reduce(0, +) / Double(both.count)
        #expect(both.count >= 20)
        #expect(cwMean < 0.8 * pgdMean, "CW mean ‖δ‖₂ \(cwMean) vs PGD \(pgdMean)")
    }

    @Test("Square lowers accuracy without gradients, where gradient attacks see none")
    func squareNeedsNoGradients() throws {
        let (images, labels) = AttackFixtures.dataset(count: 48, seed: 54)
        let masked = Ensemble(members: [1, 2, 3].map { RoundingClassifier(base: AttackFixtures.member(seed: $0)) })
        masked.eval()
        #expect(!(try runAttack(FGSM(), on: masked, images: images, labels: labels, epsilon: 0.2).success.contains(true)))
        #expect(
            rate(
                try runAttack(PGD(PGD.Configuration(steps: 5)), on: masked, images: images, labels: labels, epsilon: 0.2).success)
                <= 0.05)
        // With gradient recording off everywhere, Square still works: it only reads scores.
        let square = try withoutGradients {
            try runAttack(
                SquareAttack(SquareAttack.Configuration(queries: 100)), on: masked, images: images, labels: labels, epsilon: 0.2)
        }
        #expect(rate(square.success) > 0.5, "Square fooled \(rate(square.success))")
        // L2 as well, on the plain model.
        let plain = AttackFixtures.ensemble()
        let squareL2 = try runAttack(
            SquareAttack(SquareAttack.Configuration(queries: 60)), on: plain, images: images[0..<16], labels: labels[0..<16],
            epsilon: 1.5, norm: .l2)
        #expect(rate(squareL2.success) > 0.5, "Square L2 fooled \(rate(squareL2.success))")
    }

    @Test("targeted attacks reach the target class")
    func targeted() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 40, seed: 55)
        let targets = Tensor(labels.scalars(as: Int64.self).map { ($0 + 1) % 4 })
        for attack in [
            PGD(PGD.Configuration(steps: 10)) as any Attack, APGD(APGD.Configuration(loss: .dlr, steps: 10)),
            SquareAttack(SquareAttack.Configuration(queries: 100)),
        ] {
            let output = try runAttack(attack, on: ensemble, images: images, labels: labels, epsilon: 0.3, targets: targets)
            let predictions = withoutGradients { ensemble(output.adversarial).argmax(alongAxis: 1) }.scalars(as: Int64.self)
            #expect(output.success == zip(predictions, targets.scalars(as: Int64.self)).map { $0 == $1 }, "\(attack.displayName)")
            #expect(rate(output.success) > 0.5, "\(attack.displayName) reached the target for \(rate(output.success))")
        }
    }

    @Test("the losses match hand computation")
    func lossValues() {
        let scores = Tensor([Float(3), 1, 2, 0, 0, 4, 1, 2], shape: [2, 4])
        let labels = Tensor([Int64(0), 1])
        let targets = Tensor([Int64(2), 3])
        // DLR: −(z_y − max_{i≠y} z_i)/(z_π1 − z_π3): row 0 −(3 − 2)/(3 − 1); row 1 −(4 − 2)/(4 − 1).
        assertClose(AttackLoss.dlr.values(scores, labels: labels, targets: nil), [-0.5, -2.0 / 3])
        // Targeted DLR: −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2): row 0 −(3 − 2)/(3 − 0.5); row 1 −(4 − 2)/(4 − 0.5).
        assertClose(AttackLoss.dlr.values(scores, labels: labels, targets: targets), [-1 / 2.5, -2 / 3.5])
        // Margin: max_{i≠y} z_i − z_y, capped at κ.
        assertClose(AttackLoss.margin.values(scores, labels: labels, targets: nil), [-1, -2])
        assertClose(AttackLoss.margin.values(scores, labels: Tensor([Int64(1), 0]), targets: nil, confidence: 1), [1, 1])
        // Targeted margin: z_t − max_{i≠t} z_i.
        assertClose(AttackLoss.margin.values(scores, labels: labels, targets: targets), [-1, -2])
        // Cross-entropy: log Σ e^z − z_y.
        let lse0 = Foundation.log(Foundation.exp(3.0) + Foundation.exp(1.0) + Foundation.exp(2.0) + 1)
        let lse1 = Foundation.log(1 + Foundation.exp(4.0) + Foundation.exp(1.0) + Foundation.exp(2.0))
        assertClose(AttackLoss.crossEntropy.values(scores, labels: labels, targets: nil), [lse0 - 3, lse1 - 4], rtol: 1e-5)
        assertClose(
            AttackLoss.crossEntropy.values(scores, labels: labels, targets: targets), [-(lse0 - 2), -(lse1 - 2)], rtol: 1e-5)
    }

    @Test("the ensemble-aware objectives compute what they name")
    func objectives() {
        let ensemble = AttackFixtures.ensemble()
        let (images, _) = AttackFixtures.dataset(count: 6, seed: 56)
        withoutGradients {
            let logits = ensemble.memberLogits(images)
            let probabilities = EnsembleTarget(ensemble: ensemble, objective: .probabilities).forward(images)
            let meanProbability =
                (logits[0].softmax(alongAxis: 1) + logits[1].softmax(alongAxis: 1) + logits[2].softmax(alongAxis: 1)) / 3
            assertClose(probabilities.lossInputs[0], meanProbability.log().scalars(as: Double.self), atol: 1e-5)
            assertClose(probabilities.decision, ensemble(images).scalars(as: Double.self), atol: 1e-6)
            let averaged = EnsembleTarget(ensemble: ensemble, objective: .logits).forward(images)
            assertClose(averaged.lossInputs[0], ((logits[0] + logits[1] + logits[2]) / 3).scalars(as: Double.self), atol: 1e-5)
            // Success is judged on the deployed output whatever the objective.
            assertClose(averaged.decision, ensemble(images).scalars(as: Double.self), atol: 1e-6)
            let sum = EnsembleTarget(ensemble: ensemble, objective: .memberLosses).forward(images)
            #expect(sum.lossInputs.count == 3)
            assertClose(sum.lossInputs[2], logits[2].scalars(as: Double.self))
            let member = EnsembleTarget(ensemble: ensemble, objective: .member(1)).forward(images)
            assertClose(member.decision, logits[1].scalars(as: Double.self))
        }
        #expect(TargetObjective(name: "member12") == .member(12))
        #expect(TargetObjective(name: "member-losses") == .memberLosses)
        #expect(TargetObjective(name: "members") == nil)
    }

    @Test("APGD's checkpoints and Square's schedule follow the papers")
    func schedules() {
        // Croce & Hein (2020): p = 0, 0.22, 0.41, 0.57, 0.70, 0.80, 0.87, 0.93, 0.99 of N = 100.
        #expect(APGD.checkpoints(steps: 100) == [22, 41, 57, 70, 80, 87, 93, 99])
        #expect(APGD.checkpoints(steps: 10) == [2, 3, 4, 5, 6, 7, 8, 9, 10])
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 0, total: 10_000) == 0.8)
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 11, total: 10_000) == 0.4)
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 600, total: 10_000) == 0.05)
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 9_000, total: 10_000) == 0.8 / 512)
        // The schedule is rescaled to the query budget: 1000 queries reach p/16 at 10 % of them.
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 100, total: 1000) == 0.05)
    }
}

/// A target whose cross-entropy for label 0 rises with an image's mean pixel value everywhere, but
/// which is fooled (decides class 1) only while that mean lies in (`low`, `high`): an ascent from
/// mid-grey passes through the band and leaves it.
struct BandTarget: AttackTarget {
    let low: Double
    let high: Double
    var modules: [any Module] { [] }
    var classCount: Int { 2 }

    func forward(_ images: Tensor) -> TargetOutput {
        let mean = images.flattened(startAxis: 1).mean(alongAxes: [1])
        let logits = Tensor.stack([mean * -10.0, mean * 10.0], alongAxis: 1)
        let inBand = withoutGradients { (mean .> low).converted(to: .float32) * (mean .< high).converted(to: .float32) }
        let decision = Tensor.stack([inBand.zerosLike(), inBand * 2.0 - 1.0], alongAxis: 1)
        return TargetOutput(decision: decision, lossInputs: [logits])
    }
}

@Suite("Attacks: every success counted")
struct EverySuccessTests {
    /// PGD without a random start moves every pixel of a mid-grey image up by 2.5 · 0.3 / 10 =
    /// 0.075 a step: its mean is 0.575 after one step (in the band, fooled) and 0.8 at the end (not).
    /// With or without early stopping the attack returns the fooling iterate.
    @Test("PGD and BIM keep the iterate that fooled the model, with or without early stopping")
    func foolingIterateIsKept() throws {
        let images = Tensor.full([3, 1, 8, 8], value: 0.5)
        let labels = Tensor([Int64](repeating: 0, count: 3))
        let target = BandTarget(low: 0.55, high: 0.62)
        let attacks: [any Attack] = [
            PGD(PGD.Configuration(steps: 10, randomStart: false)), BIM(BIM.Configuration(steps: 10)),
        ]
        for attack in attacks {
            for stopOnSuccess in [true, false] {
                let context = AttackContext(epsilon: 0.3, norm: .linf, seeds: [1, 2, 3], stopOnSuccess: stopOnSuccess)
                let output = try attack.perturb(images, labels: labels, target: target, context: context)
                #expect(output.success == [true, true, true], "\(attack.displayName), stopOnSuccess \(stopOnSuccess)")
                let means = output.adversarial.flattened(startAxis: 1).mean(alongAxes: [1]).scalars(as: Float.self)
                #expect(means.allSatisfy { $0 > 0.55 && $0 < 0.62 }, "\(attack.displayName): \(means)")
            }
            // Crafting to transfer keeps ascending and returns the final point (mean 0.8, out of the band).
            let crafting = AttackContext(
                epsilon: 0.3, norm: .linf, seeds: [1, 2, 3], stopOnSuccess: false, keepsFirstSuccess: false)
            let output = try attack.perturb(images, labels: labels, target: target, context: crafting)
            #expect(output.success == [false, false, false], "\(attack.displayName) crafting")
            assertClose(output.adversarial.flattened(startAxis: 1).mean(alongAxes: [1]), [0.8, 0.8, 0.8])
        }
    }

    /// A 10-class target, attacked toward class 1, whose targeted loss (the cross-entropy of class
    /// 1) falls as an image's mean pixel value rises from 0.2 to 0.52 while class 0 still wins
    /// (p₁ from 0.40 to 0.48, cross-entropy 0.92 to 0.74), and which above 0.52 decides class 1
    /// with p₁ ≈ 0.10 (cross-entropy 2.29): the proposal that fools it has a higher loss than the
    /// best point before it, so only the rule "a proposal that fools is kept" reaches it.
    struct HighLossFoolingTarget: AttackTarget {
        var modules: [any Module] { [] }
        var classCount: Int { 10 }

        func forward(_ images: Tensor) -> TargetOutput {
            let mean = images.flattened(startAxis: 1).mean(alongAxes: [1]).reshaped(to: [-1, 1])
            let fooled = withoutGradients { (mean .> 0.52).converted(to: .float32) }
            let progress = ((mean - 0.2) * (1 / 0.32)).clamped(to: 0...1)
            let outside =
                Tensor([Float(1), 0.5] + [Float](repeating: -10, count: 8), shape: [1, 10])
                + progress * Tensor([Float(0), 0.4] + [Float](repeating: 0, count: 8), shape: [1, 10])
            let inside = Tensor([Float(0), 1] + [Float](repeating: 0.99, count: 8), shape: [1, 10])
            let logits = outside * (1.0 - fooled) + inside * fooled
            return TargetOutput(decision: logits, lossInputs: [logits])
        }
    }

    @Test("targeted Square keeps a proposal that fools the model even when its loss is not lower")
    func targetedSquareKeepsFoolingProposals() throws {
        let count = 16
        let images = Tensor.full([count, 1, 8, 8], value: 0.5)
        let labels = Tensor([Int64](repeating: 0, count: count))
        let targets = Tensor([Int64](repeating: 1, count: count))
        let context = AttackContext(epsilon: 0.3, norm: .linf, targets: targets, seeds: (0..<count).map { UInt64($0) })
        let target = HighLossFoolingTarget()
        // The starting stripes alone fool some images (their mean lands above 0.52); not all.
        let start = try SquareAttack(SquareAttack.Configuration(queries: 1)).perturb(
            images, labels: labels, target: target, context: context)
        #expect(rate(start.success) < 1, "the test needs images the start does not fool")
        let output = try SquareAttack(SquareAttack.Configuration(queries: 500)).perturb(
            images, labels: labels, target: target, context: context)
        #expect(output.success.allSatisfy { $0 }, "fooled \(rate(output.success)), the start alone \(rate(start.success))")
    }
}
