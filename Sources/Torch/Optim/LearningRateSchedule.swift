import Foundation

/// A learning rate as a function of the epoch (0-based), as PyTorch's epoch-wise schedulers, or of
/// the batch (``learningRate(base:epoch:step:stepsPerEpoch:)``), as those schedulers stepped after
/// every batch with their lengths counted in batches.
public enum LearningRateSchedule: Codable, Equatable, Sendable {
    /// The base rate throughout.
    case constant
    /// The rate times `gamma` every `stepSize` epochs (`StepLR`).
    case step(stepSize: Int, gamma: Double)
    /// The rate times `gamma` at each milestone epoch (`MultiStepLR`).
    case multiStep(milestones: [Int], gamma: Double)
    /// Cosine annealing from the base rate to `minimum` over `totalEpochs` (`CosineAnnealingLR`).
    case cosine(totalEpochs: Int, minimum: Double)

    /// The rate for `epoch` given the base rate.
    public func learningRate(base: Double, epoch: Int) -> Double {
        learningRate(base: base, epoch: epoch, step: 0, stepsPerEpoch: 1)
    }

    /// The rate for batch `step` (0-based) of `epoch` given the base rate: the cosine anneals over
    /// every batch of the run (PyTorch's `CosineAnnealingLR` with `T_max` = epochs × batches per
    /// epoch, stepped per batch: lr_t = min + (base − min)(1 + cos(π t / T)) / 2 at global batch t);
    /// the step and multistep schedules change at epoch boundaries as they do per epoch.
    public func learningRate(base: Double, epoch: Int, step: Int, stepsPerEpoch: Int) -> Double {
        switch self {
        case .constant:
            return base
        case let .step(stepSize, gamma):
            return base * Foundation.pow(gamma, Double(epoch / Swift.max(stepSize, 1)))
        case let .multiStep(milestones, gamma):
            return base * Foundation.pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
        case let .cosine(totalEpochs, minimum):
            let perEpoch = Swift.max(stepsPerEpoch, 1)
            let done = Swift.min(epoch * perEpoch + step, totalEpochs * perEpoch)
            let progress = Double(done) / Double(Swift.max(totalEpochs * perEpoch, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
        }
    }
}
