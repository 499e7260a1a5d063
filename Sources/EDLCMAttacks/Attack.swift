import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// How one call of an attack is set up: the threat model, the goal and the randomness.
public struct AttackContext {
    /// The radius of the ε-ball, in [0, 1] pixel units (L∞) or pixel-space Euclidean length (L2).
    public var epsilon: Double
    /// The threat model.
    public var norm: PerturbationNorm
    /// Target classes (int64 [N]) for a targeted attack; nil for an untargeted one.
    public var targets: Tensor?
    /// One seed per example: every random choice for example i comes from `seeds[i]`.
    public var seeds: [UInt64]
    /// Stop attacking an example as soon as one iterate succeeds (and keep that iterate), which
    /// saves work in robustness evaluation; transfer crafting turns it off to keep ascending.
    public var stopOnSuccess: Bool
    /// What an example that succeeded at some iterate returns when the attack goes on
    /// (`stopOnSuccess` off): that iterate (robustness evaluation: every success counts), or, when
    /// false, the final or highest-loss point (crafting on a surrogate or on one member, where the
    /// example should transfer, not barely cross this model's boundary).
    public var keepsFirstSuccess: Bool

    public init(
        epsilon: Double, norm: PerturbationNorm, targets: Tensor? = nil, seeds: [UInt64], stopOnSuccess: Bool = true,
        keepsFirstSuccess: Bool = true
    ) {
        self.epsilon = epsilon
        self.norm = norm
        self.targets = targets
        self.seeds = seeds
        self.stopOnSuccess = stopOnSuccess
        self.keepsFirstSuccess = keepsFirstSuccess
    }

    /// Whether an example fooled at some iterate keeps that iterate.
    var keepsFooledIterate: Bool { stopOnSuccess || keepsFirstSuccess }

    /// Whether the attack is targeted.
    public var isTargeted: Bool { targets != nil }
}

/// What an attack returns: adversarial images inside the ε-ball and [0, 1], and which of them
/// succeed against the target's decision.
public struct AttackOutput {
    /// The adversarial images, [N, C, H, W], inside the ε-ball and [0, 1].
    public let adversarial: Tensor
    /// Per image, whether the target's decision on it is fooled.
    public let success: [Bool]
}

/// An adversarial attack in [0, 1] pixel space.
///
/// Each attack is a small type with a `Configuration` whose defaults come from its paper. Callers
/// use ``perturb(_:labels:target:context:)``, which validates the request (an unsupported norm
/// or goal throws ``EDLCMError``, never returning clean inputs), puts the target's modules in
/// evaluation mode and restores them, projects the result onto the ε-ball and [0, 1] and judges
/// success on the target's decision. Types implement ``run(_:labels:target:context:)``.
/// An attack's settings: decodable from JSON, with a check of every field.
public protocol AttackConfiguration: Codable, Sendable, Equatable {
    /// Checks every field.
    ///
    /// - Throws: ``EDLCMError`` naming the attack and the bad field.
    func validate() throws
}

public protocol Attack: Sendable {
    associatedtype Configuration: AttackConfiguration
    /// The attack's settings.
    var configuration: Configuration { get }
    /// The name used in messages ("PGD", "APGD-DLR").
    var displayName: String { get }
    /// The threat models the attack is defined for.
    var supportedNorms: Set<PerturbationNorm> { get }
    /// Whether a targeted version is defined.
    var supportsTargeted: Bool { get }
    /// Whether the attack reads gradients (false for score-based black-box attacks).
    var usesGradients: Bool { get }
    /// The fewest classes the attack is defined for.
    func minimumClassCount(targeted: Bool) -> Int
    /// The attack proper, after validation, with the target in evaluation mode. The result
    /// must lie in the ε-ball and [0, 1]; ``perturb(_:labels:target:context:)`` projects it again.
    func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor
}

extension Attack {
    public var supportsTargeted: Bool { true }
    public var usesGradients: Bool { true }
    public func minimumClassCount(targeted: Bool) -> Int { 2 }

