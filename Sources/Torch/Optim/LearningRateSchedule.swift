import Foundation

/// A learning rate as a function of the epoch (0-based), as PyTorch's epoch-wise schedulers.
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
        switch self {
        case .constant:
            return base
        case let .step(stepSize, gamma):
            return base * Foundation.pow(gamma, Double(epoch / Swift.max(stepSize, 1)))
        case let .multiStep(milestones, gamma):
            return base * Foundation.pow(gamma, Double(milestones.filter { $0 <= epoch }.count))
        case let .cosine(totalEpochs, minimum):
            let progress = Double(Swift.min(epoch, totalEpochs)) / Double(Swift.max(totalEpochs, 1))
            return minimum + (base - minimum) * (1 + Foundation.cos(Double.pi * progress)) / 2
        }
    }
}
