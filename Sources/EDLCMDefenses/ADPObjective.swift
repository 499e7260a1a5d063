import EDLCMCore
import EDLCMData
import EDLCMModels
import Foundation
import Torch

/// The settings of ADP.
public struct ADPOptions: Codable, Equatable, Sendable {
    /// α: weight of the ensemble entropy H.
    public var alpha: Double
    /// β: weight of the log-determinant (the ensemble diversity).
    public var beta: Double
    /// ε in log det(G + εI), which keeps the log finite when two members agree exactly.
    public var determinantOffset: Double

    public init(alpha: Double, beta: Double, determinantOffset: Double = 1e-6) {
        self.alpha = alpha
        self.beta = beta
        self.determinantOffset = determinantOffset
    }
}

/// ADP, the adaptive diversity promoting regulariser: Pang, Xu, Du, Chen and Zhu, "Improving
/// Adversarial Robustness via Promoting Ensemble Diversity", ICML 2019: the paper's
/// L_ADP = L_ECE − α·H(F) − β·log(ED), with ED = det(M̃ᵀM̃), here
///
///     L = Σₘ CE(zₘ, y) − α·H(p̄) − β·log det(M̃ᵀM̃ + εI)
///     p̄ = (1/M) Σₘ pₘ,   pₘ = softmax(zₘ),   H(p) = −Σₖ pₖ·log(pₖ + 10⁻²⁰)
///     M̃ = (p̃₁, …, p̃_M) ∈ ℝ^{(K−1)×M},   p̃ₘ = pₘ^{∖y} / ‖pₘ^{∖y}‖₂
///
/// where pₘ^{∖y} is member m's probability vector with the true class removed (the paper's
/// "non-maximal predictions"), so M̃ᵀM̃ is the Gram matrix of the members' unit non-true-class
/// predictions and its determinant the squared volume they span. H and log det are computed per
/// example and averaged over the batch; ε = 10⁻⁶ and the 10⁻²⁰ offset are those of the authors'
/// code. Defaults (the paper's ADP₂,₀.₅): α = 2, β = 0.5.
///
/// Logged terms: `ce` (weight 1), `entropy` (H, weight −α) and `log_det` (weight −β).
public struct ADPObjective: EnsembleObjective {
    public let options: ADPOptions

    public init(options: ADPOptions) {
        self.options = options
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let logits = ensemble.memberLogits(batch.images)
        let (entropy, logDeterminant) = diversity(logits: logits, labels: batch.labels)
        let terms = [
            LossTerm(name: "ce", value: memberCrossEntropySum(logits, batch.labels)),
            LossTerm(name: "entropy", value: entropy, weight: -options.alpha),
            LossTerm(name: "log_det", value: logDeterminant, weight: -options.beta),
        ]
        return ObjectiveOutput(terms: terms, memberLogits: logits)
    }

    /// The batch means of H(p̄) and log det(M̃ᵀM̃ + εI) for the members' logits.
    func diversity(logits: [Tensor], labels: Tensor) -> (entropy: Tensor, logDeterminant: Tensor) {
        let batchSize = labels.shape[0]
        let classCount = logits[0].shape[1]
        let probabilities = logits.map { $0.softmax(alongAxis: 1) }
        let mean = sumOfTensors(probabilities) / Double(probabilities.count)
        let entropy = -(mean * (mean + 1e-20).log()).sum(alongAxis: 1).mean()
        let nonTrue = labels.oneHot(classCount: classCount) .== 0
        let predictions = Tensor.stack(
            probabilities.map { $0.masked(by: nonTrue).reshaped(to: [batchSize, classCount - 1]) }, alongAxis: 1)
        let unit = predictions / predictions.norm(p: 2, alongAxes: [2], keepingDims: true).clamped(min: 1e-12)
        let identity = Tensor.eye(logits.count, dtype: unit.dtype, on: unit.device).unsqueezed(axis: 0)
        let gram = unit.matmul(unit.transposed(1, 2)) + identity * options.determinantOffset
        return (entropy, gram.logDeterminant().mean())
    }
}
