import EDLCMCore
import EDLCMModels
import Torch

/// The fast gradient sign method of Goodfellow, Shlens and Szegedy, "Explaining and Harnessing
/// Adversarial Examples" (ICLR 2015): one step of size ε along the sign of the loss gradient,
/// x' = clip(x + ε·sign(∇ₓ ℓ(x, y))). For L2 the step follows the normalised gradient,
/// x + ε·∇/‖∇‖₂ (the fast gradient method). Targeted: descend the loss of the target class.
public struct FGSM: Attack {
    /// FGSM's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// The loss whose gradient gives the step (the paper: cross-entropy).
        public var loss: AttackLoss

        public init(loss: AttackLoss = .crossEntropy) {
            self.loss = loss
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "FGSM" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public func minimumClassCount(targeted: Bool) -> Int { configuration.loss.minimumClassCount(targeted: targeted) }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        IterativeAscent(loss: configuration.loss, steps: 1, stepSize: context.epsilon, randomStart: false)
            .run(images, labels: labels, target: target, context: context)
    }
}

extension FGSM.Configuration: AttackConfiguration {
    public func validate() throws {}
}
