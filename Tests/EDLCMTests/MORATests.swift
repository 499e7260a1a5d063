import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMModels

@Suite("MORA")
struct MORATests {
    /// wₘ = M·∂(log P̄_c − log P̄_y)/∂zₘ,c with τ = 1 and κ = 1 (gaps below 10), by autograd.
    @Test("the member weights are the sensitivity of the ensemble's log-probability margin to each member")
    func weightsAreDerivatives() {
        var generator = SeededGenerator(seed: 5)
        let (rows, classes, count) = (6, 5, 3)
        let members = (0..<count).map { _ in
            Tensor((0..<rows * classes).map { _ in Float(generator.nextGaussian() * 2) }, shape: [rows, classes])
        }
        let labels = Tensor((0..<rows).map { Int64($0 % classes) })
        let (scale, weights) = MORA.memberWeights(members, labels: labels, lossTargets: nil, temperature: 1, masked: false)
        #expect(scale.scalars(as: Float.self).allSatisfy { $0 == 1 })
        let leaves = members.map { $0.requiringGrad() }
        let averaged = withGradients {
            Tensor.stack(leaves.map { $0.softmax(alongAxis: 1) }, alongAxis: 0).mean(alongAxis: 0)
        }
        let other = withoutGradients { bestOtherClass(averaged, excluding: labels) }
        let margin = withGradients {
            (classScore(averaged, other).log() - classScore(averaged, labels).log()).sum() * Double(count)
        }
        let gradients = leaves.map { leaf in
            withGradients { grad(of: margin, withRespectTo: leaf, retainGraph: true) }
        }
        for (weight, gradient) in zip(weights, gradients) {
            assertClose(weight, classScore(gradient, other).scalars(as: Double.self), rtol: 1e-4, atol: 1e-6)
        }
        // Masked: a member whose argmax is not y weighs nothing.
        let (_, masked) = MORA.memberWeights(members, labels: labels, lossTargets: nil, temperature: 1, masked: true)
        for (member, (weight, full)) in zip(members, zip(masked, weights)) {
            let correct = (member.argmax(alongAxis: 1) .== labels).scalars(as: Bool.self)
            let expected = zip(correct, full.scalars(as: Double.self)).map { $0 ? $1 : 0 }
            assertClose(weight, expected)
        }
    }

    @Test("MORA breaks at least as many images as APGD-CE at the same steps, on both ensemble outputs")
    func atLeastAsStrongAsAPGD() throws {
        let (images, labels) = AttackFixtures.dataset(count: 96, seed: 21)
        for output in [EnsembleOutput.averagedProbabilities, .averagedLogits] {
            let ensemble = AttackFixtures.ensemble(output: output)
            let objective: TargetObjective = output == .averagedLogits ? .logits : .probabilities
            let apgd = try runAttack(
                APGD(APGD.Configuration(steps: 20)), on: ensemble, images: images, labels: labels, epsilon: 0.12,
                objective: objective)
            let mora = try runAttack(
                MORA(MORA.Configuration(steps: 20, targetClasses: 3)), on: ensemble, images: images, labels: labels,
                epsilon: 0.12, objective: objective)
            let decision = withoutGradients { ensemble(mora.adversarial) }
            #expect(mora.success == attackSucceeded(decision, labels: labels, targets: nil))
            #expect(
                rate(mora.success) >= rate(apgd.success) - 2.0 / 96,
                "\(output): MORA \(rate(mora.success)) vs APGD-CE \(rate(apgd.success))")
            #expect(rate(mora.success) > 0.2)
            print("\(output): MORA fooled \(rate(mora.success)), APGD-CE \(rate(apgd.success))")
        }
    }

    @Test("MORA refuses a targeted goal, and the evaluation refuses MORA without an ensemble output to weigh against")
    func refusals() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 4, seed: 3)
        expectError(startingWith: "MORA has no targeted version") {
            _ = try runAttack(
                MORA(), on: ensemble, images: images, labels: labels, epsilon: 0.1, targets: Tensor([Int64]([1, 2, 3, 0])))
        }
        expectError(startingWith: "MORA: mixing weights must be in [0, 1], got 2") {
            _ = try runAttack(MORA(MORA.Configuration(mixes: [2])), on: ensemble, images: images, labels: labels, epsilon: 0.1)
        }
        var config = EvaluationConfig()
        config.attacks = [.mora]
        config.targets = [.memberLosses]
        expectError(startingWith: "--attacks mora weighs the members against the averaged softmax or logits") {
            try config.validateTogether()
        }
        config.targets = [.memberLosses, .logits]
        try config.validateTogether()
    }
}
