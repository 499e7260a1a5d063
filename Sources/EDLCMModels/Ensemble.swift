import EDLCMCore
import EDLCMData
import Foundation
import Torch

/// How an ensemble combines its members' outputs.
public enum EnsembleOutput: String, SettingChoice {
    /// log((1/M) Σ softmax(zₘ)): the log of the averaged probabilities (the DVERGE and TRS convention).
    case averagedProbabilities = "probabilities"
    /// (1/M) Σ zₘ: the averaged logits.
    case averagedLogits = "logits"
}

/// M member classifiers that vote together; members are named `member0`, `member1`, ….
public final class Ensemble: Layer {
    public let members: [any Classifier]
    public var output: EnsembleOutput
    public var isTraining = true

    /// Creates an ensemble from members (at least one; the trainer requires two or more).
    public init(members: [any Classifier], output: EnsembleOutput = .averagedProbabilities) {
        precondition(!members.isEmpty, "Ensemble: no members")
        self.members = members
        self.output = output
    }

    /// Builds `count` freshly initialised members from one spec.
    public convenience init(spec: ModelSpec, count: Int, output: EnsembleOutput = .averagedProbabilities) {
        self.init(members: (0..<count).map { _ in spec.makeNetwork() }, output: output)
    }

    public var children: [(name: String, module: any Module)] {
        members.enumerated().map { ("member\($0.offset)", $0.element) }
    }

    /// Each member's logits for the same input.
    public func memberLogits(_ input: Tensor) -> [Tensor] {
        members.map { $0(input) }
    }

    /// Each member's logits, for passes differentiated at most once: each member gets the input
    /// in the layout it prefers (``Classifier/prefersChannelsLast``).
    public func firstOrderMemberLogits(_ input: Tensor) -> [Tensor] {
        members.map { $0.firstOrderLogits(input) }
    }

    /// Combines member logits as ``output`` says.
    public func combine(_ logits: [Tensor]) -> Tensor {
        switch output {
        case .averagedProbabilities:
            return averagedLogProbabilities(logits)
        case .averagedLogits:
            return Tensor.stack(logits, alongAxis: 0).mean(alongAxis: 0)
        }
    }

    /// The ensemble's output: log-probabilities (for `averagedProbabilities`) or logits.
    public func callAsFunction(_ input: Tensor) -> Tensor {
        combine(memberLogits(input))
    }
}

/// log((1/M) Σₘ softmax(zₘ)): the log of the members' averaged probabilities, [B, K].
package func averagedLogProbabilities(_ logits: [Tensor]) -> Tensor {
    Tensor.stack(logits.map { $0.logSoftmax(alongAxis: 1) }, alongAxis: 0).logSumExp(alongAxes: [0])
        - Foundation.log(Double(logits.count))
}
