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
        public var steps: Int = 40
        /// α = stepSizeFactor·ε/steps.
        public var stepSizeFactor: Double = 2.5
        /// Random restarts; each starts from a new random point.
        public var restarts: Int = 1
        /// Start from a uniformly random point of the ball (true in the paper).
        public var randomStart: Bool = true
        /// The loss: cross-entropy (the paper) or the CW margin.
        public var loss: AttackLoss = .crossEntropy
        /// κ, the cap of the margin loss.
        public var confidence: Double = 50

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
        try requireSetting(steps >= 1, "PGD", "steps must be at least 1, got \(steps)")
        try requireSetting(restarts >= 1, "PGD", "restarts must be at least 1, got \(restarts)")
        try requireSetting(
            stepSizeFactor > 0 && stepSizeFactor.isFinite, "PGD", "step size factor must be positive, got \(stepSizeFactor)")
        try requireSetting(confidence > 0, "PGD", "the margin cap κ must be positive, got \(confidence)")
    }
}
