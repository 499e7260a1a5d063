import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// The skip gradient method (SGM) of Wu, Wang, Xia, Bailey and Ma, "Skip Connections Matter: On the
/// Transferability of Adversarial Examples Generated with ResNets" (ICLR 2020): iterative
/// gradient-sign steps on a residual surrogate whose backward pass scales the gradient through
/// every residual branch by γ (the paper's Eq. 7: ∂z_{i+1}/∂z_i = 1 + γ·∂f_i/∂z_i), so that more of
/// the gradient flows through the skip connections; the examples transfer better. Forward values
/// are unchanged, so success on the surrogate is judged as usual.
///
/// Steps follow PGD's rule without a random start, α = 2.5ε/T; γ = 0.2, the value of DVERGE's
/// black-box protocol (`sgm_0.2`). Members that are not ResNet-20s have no residual branches and
/// are differentiated as usual (the evaluation crafts SGM only on residual surrogates).
public struct SkipGradientMethod: Attack {
    /// SGM's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Steps T.
        public var steps: Int
        /// γ, the scale of the residual branches' gradient (DVERGE: 0.2).
        public var gamma: Double
        /// α = stepSizeFactor·ε/T.
        public var stepSizeFactor: Double
        /// The loss (cross-entropy, or the C&W margin).
        public var loss: AttackLoss

        public init(steps: Int = 50, gamma: Double = 0.2, stepSizeFactor: Double = 2.5, loss: AttackLoss = .crossEntropy) {
            self.steps = steps
            self.gamma = gamma
            self.stepSizeFactor = stepSizeFactor
            self.loss = loss
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "SGM" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    /// Whether any member of a target is a residual network whose branches SGM can scale.
    public static func hasResidualBranches(_ ensemble: Ensemble) -> Bool {
        ensemble.members.contains { $0 is ResNet20 }
    }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        return IterativeAscent(
            loss: c.loss, steps: c.steps, stepSize: c.stepSizeFactor * context.epsilon / Double(c.steps), randomStart: false
        )
        .run(images, labels: labels, target: SkipGradientTarget(base: target, gamma: c.gamma), context: context)
    }
}

/// A target whose residual members scale their residual branches' gradient by γ during its
/// forward passes (the scaling is recorded in the graph, so it holds for the backward pass after).
struct SkipGradientTarget: AttackTarget {
    let base: any AttackTarget
    let gamma: Double

    var modules: [any Module] { base.modules }
    var classCount: Int { base.classCount }

    func forward(_ images: Tensor) -> TargetOutput {
        let residual = (base as? EnsembleTarget)?.ensemble.members.compactMap { $0 as? ResNet20 } ?? []
        for network in residual { network.residualGradientScale = gamma }
        defer { for network in residual { network.residualGradientScale = 1 } }
        return base.forward(images)
    }
}

extension SkipGradientMethod.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "SGM")
        try check("steps", steps, .atLeast(1))
        try check("γ", gamma, .unitInterval)
        try check("step size factor", stepSizeFactor, .positive)
    }
}
