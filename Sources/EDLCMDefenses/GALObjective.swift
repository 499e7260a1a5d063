import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// GAL, the gradient alignment loss: Kariyappa and Qureshi, "Improving Adversarial Robustness of
/// Ensembles with Diversity Training", arXiv 1901.09981, 2019:
///
///     L = (1/M) Σₘ CE(zₘ, y) + λ·mean_b log Σ_{i<j} exp(cos(gᵢ(x_b), gⱼ(x_b)))
///
/// with gₘ(x_b) = ∇ₓℓₘ the per-example input gradient of member m's summed cross-entropy (see
/// ``HessianProbe/inputGradients(of:at:labels:createGraph:)``), kept in the graph (double
/// backpropagation). The log-sum-exp is a smooth maximum of the pairwise gradient cosines, so
/// minimising it misaligns the most aligned pair; it is computed per example, as in the reference
/// implementation in the DVERGE repository, and averaged over the batch. Default λ = 0.5.
///
/// Logged terms: `ce` (Σₘ CE, weight 1/M, so the logged value is comparable across methods) and
/// `coherence` (the log-sum-exp, weight λ).
public struct GALObjective: EnsembleObjective {
    /// λ: weight of the coherence term.
    public let lambda: Double

    public init(lambda: Double) {
        self.lambda = lambda
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let weight = 1 / Double(ensemble.members.count)
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
            LossTerm(name: "coherence", value: Self.coherence(gradients), weight: lambda),
        ]
        return ObjectiveOutput(terms: terms, memberLogits: logits)
    }

    /// mean_b log Σ_{i<j} exp(cos(gᵢ(x_b), gⱼ(x_b))) for per-example gradients (at least two).
    static func coherence(_ gradients: [Tensor]) -> Tensor {
        var cosines: [Tensor] = []
        for i in 0..<gradients.count {
            for j in (i + 1)..<gradients.count { cosines.append(exampleCosines(gradients[i], gradients[j])) }
        }
        precondition(!cosines.isEmpty, "GAL needs at least two members")
        return Tensor.stack(cosines, alongAxis: 1).logSumExp(alongAxes: [1]).mean()
    }
}
