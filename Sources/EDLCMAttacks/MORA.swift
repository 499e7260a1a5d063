import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// MORA, the model-reweighing attack on ensembles of Yu, Gao and Xu, "MORA: Improving Ensemble
/// Robustness Evaluation with Model Reweighing Attack" (NeurIPS 2022; reference code lafeat/mora,
/// `mora_attack.py`). An ensemble's gradient is dominated by a few members, so attacks on the
/// ensemble output leave the others standing; MORA ascends a loss on a mix of the ensemble's scores
/// and the members' logits, each member weighted by how much it moves the ensemble's decision:
///
///     s(x) = (1 − λ)·E / (E_π1 − E_π2) + λ·Σₘ μₘ wₘ ẑₘ / (10⁻⁸ + Σₘ μₘ wₘ),    loss = CE(s, y)
///
/// with E the attacked scores (log-averaged softmax or averaged logits), ẑₘ = zₘ / κ the member
/// logits scaled by κ = max(1, maxₘ(zₘ,π1 − zₘ,π2)/10), and, with P̄ = (1/M) Σₘ softmax(ẑₘ),
/// pₘ = softmax(τ·zₘ) and c the class other than y that P̄ ranks highest (targeted: the target),
///
///     wₘ = pₘ,c · (pₘ,y / P̄_y + (1 − pₘ,c) / P̄_c),
///
/// which is M·∂(log P̄_c − log P̄_y)/∂zₘ,c, the sensitivity of the ensemble's log-probability margin
/// to member m's logit of c. On an averaged softmax only members that still classify x correctly
/// count (μₘ = 1 when argmax ẑₘ = y, else 0; on averaged logits μₘ = 1). The step is APGD's
/// momentum step, x ← Π(x + a(Π(x + η·sign ∇) − x) + (1 − a)(x − x_prev)), a = 0.75 (1 at the
/// first), from a random point at distance ε, with η decaying as 2ε·(1 + cos(πi/N))/2 (the cosine
/// schedule of the authors' scripts). The reference's standard version runs λ = 0.5, 0, 0.25, 0.75,
/// 1 one after another on the images still robust, then a targeted pass toward each of the 9
/// runner-up classes with λ = 0.5 (softmax) or 0 (logits), τ = 0.2 (softmax) or 0 (logits), 100
/// iterations each.
///
/// Two weightings, each a whole set of passes; by default both run, one after the other on the
/// images still robust (the worst case is their union, so running both costs time, never strength):
/// - ``MORAWeighting/formula``: wₘ is the derivative written above.
/// - ``MORAWeighting/reference``: the reference code's own arithmetic (`mora_attack.py`,
///   `get_sub_max_scale`, `get_probablity_weight` of `MORAAttack` and `MORAAttack_targeted`): the
///   ensemble's output joins the members as one more weighted output, κ looks at it too, P̄ sums
///   the members' softmaxes but divides by M + 1, c is P̄'s top class when it is not y and otherwise
///   its runner-up taken with a minus sign (pₘ,c = p_top·(1 − [top = y]) − p_second·[top = y], and the
///   same for P̄_c), and the targeted passes weigh wₘ = pₘ,c·(pₘ,y + 1 − pₘ,c) with that same c
///   rather than the target. Where the reference's ensemble output is its averaged probabilities of
///   the scaled members, ours is the attacked scores E.
public enum MORAWeighting: String, Codable, Sendable, CaseIterable {
    case formula
    case reference
}

public struct MORA: Attack {
    /// MORA's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Iterations per pass (the reference: 100).
        public var steps: Int
        /// Restarts per pass (the reference's standard version: 1).
        public var restarts: Int
        /// The mixing weights λ of the untargeted passes, in order (the reference: 0.5, 0, 0.25, 0.75, 1).
        public var mixes: [Double]
        /// Targeted passes toward this many runner-up classes of the clean output (the reference: 9; 0 for none).
        public var targetClasses: Int
        /// λ of the targeted passes; nil uses the reference's 0.5 on an averaged softmax and 0 on averaged logits.
        public var targetedMix: Double?
        /// τ, the temperature of the members' probabilities in the weights; nil uses the reference's
        /// 0.2 on an averaged softmax and 0 on averaged logits (equal weights).
        public var temperature: Double?
        /// The weightings, each running every pass, in order.
        public var weightings: [MORAWeighting]

