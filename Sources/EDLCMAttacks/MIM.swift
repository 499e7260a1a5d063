import EDLCMCore
import EDLCMModels
import Torch

/// The momentum iterative method (MI-FGSM) of Dong, Liao, Pang, Su, Zhu, Hu and Li, "Boosting
/// Adversarial Attacks with Momentum" (CVPR 2018): gᵗ⁺¹ = μ·gᵗ + ∇ₓℓ/‖∇ₓℓ‖₁ and
/// xᵗ⁺¹ = Π(xᵗ + α·sign(gᵗ⁺¹)) with μ = 1, T = 10 and α = ε/T; the L2 version steps along
/// gᵗ⁺¹/‖gᵗ⁺¹‖₂. The momentum stabilises the direction, which makes the examples transfer.
///
/// With a random start and restarts this is M-PGD, the momentum PGD that DVERGE (Yang et al.
/// 2020) and TRS (Yang et al. 2021) craft transfer attacks with.
public struct MIM: Attack {
    /// MIM's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Steps (the paper: 10).
        public var steps: Int
        /// The decay μ of the accumulated gradient (the paper: 1).
        public var decay: Double
        /// α = stepSizeFactor·ε/steps (the paper: 1, so the walk spans the ball once).
        public var stepSizeFactor: Double
        /// Start from a random point of the ball (false in the paper; true for M-PGD).
        public var randomStart: Bool
        /// Restarts (1 in the paper).
        public var restarts: Int
        /// The loss (the paper: cross-entropy).
        public var loss: AttackLoss

        public init(
            steps: Int = 10, decay: Double = 1, stepSizeFactor: Double = 1, randomStart: Bool = false,
            restarts: Int = 1, loss: AttackLoss = .crossEntropy
        ) {
            self.steps = steps
            self.decay = decay
            self.stepSizeFactor = stepSizeFactor
            self.randomStart = randomStart
            self.restarts = restarts
            self.loss = loss
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { configuration.randomStart ? "M-PGD" : "MIM" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        return IterativeAscent(
            loss: c.loss, steps: c.steps, stepSize: c.stepSizeFactor * context.epsilon / Double(Swift.max(c.steps, 1)),
            randomStart: c.randomStart, restarts: c.restarts, momentum: c.decay
        )
        .run(images, labels: labels, target: target, context: context)
    }
}

extension MIM.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "MIM")
        try check("steps", steps, .atLeast(1))
        try check("restarts", restarts, .atLeast(1))
        try check("decay", decay, .nonNegative)
        try check("step size factor", stepSizeFactor, .positive)
    }
}
