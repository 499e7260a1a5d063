import EDLCMCore
import EDLCMModels
import Torch

/// The basic iterative method (I-FGSM) of Kurakin, Goodfellow and Bengio, "Adversarial Examples
/// in the Physical World" (ICLR 2017 workshop): FGSM steps of size α from the clean image, each
/// followed by clipping to the ε-ball and [0, 1], with no random start. The paper's schedule is
/// α = 1/255 and T = min(255ε + 4, 1.25·255ε) steps; with `steps` set, α spreads the same total
/// path min(ε + 4/255, 1.25ε) over them. L2 uses normalised-gradient steps.
public struct BIM: Attack {
    /// BIM's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// The number of steps; nil uses the paper's min(255ε + 4, 1.25·255ε).
        public var steps: Int?
        /// The step size α; nil uses the paper's rule (see the type's summary).
        public var stepSize: Double?
        /// The loss (the paper: cross-entropy).
        public var loss: AttackLoss

        public init(steps: Int? = nil, stepSize: Double? = nil, loss: AttackLoss = .crossEntropy) {
            self.steps = steps
            self.stepSize = stepSize
            self.loss = loss
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "BIM" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let steps = configuration.steps ?? kurakinSteps(epsilon: context.epsilon)
        let stepSize = configuration.stepSize ?? kurakinStepSize(epsilon: context.epsilon, steps: configuration.steps)
        return IterativeAscent(loss: configuration.loss, steps: steps, stepSize: stepSize, randomStart: false)
            .run(images, labels: labels, target: target, context: context)
    }
}

extension BIM.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "BIM")
        if let steps { try check("steps", steps, .atLeast(1)) }
        if let stepSize { try check("step size", stepSize, .positive) }
    }
}
