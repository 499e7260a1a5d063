import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// Whether training replaces its inputs by adversarial examples, chosen with `--adversarial`.
public enum AdversarialTrainingMode: String, SettingChoice {
    /// Train on the batches as they are.
    case disabled = "none"
    /// Train on L∞ PGD examples of the ensemble (``AdversarialTraining``).
    case pgd
}

/// The settings of adversarial training.
public struct AdversarialTrainingOptions: Codable, Equatable, Sendable {
    /// ε: the L∞ radius, in [0, 1] pixel units.
    public var epsilon: Double
    /// The step of the search.
    public var stepSize: Double
    /// The number of steps.
    public var steps: Int
    /// The fraction of each batch replaced by adversarial examples (its first ⌊f·B⌉ examples, at
    /// least one); 1, the default, is Madry et al.'s full replacement.
    public var fraction: Double

    public init(epsilon: Double, stepSize: Double, steps: Int, fraction: Double = 1) {
        self.epsilon = epsilon
        self.stepSize = stepSize
        self.steps = steps
        self.fraction = fraction
    }
}

/// Adversarial training as a modifier of any objective: Madry, Makelov, Schmidt, Tsipras and
/// Vladu, "Towards Deep Learning Models Resistant to Adversarial Attacks", ICLR 2018:
///
///     min_θ E[ L_wrapped(x*, y) ],   x* = argmax_{‖x' − x‖∞ ≤ ε} −log((1/M) Σₘ softmax(zₘ(x'))_y)
///
/// The inner maximisation is ``TrainingPerturbation`` (projected gradient ascent from a uniform
/// random start) on the NLL of the ensemble's log-averaged softmax, with the members in evaluation
/// mode (BatchNorm on running statistics, so the search neither depends on nor disturbs the batch
/// statistics); their previous mode (training) is restored before the wrapped objective runs on the
/// batch whose images are replaced by x* (all of them by default: Madry et al.'s full replacement,
/// no clean term; `fraction` < 1 replaces only the first part of the batch). Labels and paired
/// images are kept. This makes TRS+AT, EDLCM+AT and our DVERGE+ (`--method dverge --adversarial
/// pgd`, whose source images are then adversarial; the DVERGE authors' DVERGE+ instead adds a CE
/// term on per-member PGD examples).
///
/// The logged terms, epoch settings and training accuracy are the wrapped objective's, measured on
/// the adversarial batch.
public struct AdversarialTraining: EnsembleObjective {
    public let wrapped: any EnsembleObjective
    public let options: AdversarialTrainingOptions

    public init(wrapping wrapped: any EnsembleObjective, options: AdversarialTrainingOptions) {
        self.wrapped = wrapped
        self.options = options
    }

    public var needsPairedImages: Bool { wrapped.needsPairedImages }

    public func epochSettings(epoch: Int, totalEpochs: Int, ensemble: Ensemble) -> [String: Double] {
        wrapped.epochSettings(epoch: epoch, totalEpochs: totalEpochs, ensemble: ensemble)
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        wrapped.loss(ensemble: ensemble, batch: adversarialBatch(ensemble: ensemble, batch: batch), context: context)
    }

    public func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        wrapped.accumulateGradients(
            ensemble: ensemble, batch: adversarialBatch(ensemble: ensemble, batch: batch), context: context)
    }

    /// The batch with ``adversarialImages(ensemble:images:labels:)`` in place of its images.
    func adversarialBatch(ensemble: Ensemble, batch: Batch) -> Batch {
        Batch(
            images: adversarialImages(ensemble: ensemble, images: batch.images, labels: batch.labels),
            labels: batch.labels, pairedImages: batch.pairedImages)
    }

    /// The batch with its first ⌊f·B⌉ images replaced by PGD examples of the ensemble.
    func adversarialImages(ensemble: Ensemble, images: Tensor, labels: Tensor) -> Tensor {
        let count = images.shape[0]
        let replaced = min(count, max(1, Int((options.fraction * Double(count)).rounded())))
        let search = TrainingPerturbation(
            epsilon: options.epsilon, stepSize: options.stepSize, steps: options.steps, randomStart: true, goal: .maximize)
        let wasTraining = ensemble.isTraining
        ensemble.eval()
        defer { ensemble.setTraining(wasTraining) }
        let targets = labels[0..<replaced]
        let moved = search.perturb(images[0..<replaced]) { x in
            nllLoss(logProbabilities: averagedLogProbabilities(ensemble.memberLogits(x)), labels: targets, reduction: .sum)
        }
        return replaced == count ? moved : Tensor.concatenate([moved, images[replaced..<count]], alongAxis: 0)
    }
}