        public init(
            steps: Int = 100, restarts: Int = 1, mixes: [Double] = [0.5, 0, 0.25, 0.75, 1], targetClasses: Int = 9,
            targetedMix: Double? = nil, temperature: Double? = nil, weightings: [MORAWeighting] = [.formula, .reference]
        ) {
            self.weightings = weightings
            self.steps = steps
            self.restarts = restarts
            self.mixes = mixes
            self.targetClasses = targetClasses
            self.targetedMix = targetedMix
            self.temperature = temperature
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "MORA" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    /// MORA picks its own target classes and succeeds by misclassification; it has no targeted goal.
    public var supportsTargeted: Bool { false }

    /// One pass: a mixing weight, for the targeted passes the loss's target classes, and the weighting.
    private struct Pass {
        let mix: Double
        let lossTargets: Tensor?
        var weighting = MORAWeighting.formula
    }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        let count = images.shape[0]
        let rowShape = Array(images.shape.dropFirst())
        let clean = withoutGradients { target.forward(images) }
        let softmaxPattern = clean.scoresAreLogProbabilities
        let temperature = c.temperature ?? (softmaxPattern ? 0.2 : 0)
        var passes = c.mixes.map { Pass(mix: $0, lossTargets: nil) }
        if c.targetClasses > 0 && target.classCount > 2 {
            let ranked = withoutGradients { Self.scores(clean).sorted(alongAxis: 1, descending: true).indices }
            for rank in 1...Swift.min(c.targetClasses, target.classCount - 1) {
                passes.append(
                    Pass(
                        mix: c.targetedMix ?? (softmaxPattern ? 0.5 : 0), lossTargets: ranked.selected(alongAxis: 1, index: rank))
                )
            }
        }
        // Every weighting runs every pass; the formula's passes keep the seed streams they had alone.
        passes = c.weightings.flatMap { weighting in
            passes.map { pass -> Pass in
                var pass = pass
                pass.weighting = weighting
                return pass
            }
        }
        let fullBall = PerturbationBall(center: images, norm: context.norm, epsilon: context.epsilon)
        var rows = [Tensor?](repeating: nil, count: count)
        var fooled = [Bool](repeating: false, count: count)

        for (passIndex, pass) in passes.enumerated() {
            for restart in 0..<c.restarts {
                guard
                    var active = ActiveExamples(
                        fooled: fooled, stopOnSuccess: context.stopOnSuccess, ball: fullBall, labels: labels,
                        targets: pass.lossTargets)
                else { break }
                // The formula's passes keep the seed streams they had alone; the reference's come after.
                let stream = passIndex % (passes.count / c.weightings.count) + (pass.weighting == .formula ? 0 : 0x100)
                var generators = exampleGenerators(
                    active.indices.map { context.seeds[$0] }, stream: 0x30A + UInt64(restart) + 0x1_0000 * UInt64(stream))
                var x = withoutGradients { () -> Tensor in
                    let center = active.ball.center
                    return
                        (center + context.norm.unitDirections(&generators, rowShape: rowShape, on: center.device)
                        * context.epsilon).clamped(
                            to: 0...1)
                }
                var previous = x
                for iteration in 0...c.steps {
                    let isFinal = iteration == c.steps
                    let (gradient, decision) = reweighedGradient(
                        x, labels: active.labels, lossTargets: active.targets, target: target, mix: pass.mix,
                        temperature: temperature,
                        masked: softmaxPattern, weighting: pass.weighting, gradient: !isFinal)
                    // Every iterate is checked; an example fooled keeps its first fooling iterate.
                    let keep = recordFirstSuccesses(
                        attackSucceeded(decision, labels: active.labels, targets: nil), at: x, active: active.indices,
                        fooled: &fooled, rows: &rows, stopOnSuccess: context.stopOnSuccess)
                    if isFinal {
                        for (row, example) in active.indices.enumerated()
                        where !(context.keepsFooledIterate && fooled[example]) {
                            rows[example] = x[row].cloned()
                        }
                        break
                    }
                    if keep.isEmpty { break }
                    var direction = gradient!
                    if keep.count < active.indices.count {
                        let kept = active.keep(keep)
                        x = x.indexSelected(alongAxis: 0, indices: kept)
                        previous = previous.indexSelected(alongAxis: 0, indices: kept)
                        direction = direction.indexSelected(alongAxis: 0, indices: kept)
                    }
                    withoutGradients {
                        let stepSize =
                            2 * context.epsilon * (1 + Foundation.cos(Double.pi * Double(iteration) / Double(c.steps))) / 2
                        let a = iteration == 0 ? 1.0 : 0.75
                        let momentum = x - previous
                        previous = x
                        let z = active.ball.project(x + context.norm.steepestAscent(direction) * stepSize)
                        x = active.ball.project(x + (z - x) * a + momentum * (1 - a))
                    }
                }
            }
        }
        return Tensor.stack(rows.enumerated().map { $0.element ?? images[$0.offset] }, alongAxis: 0)
    }

