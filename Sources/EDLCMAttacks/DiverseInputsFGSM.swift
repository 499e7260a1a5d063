import EDLCMCore
import EDLCMModels
import Torch

/// DI²-FGSM of Xie, Zhang, Zhou, Bai, Wang, Ren and Yuille, "Improving Transferability of
/// Adversarial Examples with Input Diversity" (CVPR 2019): I-FGSM (see ``BIM``) whose gradient
/// at each step is taken through a random transform of the input, applied with probability
/// p = 0.5: a random resize followed by random zero padding. The paper enlarges 299-pixel images
/// to [299, 330) and pads to 330; for classifiers with a fixed input size this follows the common
/// shrink-then-pad form (torchattacks' DIFGSM): resize to [⌊0.9·H⌋, H) and pad back to H. With
/// `decay` > 0 it is M-DI²-FGSM (the paper's momentum combination). Success is checked only at
/// iterates whose forward pass was untransformed and at the final iterate (a transformed forward
/// pass says nothing about the image itself). The random choices are drawn per batch, as in the paper.
public struct DiverseInputsFGSM: Attack {
    /// DI²-FGSM's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Steps; nil uses I-FGSM's min(255ε + 4, 1.25·255ε) (the paper's choice).
        public var steps: Int?
        /// The step size; nil uses I-FGSM's rule (see ``BIM``).
        public var stepSize: Double?
        /// The probability p of transforming the input at a step (the paper: 0.5).
        public var probability: Double
        /// The smallest resize, as a fraction of the image side.
        public var resizeRate: Double
        /// Momentum decay μ (0: DI²-FGSM; 1: M-DI²-FGSM).
        public var decay: Double
        /// The loss (the paper: cross-entropy).
        public var loss: AttackLoss

        public init(
            steps: Int? = nil, stepSize: Double? = nil, probability: Double = 0.5, resizeRate: Double = 0.9,
            decay: Double = 0, loss: AttackLoss = .crossEntropy
        ) {
            self.steps = steps
            self.stepSize = stepSize
            self.probability = probability
            self.resizeRate = resizeRate
            self.decay = decay
            self.loss = loss
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "DI²-FGSM" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        let steps = c.steps ?? kurakinSteps(epsilon: context.epsilon)
        let stepSize = c.stepSize ?? kurakinStepSize(epsilon: context.epsilon, steps: c.steps)
        return IterativeAscent(
            loss: c.loss, steps: steps, stepSize: stepSize, randomStart: false,
            momentum: c.decay > 0 ? c.decay : nil,
            diversity: InputDiversity(probability: c.probability, resizeRate: c.resizeRate)
        )
        .run(images, labels: labels, target: target, context: context)
    }
}

extension DiverseInputsFGSM.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "DI²-FGSM")
        if let steps { try check("steps", steps, .atLeast(1)) }
        if let stepSize { try check("step size", stepSize, .positive) }
        try check("probability", probability, .probability)
        try check("resize rate", resizeRate, Check { $0 > 0 && $0 < 1 ? nil : "must be in (0, 1)" })
        try check("decay", decay, .nonNegative)
    }
}
