import EDLCMCore
import EDLCMModels
import Torch

/// The per-example objective an attack ascends, computed on scores [N, C] (logits or
/// log-probabilities). Untargeted losses grow as the true class loses; targeted ones as the
/// target class wins.
public enum AttackLoss: String, SettingChoice {
    /// Cross-entropy: CE(z, y) untargeted, −CE(z, t) targeted.
    case crossEntropy = "ce"
    /// The Carlini–Wagner margin: min(maxᵢ≠y zᵢ − z_y, κ) untargeted, min(z_t − maxᵢ≠t zᵢ, κ)
    /// targeted (Carlini & Wagner 2017, objective f₆).
    case margin
    /// The difference of logits ratio of Croce & Hein (2020): −(z_y − maxᵢ≠y zᵢ)/(z_π1 − z_π3)
    /// untargeted and −(z_y − z_t)/(z_π1 − (z_π3 + z_π4)/2) targeted, π sorting z descending.
    /// Invariant to shifting and scaling the scores; needs 3 classes (4 targeted).
    case dlr

    /// The fewest classes the loss is defined for.
    public func minimumClassCount(targeted: Bool) -> Int {
        switch self {
        case .crossEntropy, .margin: 2
        case .dlr: targeted ? 4 : 3
        }
    }

    /// The loss of each example, [N].
    ///
    /// - Parameters:
    ///   - scores: [N, C] logits or log-probabilities.
    ///   - labels: the true classes (int64 [N]).
    ///   - targets: the target classes of a targeted attack, nil for an untargeted one.
    ///   - confidence: κ of the margin loss (ignored by the others).
    public func values(_ scores: Tensor, labels: Tensor, targets: Tensor?, confidence: Double = .infinity) -> Tensor {
        switch (self, targets) {
        case (.crossEntropy, nil):
            return Torch.crossEntropy(logits: scores, labels: labels, reduction: .none)
        case let (.crossEntropy, targets?):
            return -Torch.crossEntropy(logits: scores, labels: targets, reduction: .none)
        case (.margin, nil):
            return capped(bestOtherScore(scores, excluding: labels) - classScore(scores, labels), confidence)
        case let (.margin, targets?):
            return capped(classScore(scores, targets) - bestOtherScore(scores, excluding: targets), confidence)
        case (.dlr, nil):
            let sorted = scores.sorted(alongAxis: 1, descending: true).values
            let denominator = sorted.selected(alongAxis: 1, index: 0) - sorted.selected(alongAxis: 1, index: 2) + 1e-12
            return -(classScore(scores, labels) - bestOtherScore(scores, excluding: labels)) / denominator
        case let (.dlr, targets?):
            let sorted = scores.sorted(alongAxis: 1, descending: true).values
            let denominator =
                sorted.selected(alongAxis: 1, index: 0)
                - (sorted.selected(alongAxis: 1, index: 2) + sorted.selected(alongAxis: 1, index: 3)) * 0.5 + 1e-12
            return -(classScore(scores, labels) - classScore(scores, targets)) / denominator
        }
    }

    private func capped(_ values: Tensor, _ confidence: Double) -> Tensor {
        confidence.isFinite ? values.clamped(max: confidence) : values
    }
}

/// z_y for each row: [N].
func classScore(_ scores: Tensor, _ classes: Tensor) -> Tensor {
    scores.gathered(alongAxis: 1, indices: classes.unsqueezed(axis: 1)).squeezed(axis: 1)
}

/// maxᵢ≠y zᵢ for each row: [N].
func bestOtherScore(_ scores: Tensor, excluding classes: Tensor) -> Tensor {
    let mask = classes.oneHot(classCount: scores.shape[1]) .== 1.0
    return scores.filled(where: mask, with: -.infinity).max(alongAxis: 1).values
}

/// argmaxᵢ≠y zᵢ for each row: int64 [N].
func bestOtherClass(_ scores: Tensor, excluding classes: Tensor) -> Tensor {
    let mask = classes.oneHot(classCount: scores.shape[1]) .== 1.0
    return scores.filled(where: mask, with: -.infinity).argmax(alongAxis: 1)
}

/// Whether each row's prediction counts as a success of the attack: argmax ≠ y untargeted,
/// argmax = t targeted.
package func attackSucceeded(_ decision: Tensor, labels: Tensor, targets: Tensor?) -> [Bool] {
    let predictions = decision.argmax(alongAxis: 1)
    if let targets { return (predictions .== targets).scalars(as: Bool.self) }
    return (predictions .!= labels).scalars(as: Bool.self)
}
