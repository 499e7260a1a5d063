import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// How an objective combines its members' cross-entropies.
public enum CrossEntropyReduction: String, SettingChoice {
    /// Σₘ CE(zₘ, y), as every method here trains.
    case sum
    /// (1/M) Σₘ CE(zₘ, y).
    case mean
}

/// GAL, the gradient alignment loss: Kariyappa and Qureshi, "Improving Adversarial Robustness of
/// Ensembles with Diversity Training", arXiv 1901.09981, 2019:
///
///     L = Σₘ CE(zₘ, y) + λ·mean_b log Σ_{i<j} exp(cos(gᵢ(x_b), gⱼ(x_b)))
///
/// with gₘ(x_b) = ∇ₓℓₘ the per-example input gradient of member m's summed cross-entropy (see
/// ``HessianProbe/inputGradients(of:at:labels:createGraph:)``), kept in the graph (double
/// backpropagation). The log-sum-exp is a smooth maximum of the pairwise gradient cosines, so
/// minimising it misaligns the most aligned pair; it is computed per example, as in the reference
/// implementation in the DVERGE repository, and averaged over the batch. Default λ = 0.5. As in that
/// code, the cosines are by default those of the batch-mean loss's gradients gₘ/B with PyTorch's
/// eps 10⁻⁸ (``InputGradientScale/batchMean``), per-example ones as an option.
///
/// The cross-entropies are summed over the members as every other method here sums them, so that
/// under SGD GAL takes the same step on them; the DVERGE repository's train_gal.py (line 111)
/// averages them, `ce_loss / len(self.models)`, under Adam, which is ``CrossEntropyReduction/mean``
/// (equivalent to the sum with λ·M and the learning rate over M).
///
/// Logged terms: `ce` (Σₘ CE, weight 1, or 1/M when averaged, so the logged value is comparable
/// across methods) and `coherence` (the log-sum-exp, weight λ).
public struct GALObjective: EnsembleObjective {
    /// λ: weight of the coherence term.
    public let lambda: Double
    /// Whether the members' cross-entropies are summed or averaged.
    public let crossEntropy: CrossEntropyReduction
    /// The gradients the cosines are computed from (the reference code's batch-mean ones by default).
    public let gradients: InputGradientScale

    public init(lambda: Double, crossEntropy: CrossEntropyReduction = .sum, gradients: InputGradientScale = .batchMean) {
        self.lambda = lambda
        self.crossEntropy = crossEntropy
        self.gradients = gradients
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let weight = crossEntropy == .sum ? 1 : 1 / Double(ensemble.members.count)
        guard lambda != 0 else {
            let logits = ensemble.memberLogits(batch.images)
            return ObjectiveOutput(
                terms: [LossTerm(name: "ce", value: memberCrossEntropySum(logits, batch.labels), weight: weight)],
                memberLogits: logits)
        }
        let input = batch.images.detached().requiringGrad()
        let (logits, gradients) = HessianProbe.inputGradients(
            of: ensemble.members, at: input, labels: batch.labels, createGraph: true)
        let terms = [
            LossTerm(name: "ce", value: memberCrossEntropySum(logits, batch.labels), weight: weight),
            LossTerm(
                name: "coherence", value: Self.coherence(self.gradients.scaled(gradients), eps: self.gradients.cosineEps),
                weight: lambda),
        ]
        return ObjectiveOutput(terms: terms, memberLogits: logits)
    }

    /// mean_b log Σ_{i<j} exp(cos(gᵢ(x_b), gⱼ(x_b))) for per-example gradients (at least two).
    static func coherence(_ gradients: [Tensor], eps: Double = 1e-12) -> Tensor {
        var cosines: [Tensor] = []
        for i in 0..<gradients.count {
            for j in (i + 1)..<gradients.count { cosines.append(exampleCosines(gradients[i], gradients[j], eps: eps)) }
        }
        precondition(!cosines.isEmpty, "GAL needs at least two members")
        return Tensor.stack(cosines, alongAxis: 1).logSumExp(alongAxes: [1]).mean()
    }
}