    /// The attacked scores E: the single loss input, or the decision for a member-losses target.
    private static func scores(_ output: TargetOutput) -> Tensor {
        output.lossInputs.count == 1 ? output.lossInputs[0] : output.decision
    }

    /// The gradient of MORA's loss at `images` (nil when not asked for) and the decision scores.
    private func reweighedGradient(
        _ images: Tensor, labels: Tensor, lossTargets: Tensor?, target: any AttackTarget, mix: Double, temperature: Double,
        masked: Bool, weighting: MORAWeighting, gradient: Bool
    ) -> (Tensor?, Tensor) {
        guard gradient else { return (nil, withoutGradients { target.forward(images).decision }) }
        return withGradients {
            let input = images.detached().requiringGrad()
            let output = target.forward(input)
            let mixed = Self.mixedScores(
                scores: Self.scores(output), members: output.memberLogits, labels: labels, lossTargets: lossTargets,
                mix: mix, temperature: temperature, masked: masked, weighting: weighting)
            let loss =
                lossTargets.map { -Torch.crossEntropy(logits: mixed, labels: $0, reduction: .none) }
                ?? Torch.crossEntropy(logits: mixed, labels: labels, reduction: .none)
            return (grad(of: loss.sum(), withRespectTo: input), output.decision.detached())
        }
    }

    /// MORA's mixed scores s = (1 − λ)·E/(E_π1 − E_π2) + λ·Σ μ w ẑ / (10⁻⁸ + Σ μ w), the weights
    /// (and κ) held constant; over the members (formula) or the members and E (reference).
    static func mixedScores(
        scores: Tensor, members: [Tensor], labels: Tensor, lossTargets: Tensor?, mix: Double, temperature: Double,
        masked: Bool, weighting: MORAWeighting
    ) -> Tensor {
        var mixed = scores / withoutGradients { topTwoGap(scores).clamped(min: 1e-12).unsqueezed(axis: 1) } * (1 - mix)
        guard mix > 0, !members.isEmpty else { return mixed }
        let outputs = weighting == .formula ? members : members + [scores]
        let (scale, weights) = withoutGradients {
            weighting == .formula
                ? memberWeights(
                    outputs.map { $0.detached() }, labels: labels, lossTargets: lossTargets, temperature: temperature,
                    masked: masked)
                : referenceWeights(
                    outputs.map { $0.detached() }, labels: labels, targeted: lossTargets != nil, temperature: temperature,
                    masked: masked)
        }
        var weighted = outputs[0] / scale * weights[0].unsqueezed(axis: 1)
        for (output, weight) in zip(outputs, weights).dropFirst() {
            weighted = weighted + output / scale * weight.unsqueezed(axis: 1)
        }
        let total = weights.dropFirst().reduce(weights[0], +) + 1e-8
        mixed = mixed + weighted / total.unsqueezed(axis: 1) * mix
        return mixed
    }
}

