import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// What one forward pass of an attacked model gives an attack.
public struct TargetOutput {
    /// The scores the deployed model decides by, [N, C] (logits or log-probabilities): its
    /// prediction is the argmax, and an attack succeeds by changing it.
    public let decision: Tensor
    /// The scores an attack's loss is applied to and summed over, each [N, C]: one tensor for most
    /// targets, every member's logits for ``TargetObjective/memberLosses``.
    public let lossInputs: [Tensor]
    /// An ensemble's member logits, each [N, C], for ensemble-aware attacks that weigh the members
    /// (``MORA``); empty for a single model.
    public let memberLogits: [Tensor]
    /// Whether the scores of a single loss input are log-probabilities (an averaged softmax) rather
    /// than logits.
    public let scoresAreLogProbabilities: Bool

    public init(decision: Tensor, lossInputs: [Tensor], memberLogits: [Tensor] = [], scoresAreLogProbabilities: Bool = false) {
        self.decision = decision
        self.lossInputs = lossInputs
        self.memberLogits = memberLogits
        self.scoresAreLogProbabilities = scoresAreLogProbabilities
    }
}

/// The function an attack differentiates: images in [0, 1] pixel space in, scores out.
///
/// One abstraction serves every way of attacking an ensemble (its log-averaged softmax, its
/// averaged logits, the sum of its members' losses), a single member (for the transferability
/// matrix) and surrogate models (for transfer attacks).
public protocol AttackTarget {
    /// The modules the attack puts in evaluation mode for its duration (and then restores).
    var modules: [any Module] { get }
    /// The number of classes of the scores.
    var classCount: Int { get }
    /// One forward pass; differentiable with respect to `images` when gradients are recorded.
    func forward(_ images: Tensor) -> TargetOutput
}

/// Which function of an ensemble an attack ascends.
public enum TargetObjective: Codable, Hashable, Sendable, CustomStringConvertible {
    /// log((1/M) Σ softmax(zₘ)): the log-averaged softmax.
    case probabilities
    /// (1/M) Σ zₘ: the averaged logits.
    case logits
    /// The attack's loss summed over the members' own logits, Σₘ ℓ(zₘ, y).
    case memberLosses
    /// One member's logits; that member also decides success (transferability matrix).
    case member(Int)

    /// The ensemble-aware objectives an evaluation runs by default.
    public static let ensembleAware: [TargetObjective] = [.probabilities, .logits, .memberLosses]

    /// "probabilities", "logits", "member-losses" or "member3".
    public var description: String {
        switch self {
        case .probabilities: "probabilities"
        case .logits: "logits"
        case .memberLosses: "member-losses"
        case let .member(index): "member\(index)"
        }
    }

    /// Parses ``description``; nil for anything else.
    public init?(name: String) {
        switch name {
        case "probabilities": self = .probabilities
        case "logits": self = .logits
        case "member-losses": self = .memberLosses
        default:
            guard name.hasPrefix("member"), let index = Int(name.dropFirst("member".count)), index >= 0 else { return nil }
            self = .member(index)
        }
    }

    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let objective = TargetObjective(name: name) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "unknown target '\(name)' (probabilities, logits, member-losses, memberN)"))
        }
        self = objective
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// An ensemble attacked through one of its ``TargetObjective``s. Success is always judged on the
/// ensemble's deployed output (``Ensemble/output``), except for a single-member objective, where
/// the member decides.
public struct EnsembleTarget: AttackTarget {
    /// The attacked ensemble.
    public let ensemble: Ensemble
    /// Which function of it the attack ascends.
    public let objective: TargetObjective

    /// - Precondition: a `.member(i)` objective names an existing member.
    public init(ensemble: Ensemble, objective: TargetObjective) {
        if case let .member(index) = objective {
            precondition(
                ensemble.members.indices.contains(index), "EnsembleTarget: no member \(index) in \(ensemble.members.count)")
        }
        self.ensemble = ensemble
        self.objective = objective
    }

    /// The objective matching what the ensemble deploys.
    public static func deployed(_ ensemble: Ensemble) -> EnsembleTarget {
        EnsembleTarget(ensemble: ensemble, objective: ensemble.output == .averagedLogits ? .logits : .probabilities)
    }

    public var modules: [any Module] { [ensemble] }

    public var classCount: Int { ensemble.members[0].spec.classCount }

    public func forward(_ images: Tensor) -> TargetOutput {
        if case let .member(index) = objective {
            let logits = ensemble.members[index].firstOrderLogits(images)
            return TargetOutput(decision: logits, lossInputs: [logits])
        }
        let logits = ensemble.firstOrderMemberLogits(images)
        let decision = ensemble.combine(logits)
        switch objective {
        case .probabilities:
            return TargetOutput(
                decision: decision,
                lossInputs: [ensemble.output == .averagedProbabilities ? decision : logAveragedSoftmax(logits)],
                memberLogits: logits, scoresAreLogProbabilities: true)
        case .logits:
            return TargetOutput(
                decision: decision, lossInputs: [ensemble.output == .averagedLogits ? decision : averagedLogits(logits)],
                memberLogits: logits)
        case .memberLosses, .member:
            return TargetOutput(decision: decision, lossInputs: logits, memberLogits: logits)
        }
    }
}

/// log((1/M) Σ softmax(zₘ)), stably.
func logAveragedSoftmax(_ logits: [Tensor]) -> Tensor {
    if logits.count == 1 { return logits[0].logSoftmax(alongAxis: 1) }
    let logProbabilities = Tensor.stack(logits.map { $0.logSoftmax(alongAxis: 1) }, alongAxis: 0)
    return logProbabilities.logSumExp(alongAxes: [0]) - Foundation.log(Double(logits.count))
}

/// (1/M) Σ zₘ.
func averagedLogits(_ logits: [Tensor]) -> Tensor {
    logits.count == 1 ? logits[0] : Tensor.stack(logits, alongAxis: 0).mean(alongAxis: 0)
}

extension TargetObjective: SettingValue {
    public init?(argument: String) { self.init(name: argument.lowercased()) }
    public var argument: String { description }
    public static var valueHelp: String { "<probabilities|logits|member-losses>" }
    public static var choices: [String]? { ensembleAware.map(\.description) }
}