    /// Checks that the attack is defined for this request.
    ///
    /// - Throws: ``EDLCMError`` for a negative or non-finite ε, an unsupported norm, a targeted
    ///   request to an untargeted-only attack, too few classes, or mismatched sizes.
    public func validate(_ context: AttackContext, target: any AttackTarget, count: Int) throws {
        guard context.epsilon.isFinite, context.epsilon >= 0 else {
            throw EDLCMError("\(displayName): ε must be a finite number ≥ 0, got \(context.epsilon)")
        }
        guard supportedNorms.contains(context.norm) else {
            let supported = PerturbationNorm.allCases.filter(supportedNorms.contains).map(\.rawValue).joined(separator: ", ")
            throw EDLCMError("\(displayName) is not defined for the \(context.norm.rawValue) threat model (only \(supported))")
        }
        if context.isTargeted, !supportsTargeted {
            throw EDLCMError("\(displayName) has no targeted version; run it untargeted")
        }
        let needed = minimumClassCount(targeted: context.isTargeted)
        guard target.classCount >= needed else {
            throw EDLCMError(
                "\(displayName)\(context.isTargeted ? " (targeted)" : "") needs at least \(needed) classes, the model has \(target.classCount)"
            )
        }
        guard context.seeds.count == count else {
            throw EDLCMError("\(displayName): \(context.seeds.count) seeds for \(count) images (one per image)")
        }
        if let targets = context.targets, targets.shape != [count] {
            throw EDLCMError("\(displayName): target classes of shape \(targets.shape) for \(count) images")
        }
    }

    /// Attacks `images` (float32 [N, C, H, W] in [0, 1]) with true `labels` (int64 [N]).
    ///
    /// - Returns: adversarial images within ε of `images` in the context's norm and inside
    ///   [0, 1], and per image whether the target's decision is fooled (argmax ≠ label, or
    ///   = target class when targeted).
    /// - Throws: ``EDLCMError`` when the request is invalid (see ``validate(_:target:count:)``) or
    ///   the images leave [0, 1].
    public func perturb(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) throws -> AttackOutput
    {
        guard images.rank >= 2, labels.shape == [images.shape[0]] else {
            throw EDLCMError("\(displayName): \(labels.shape) labels for images of shape \(images.shape)")
        }
        let count = images.shape[0]
        try configuration.validate()
        try validate(context, target: target, count: count)
        if count == 0 { return AttackOutput(adversarial: images, success: []) }
        let range = withoutGradients { (images.min().item(), images.max().item()) }
        guard range.0 >= 0, range.1 <= 1 else {
            throw EDLCMError("\(displayName): images must lie in [0, 1] pixel space, got values in [\(range.0), \(range.1)]")
        }
        return withEvaluationMode(of: target) {
            let raw = run(images, labels: labels, target: target, context: context)
            return withoutGradients {
                let adversarial = PerturbationBall(center: images, norm: context.norm, epsilon: context.epsilon).project(
                    raw.detached())
                let success = attackSucceeded(target.forward(adversarial).decision, labels: labels, targets: context.targets)
                return AttackOutput(adversarial: adversarial, success: success)
            }
        }
    }

    /// The configuration as JSON, for results that record the exact settings.
    public func configurationJSON() -> JSONValue {
        JSONValue(encoding: configuration)
    }
}

/// Runs `body` with every module of `target` in evaluation mode, then restores each module's
/// previous mode (recursively, as ``Module/setTraining(_:)`` sets it).
package func withEvaluationMode<Result>(of target: any AttackTarget, _ body: () throws -> Result) rethrows -> Result {
    let modules = target.modules
    let previous = modules.map(\.isTraining)
    for module in modules { module.eval() }
    defer { for (module, mode) in zip(modules, previous) { module.setTraining(mode) } }
    return try body()
}

/// The loss, its input gradient and the decision at one point.
package struct LossEvaluation {
    /// Per-example loss [N], detached.
    let loss: Tensor
    /// ∂(Σ loss)/∂x, or nil when not asked for.
    package let gradient: Tensor?
    /// The target's decision scores [N, C], detached.
    let decision: Tensor
}