extension MORA {
    /// The members' logit scale κ ([N, 1]) and weights μₘwₘ (each [N]) for member logits `members`.
    ///
    /// - Parameters:
    ///   - lossTargets: the targeted passes' classes c; nil takes the class other than y that P̄ ranks highest.
    ///   - masked: zero the weight of members that no longer classify the example correctly.
    static func memberWeights(_ members: [Tensor], labels: Tensor, lossTargets: Tensor?, temperature: Double, masked: Bool)
        -> (scale: Tensor, weights: [Tensor])
    {
        let largestGap = Tensor.stack(members.map(topTwoGap), alongAxis: 0).max(alongAxis: 0).values
        let scale = `where`(largestGap .> 10.0, largestGap / 10, largestGap.onesLike()).unsqueezed(axis: 1)
        let scaled = members.map { $0 / scale }
        let averaged = Tensor.stack(scaled.map { $0.softmax(alongAxis: 1) }, alongAxis: 0).mean(alongAxis: 0)
        let other = lossTargets ?? bestOtherClass(averaged, excluding: labels)
        let weights = zip(members, scaled).map { member, memberScaled -> Tensor in
            let p = (member * temperature).softmax(alongAxis: 1)
            let pc = classScore(p, other)
            let weight = pc * (classScore(p, labels) / classScore(averaged, labels) + (1 - pc) / classScore(averaged, other))
            guard masked else { return weight }
            return weight * (memberScaled.argmax(alongAxis: 1) .== labels).converted(to: .float32)
        }
        return (scale, weights)
    }
}

extension MORA {
    /// The reference code's scale κ ([N, 1]) and weights μw (each [N]) for `outputs`, the members'
    /// logits followed by the ensemble's output (``MORAWeighting/reference``).
    static func referenceWeights(_ outputs: [Tensor], labels: Tensor, targeted: Bool, temperature: Double, masked: Bool)
        -> (scale: Tensor, weights: [Tensor])
    {
        let largestGap = Tensor.stack(outputs.map(topTwoGap), alongAxis: 0).max(alongAxis: 0).values
        let scale = `where`(largestGap .> 10.0, largestGap / 10, largestGap.onesLike()).unsqueezed(axis: 1)
        let scaled = outputs.map { $0 / scale }
        // Σ over the members only (the reference's range(sub_output − 1)), divided by M + 1.
        let averaged =
            scaled.dropLast().dropFirst().reduce(scaled[0].softmax(alongAxis: 1)) { $0 + $1.softmax(alongAxis: 1) }
            / Double(outputs.count)
        let ranked = averaged.sorted(alongAxis: 1, descending: true).indices
        let (top, second) = (ranked.selected(alongAxis: 1, index: 0), ranked.selected(alongAxis: 1, index: 1))
        let onTop = (top .== labels).converted(to: .float32)
        // The reference's "c": the top class unless it is y, else minus the runner-up.
        func c(_ p: Tensor) -> Tensor { classScore(p, top) * (1 - onTop) - classScore(p, second) * onTop }
        let weights = zip(outputs, scaled).map { output, outputScaled -> Tensor in
            let p = (output * temperature).softmax(alongAxis: 1)
            let pc = c(p)
            let weight =
                targeted
                ? pc * (classScore(p, labels) + 1 - pc)
                : pc * (classScore(p, labels) / classScore(averaged, labels) + (1 - pc) / c(averaged))
            guard masked else { return weight }
            return weight * (outputScaled.argmax(alongAxis: 1) .== labels).converted(to: .float32)
        }
        return (scale, weights)
    }
}

/// z_π1 − z_π2, the gap between each row's two largest scores: [N].
func topTwoGap(_ scores: Tensor) -> Tensor {
    let top = scores.topK(2, alongAxis: 1).values
    return top.selected(alongAxis: 1, index: 0) - top.selected(alongAxis: 1, index: 1)
}

extension MORA.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "MORA")
        try check("steps", steps, .atLeast(1))
        try check("restarts", restarts, .atLeast(1))
        try check("target classes", targetClasses, .atLeast(0))
        guard !mixes.isEmpty || targetClasses > 0 else {
            throw EDLCMError("MORA: needs at least one mixing weight or target class")
        }
        for mix in mixes + (targetedMix.map { [$0] } ?? []) { try check("mixing weights", mix, .probability) }
        if let temperature { try check("temperature", temperature, .nonNegative) }
        guard !weightings.isEmpty else { throw EDLCMError("MORA: needs at least one weighting") }
    }
}
