import EDLCMCore
import EDLCMData
import EDLCMModels
import Foundation
import Torch

/// One named term of a training loss: its unweighted value and its weight in the total.
public struct LossTerm {
    /// The name logged in metrics.jsonl (`ce`, `curvature`, `dispersion`, …).
    public let name: String
    /// The term's value, a 0-dimensional tensor connected to the graph.
    public let value: Tensor
    /// Its weight in the total loss.
    public let weight: Double

    public init(name: String, value: Tensor, weight: Double = 1) {
        self.name = name
        self.value = value
        self.weight = weight
    }
}

/// What an objective computed on one batch.
public struct ObjectiveOutput {
    /// The terms; the total is Σ weight·value.
    public let terms: [LossTerm]
    /// Each member's logits on the batch it was given, for the training accuracy (under
    /// adversarial training that batch is the adversarial one).
    public let memberLogits: [Tensor]

    public init(terms: [LossTerm], memberLogits: [Tensor]) {
        self.terms = terms
        self.memberLogits = memberLogits
    }

    /// Σ weight·value over the terms (terms with weight 0 are left out of the graph).
    public var total: Tensor {
        let active = terms.filter { $0.weight != 0 }
        guard let first = active.first else { return terms[0].value * 0 }
        return active.dropFirst().reduce(first.value * first.weight) { $0 + $1.value * $1.weight }
    }
}

/// Where training stands, for objectives whose weights or step sizes warm up.
public struct TrainingContext: Sendable {
    /// 0-based epoch.
    public let epoch: Int
    public let totalEpochs: Int
    /// 0-based batch within the epoch.
    public let step: Int
    public let stepsPerEpoch: Int

    public init(epoch: Int, totalEpochs: Int, step: Int, stepsPerEpoch: Int) {
        self.epoch = epoch
        self.totalEpochs = totalEpochs
        self.step = step
        self.stepsPerEpoch = stepsPerEpoch
    }

    /// Training progress in [0, 1): epochs completed plus the fraction of this one.
    public var progress: Double {
        (Double(epoch) + Double(step) / Double(max(stepsPerEpoch, 1))) / Double(max(totalEpochs, 1))
    }
}

/// A training loss for an ensemble: one type per defense, returning named, weighted terms that the
/// trainer logs without knowing the method.
public protocol EnsembleObjective {
    /// Computes the loss terms on one batch; the ensemble is in training mode.
    func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput

    /// Whether every batch must carry ``Batch/pairedImages`` (an independently shuffled second
    /// batch). False unless the objective says otherwise.
    var needsPairedImages: Bool { get }

    /// The settings the objective derives for one epoch (DVERGE's feature layer, TRS's radius),
    /// recorded with the epoch's metrics. Empty unless the objective has any.
    func epochSettings(epoch: Int, totalEpochs: Int, ensemble: Ensemble) -> [String: Double]

    /// Computes the loss and adds the gradient of its total to every parameter's `grad` (which the
    /// caller has zeroed): the training step's forward and backward pass. The default runs
    /// ``loss(ensemble:batch:context:)`` and one backward pass of the total into the parameters
    /// (``Layer/backpropagate(_:)``: input leaves of gradient penalties get nothing); an objective whose
    /// members' graphs are independent may backpropagate member by member instead, so that only
    /// one member's graph is held at a time (same gradients, less peak memory). The returned terms
    /// and logits are for logging; they may be detached.
    func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput
}

extension EnsembleObjective {
    public var needsPairedImages: Bool { false }

    public func epochSettings(epoch: Int, totalEpochs: Int, ensemble: Ensemble) -> [String: Double] { [:] }

    public func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let output = loss(ensemble: ensemble, batch: batch, context: context)
        ensemble.backpropagate(output.total)
        return output
    }
}

/// The plain ensemble: Σₘ CE(zₘ, y), each member trained independently on the same batches.
public struct BaselineObjective: EnsembleObjective {
    public init() {}

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let logits = ensemble.firstOrderMemberLogits(batch.images)
        return ObjectiveOutput(
            terms: [LossTerm(name: "ce", value: memberCrossEntropySum(logits, batch.labels))], memberLogits: logits)
    }

    /// The members' losses are independent, so each member's graph is built, backpropagated and
    /// freed before the next member's: the same gradients as one backward pass of the sum (each
    /// parameter belongs to one member), with one member's activations held instead of all.
    public func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        var losses: [Tensor] = [], logits: [Tensor] = []
        for member in ensemble.members {
            let memberLogits = member.firstOrderLogits(batch.images)
            let loss = crossEntropy(logits: memberLogits, labels: batch.labels)
            member.backpropagate(loss)
            losses.append(loss.detached())
            logits.append(memberLogits.detached())
        }
        return ObjectiveOutput(terms: [LossTerm(name: "ce", value: sumOfTensors(losses))], memberLogits: logits)
    }
}

/// Σₘ mean-over-batch CE(zₘ, y).
func memberCrossEntropySum(_ logits: [Tensor], _ labels: Tensor) -> Tensor {
    sumOfTensors(logits.map { crossEntropy(logits: $0, labels: labels) })
}

/// The sum of one or more tensors of the same shape.
func sumOfTensors(_ tensors: [Tensor]) -> Tensor {
    precondition(!tensors.isEmpty, "sumOfTensors: no tensors")
    return tensors.dropFirst().reduce(tensors[0], +)
}