/// Evaluates `loss` (summed over the target's loss inputs) at `images`, optionally through a
/// differentiable input transform, with or without the input gradient.
package func evaluateLoss(
    _ images: Tensor, labels: Tensor, targets: Tensor?, target: any AttackTarget, loss: AttackLoss,
    confidence: Double = .infinity, transform: ((Tensor) -> Tensor)? = nil, gradient: Bool = true
) -> LossEvaluation {
    func total(_ output: TargetOutput) -> Tensor {
        let values = output.lossInputs.map { loss.values($0, labels: labels, targets: targets, confidence: confidence) }
        return values.dropFirst().reduce(values[0], +)
    }
    guard gradient else {
        return withoutGradients {
            let output = target.forward(transform?(images) ?? images)
            return LossEvaluation(loss: total(output), gradient: nil, decision: output.decision)
        }
    }
    return withGradients {
        let input = images.detached().requiringGrad()
        let output = target.forward(transform?(input) ?? input)
        let values = total(output)
        let inputGradient = grad(of: values.sum(), withRespectTo: input)
        return LossEvaluation(loss: values.detached(), gradient: inputGradient, decision: output.decision.detached())
    }
}

/// The examples one restart of an iterative attack still works on, with their balls, labels and
/// targets, narrowed together as examples are fooled.
struct ActiveExamples {
    /// Row r is example `indices[r]` of the batch.
    private(set) var indices: [Int]
    private(set) var ball: PerturbationBall
    private(set) var labels: Tensor
    private(set) var targets: Tensor?

    /// The examples of the batch not yet fooled (every one unless `stopOnSuccess`); nil when none is left.
    init?(fooled: [Bool], stopOnSuccess: Bool, ball: PerturbationBall, labels: Tensor, targets: Tensor?) {
        indices = fooled.indices.filter { !(stopOnSuccess && fooled[$0]) }
        if indices.isEmpty { return nil }
        let selection = Tensor(indices.map(Int64.init), on: labels.device)
        self.ball = ball.selecting(selection)
        self.labels = labels.indexSelected(alongAxis: 0, indices: selection)
        self.targets = targets?.indexSelected(alongAxis: 0, indices: selection)
    }

    /// Keeps the rows `keep` (positions, as ``recordFirstSuccesses`` returns them) and returns them
    /// as an index tensor, for the caller's own per-row tensors.
    mutating func keep(_ keep: [Int]) -> Tensor {
        let kept = Tensor(keep.map(Int64.init), on: labels.device)
        indices = keep.map { indices[$0] }
        ball = ball.selecting(kept)
        labels = labels.indexSelected(alongAxis: 0, indices: kept)
        targets = targets?.indexSelected(alongAxis: 0, indices: kept)
        return kept
    }
}

/// The first-success bookkeeping of the iterative attacks: marks the examples that `success` says
/// are fooled at iterate `x` (row r is example `active[r]`), keeping their first fooling iterate in
/// `rows`, and returns the rows to go on attacking (without the fooled ones when `stopOnSuccess`).
func recordFirstSuccesses(
    _ success: [Bool], at x: Tensor, active: [Int], fooled: inout [Bool], rows: inout [Tensor?], stopOnSuccess: Bool
) -> [Int] {
    var keep: [Int] = []
    for (row, succeeded) in success.enumerated() {
        let example = active[row]
        if succeeded && !fooled[example] {
            fooled[example] = true
            rows[example] = x[row].cloned()
        }
        if !(stopOnSuccess && fooled[example]) { keep.append(row) }
    }
    return keep
}

/// The checks of an attack's settings: `check("steps", steps, .atLeast(1))` throws an
/// ``EDLCMError`` "ATTACK: steps must be at least 1, got 0" when the value breaks its rule.
struct SettingChecks {
    let attack: String

    func callAsFunction<Value>(_ name: String, _ value: Value, _ check: Check<Value>) throws {
        if let problem = check.problem(value) { throw EDLCMError("\(attack): \(name) \(problem), got \(value)") }
    }
}
