import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMCore
@testable import EDLCMModels

@Suite("SGM and BatchNorm models under attack", .exclusiveRandomGenerator)
struct SkipGradientTests {
    static let spec = ModelSpec(
        architecture: .resnet20, channels: 1, height: 8, width: 8, classCount: 4, mean: [0.5], std: [0.25])

    /// One block's output is shortcut + f(x): with the residual gradient scaled by γ, the input
    /// gradient is g_shortcut + γ·g_f, linear in γ, and the forward value does not change.
    @Test("γ scales the residual branch's gradient and leaves the forward pass unchanged")
    func residualGradientScale() {
        Runtime.seed(3)
        let block = BasicBlock(inChannels: 4, outChannels: 4, stride: 1)
        block.eval()
        let input = Tensor.randn([2, 4, 6, 6])
        func gradient(_ gamma: Double) -> (Tensor, Tensor) {
            block.residualGradientScale = gamma
            defer { block.residualGradientScale = 1 }
            return withGradients {
                let x = input.requiringGrad()
                let output = block.preActivation(x)
                return (output.detached(), grad(of: (output * output).sum(), withRespectTo: x))
            }
        }
        let (value1, full) = gradient(1)
        let (value0, shortcutOnly) = gradient(0)
        let (value, scaled) = gradient(0.2)
        assertClose(value, value1, rtol: 0, atol: 0)
        assertClose(value0, value1, rtol: 0, atol: 0)
        assertClose(scaled, shortcutOnly + (full - shortcutOnly) * 0.2, rtol: 1e-4, atol: 1e-5)
        #expect((full - shortcutOnly).abs().max().item() > 1e-3, "the residual branch should carry gradient")
    }

    @Test("SGM scales the surrogate's residual branches only during its own forward passes")
    func targetRestoresScale() throws {
        Runtime.seed(4)
        let network = ResNet20(spec: Self.spec)
        network.eval()
        let ensemble = Ensemble(members: [network], output: .averagedProbabilities)
        let target = SkipGradientTarget(base: EnsembleTarget.deployed(ensemble), gamma: 0.2)
        let images = Tensor.rand([3, 1, 8, 8])
        let plain = withoutGradients { ensemble(images) }
        let output = withoutGradients { target.forward(images).decision }
        assertClose(output, plain, rtol: 1e-6, atol: 1e-6)
        #expect(network.residualGradientScale == 1)
        #expect(SkipGradientMethod.hasResidualBranches(ensemble))
        let attack = SkipGradientMethod(SkipGradientMethod.Configuration(steps: 3))
        let result = try attack.perturb(
            images, labels: Tensor([Int64]([0, 1, 2])), target: EnsembleTarget.deployed(ensemble),
            context: AttackContext(epsilon: 0.1, norm: .linf, seeds: [1, 2, 3], stopOnSuccess: false))
        #expect((result.adversarial - images).abs().max().item() <= 0.1 + 1e-6)
        #expect(network.residualGradientScale == 1)
    }

    /// An attack on a model left in training mode runs it in evaluation mode (BatchNorm uses its
    /// running statistics and does not update them) and restores the mode after.
    @Test(
        "attacks on a BatchNorm model run in evaluation mode and restore the mode",
        arguments: [AttackName.apgdT, .fabT, .mora, .pgd])
    func batchNormInEvaluationMode(name: AttackName) throws {
        Runtime.seed(5)
        let network = ResNet20(spec: Self.spec)
        // A few training-mode passes so that the running statistics are not the initial ones.
        for _ in 0..<3 { _ = withoutGradients { network(Tensor.rand([16, 1, 8, 8])) } }
        let ensemble = Ensemble(members: [network], output: .averagedProbabilities)
        ensemble.train()
        let statistics = network.stateTensors().filter { $0.name.contains("running") }.map { $0.tensor.cloned() }
        let images = Tensor.rand([4, 1, 8, 8])
        let labels = withoutGradients { () -> Tensor in
            ensemble.eval()
            defer { ensemble.train() }
            return ensemble(images).argmax(alongAxis: 1)
        }
        var budget = AttackBudget(steps: 3)
        budget.restarts = 1
        let attack = name.makeAttack(budget)
        let context = AttackContext(epsilon: 0.05, norm: .linf, seeds: [1, 2, 3, 4], stopOnSuccess: false)
        let inTraining = try attack.perturb(images, labels: labels, target: EnsembleTarget.deployed(ensemble), context: context)
        #expect(ensemble.isTraining && network.isTraining, "the training mode is restored")
        for (before, after) in zip(statistics, network.stateTensors().filter { $0.name.contains("running") }.map(\.tensor)) {
            assertClose(after, before, rtol: 0, atol: 0)
        }
        ensemble.eval()
        let inEvaluation = try attack.perturb(images, labels: labels, target: EnsembleTarget.deployed(ensemble), context: context)
        assertClose(inTraining.adversarial, inEvaluation.adversarial, rtol: 0, atol: 0)
        #expect(inTraining.success == inEvaluation.success)
    }
}
