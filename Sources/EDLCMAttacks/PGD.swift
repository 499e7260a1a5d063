import EDLCMCore
import EDLCMModels
import Torch

/// Projected gradient descent of Madry, Makelov, Schmidt, Tsipras and Vladu, "Towards Deep
/// Learning Models Resistant to Adversarial Attacks" (ICLR 2018): from a uniformly random point of
/// the ε-ball, T steps xᵗ⁺¹ = Π(xᵗ + α·sign(∇ₓ ℓ)) (L∞) or Π(xᵗ + α·∇/‖∇‖₂) (L2), with restarts;
/// an example counts as robust only if it survives every restart. The step size is α = 2.5ε/T
/// (the rule of Madry et al.'s robustness library, which lets the walk cross the ball 2.5 times).
///
/// With ``AttackLoss/margin`` this is the "CW" variant (PGD on the Carlini–Wagner margin, with
/// Madry et al.'s κ = 50 cap), which does not saturate like the cross-entropy of a confident model.
public struct PGD: Attack {
    /// PGD's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Steps per restart (Madry et al.'s MNIST setting: 40).
        public var steps: Int
        /// α = stepSizeFactor·ε/steps.
        public var stepSizeFactor: Double
        /// Random restarts; each starts from a new random point.
        public var restarts: Int
        /// Start from a uniformly random point of the ball (true in the paper).
        public var randomStart: Bool
        /// The loss: cross-entropy (the paper) or the CW margin.
        public var loss: AttackLoss
        /// κ, the cap of the margin loss.
        public var confidence: Double

        public init(
            steps: Int = 40, stepSizeFactor: Double = 2.5, restarts: Int = 1, randomStart: Bool = true,
            loss: AttackLoss = .crossEntropy, confidence: Double = 50
        ) {
            self.steps = steps
            self.stepSizeFactor = stepSizeFactor
            self.restarts = restarts
            self.randomStart = randomStart
            self.loss = loss
            self.confidence = confidence
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { configuration.loss == .margin ? "PGD-CW" : "PGD" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        return IterativeAscent(
            loss: c.loss, confidence: c.confidence, steps: c.steps,
            stepSize: c.stepSizeFactor * context.epsilon / Double(Swift.max(c.steps, 1)),
            randomStart: c.randomStart, restarts: c.restarts
        )
        .run(images, labels: labels, target: target, context: context)
    }
}

extension PGD.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "PGD")
        try check("steps", steps, .atLeast(1))
        try check("restarts", restarts, .atLeast(1))
        try check("step size factor", stepSizeFactor, .positive)
        // κ = ∞ is allowed: the margin uncapped.
        try check("the margin cap κ", confidence, Check { $0 > 0 ? nil : "must be positive" })
    }
}
