import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// The targeted Fast Adaptive Boundary attack (FAB-T) of Croce and Hein, "Minimally Distorted
/// Adversarial Examples with a Fast Adaptive Boundary Attack" (ICML 2020), as AutoAttack's standard
/// version runs it: a minimum-norm attack that walks to the decision boundary by projections onto
/// linearisations of it.
///
/// For each of `targetClasses` classes t ranked 2, 3, … in the attacked model's output on the clean
/// image x₀, and each restart (the first from x₀, later ones from a random point at distance ε/2),
/// FAB iterates from x¹: with f = z_t − z_y (summed over the target's loss inputs) and w = ∇ₓf, the
/// boundary is linearised as the hyperplane π = {x' : w·x' = w·x¹ − f(x¹)}; d₁ and d₂ are the
/// minimal-norm steps that move x¹ and x₀ onto π inside the [0, 1] box (exact projections, L∞ or L2),
/// α = min(max(‖d₁‖/(‖d₁‖ + ‖d₂‖), 0), α_max), and
///
///     x¹ ← clamp((x¹ + η·d₁)(1 − α) + (x₀ + η·d₂)·α, 0, 1).
///
/// When x¹ is misclassified (argmax ≠ y), it is kept if it is the closest adversarial point found so
/// far, and x¹ ← x₀ + β(x¹ − x₀) steps back toward x₀. Defaults (α_max 0.1, η 1.05, β 0.9, 100
/// iterations, 9 target classes, 1 restart) are the reference code's (fra31/auto-attack, `fab_base.py`).
///
/// The attack returns the closest misclassified point it found (``Attack/perturb(_:labels:target:context:)``
/// projects it onto the ε-ball and judges it there), or the clean image when none was found; with
/// `stopOnSuccess` an example stops once it has one within ε. Like APGD-T its goal is untargeted.
public struct FAB: Attack {
    /// FAB-T's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Iterations per target class and restart (AutoAttack: 100).
        public var steps: Int
        /// Restarts per target class; the first starts at the clean image (AutoAttack's standard version: 1).
        public var restarts: Int
        /// Target classes, ranked from the second most likely one in the clean output (AutoAttack: 9).
        public var targetClasses: Int
        /// α_max, the largest weight of the step from the clean image (the paper: 0.1).
        public var maxAlpha: Double
        /// η, the overshoot past the linearised boundary (the paper: 1.05).
        public var overshoot: Double
        /// β, the step back toward the clean image after reaching an adversarial point (the paper: 0.9).
        public var backtrack: Double

        public init(
            steps: Int = 100, restarts: Int = 1, targetClasses: Int = 9, maxAlpha: Double = 0.1, overshoot: Double = 1.05,
            backtrack: Double = 0.9
        ) {
            self.steps = steps
            self.restarts = restarts
            self.targetClasses = targetClasses
            self.maxAlpha = maxAlpha
            self.overshoot = overshoot
            self.backtrack = backtrack
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "FAB-T" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    /// FAB-T picks its own target classes and succeeds by misclassification; it has no targeted goal.
    public var supportsTargeted: Bool { false }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        let count = images.shape[0]
        let rowShape = Array(images.shape.dropFirst())
        let features = rowShape.reduce(1, *)
        let ranked = withoutGradients { target.forward(images).decision.sorted(alongAxis: 1, descending: true).indices }
        var rows = [Tensor?](repeating: nil, count: count)
        var bestNorm = [Float](repeating: .infinity, count: count)
        func done(_ example: Int) -> Bool { context.stopOnSuccess && Double(bestNorm[example]) <= context.epsilon }

        for rank in 1...Swift.min(c.targetClasses, target.classCount - 1) {
            for restart in 0..<c.restarts {
                var active = (0..<count).filter { !done($0) }
                if active.isEmpty { break }
                var selection = Tensor(active.map(Int64.init), on: labels.device)
                var x0 = images.indexSelected(alongAxis: 0, indices: selection)
                var y = labels.indexSelected(alongAxis: 0, indices: selection)
                var t = ranked.selected(alongAxis: 1, index: rank).indexSelected(alongAxis: 0, indices: selection)
                var x = x0
                if restart > 0 {
                    var generators = exampleGenerators(
                        active.map { context.seeds[$0] }, stream: 0xFAB + UInt64(restart) + 0x1_0000 * UInt64(rank))
                    x = withoutGradients {
                        (x0 + context.norm.unitDirections(&generators, rowShape: rowShape, on: x0.device)
                            * (0.5 * context.epsilon)).clamped(
                                to: 0...1)
                    }
                }
                for _ in 0..<c.steps {
                    let (difference, gradient) = withGradients {
                        let input = x.detached().requiringGrad()
                        let output = target.forward(input)
                        let margins = output.lossInputs.map { classScore($0, t) - classScore($0, y) }
                        let total = margins.dropFirst().reduce(margins[0], +)
                        return (total.detached(), grad(of: total.sum(), withRespectTo: input))
                    }
                    let n = active.count
                    let (next, adversarial, norms) = withoutGradients { () -> (Tensor, [Bool], [Float]) in
                        let w = gradient.reshaped(to: [n, features])
                        let xFlat = x.reshaped(to: [n, features])
                        let x0Flat = x0.reshaped(to: [n, features])
                        let b = (w * xFlat).sum(alongAxes: [1]) - difference
                        let steps = Self.projectOntoHyperplane(
                            norm: context.norm, points: Tensor.concatenate([xFlat, x0Flat], alongAxis: 0),
                            normals: Tensor.concatenate([w, w], alongAxis: 0), offsets: Tensor.concatenate([b, b], alongAxis: 0))
                        let lengths = context.norm.norms(steps).clamped(min: 1e-8)
                        let fromX = lengths.sliced(alongAxis: 0, from: 0, to: n)
                        let fromClean = lengths.sliced(alongAxis: 0, from: n, to: 2 * n)
                        let alpha = (fromX / (fromX + fromClean)).clamped(min: 0, max: c.maxAlpha).reshaped(to: [n, 1])
                        let d1 = steps.sliced(alongAxis: 0, from: 0, to: n)
                        let d2 = steps.sliced(alongAxis: 0, from: n, to: 2 * n)
                        let moved = ((xFlat + d1 * c.overshoot) * (1 - alpha) + (x0Flat + d2 * c.overshoot) * alpha)
                            .clamped(to: 0...1).reshaped(to: x.shape)
                        let fooled = attackSucceeded(target.forward(moved).decision, labels: y, targets: nil)
                        return (moved, fooled, context.norm.norms(moved - x0).scalars(as: Float.self))
                    }
                    x = next
                    guard adversarial.contains(true) else { continue }
                    var backtrack = [Float](repeating: 1, count: n)
                    for row in 0..<n where adversarial[row] {
                        let example = active[row]
                        if norms[row] < bestNorm[example] {
                            bestNorm[example] = norms[row]
                            rows[example] = x[row].cloned()
                        }
                        backtrack[row] = Float(c.backtrack)
                    }
                    x = withoutGradients {
                        x0 + (x - x0) * Tensor(backtrack, shape: [n] + rowShape.map { _ in 1 }, on: x0.device)
                    }
                    let keep = (0..<n).filter { !done(active[$0]) }
                    if keep.isEmpty { break }
                    if keep.count < n {
                        let kept = Tensor(keep.map(Int64.init), on: labels.device)
                        active = keep.map { active[$0] }
                        selection = selection.indexSelected(alongAxis: 0, indices: kept)
                        x0 = x0.indexSelected(alongAxis: 0, indices: kept)
                        x = x.indexSelected(alongAxis: 0, indices: kept)
                        y = y.indexSelected(alongAxis: 0, indices: kept)
                        t = t.indexSelected(alongAxis: 0, indices: kept)
                    }
                }
            }
        }
        return Tensor.stack(rows.enumerated().map { $0.element ?? images[$0.offset] }, alongAxis: 0)
    }

    /// The minimal-norm steps d (rows of [n, D]) that move each point t onto its hyperplane
    /// w·(t + d) = b while keeping t + d in [0, 1]; where no such step exists, the step to the box's
    /// corner that comes closest. The exact projections of Croce and Hein (L∞: `projection_linf`,
    /// L2: `projection_l2` of the reference code), on whole batches.
    static func projectOntoHyperplane(norm: PerturbationNorm, points: Tensor, normals: Tensor, offsets: Tensor) -> Tensor {
        switch norm {
        case .linf: return projectLinf(points, normals, offsets)
        case .l2: return projectL2(points, normals, offsets)
        }
    }

    private static func float(_ mask: Tensor) -> Tensor { mask.converted(to: .float32) }

    /// The column `index` (an int64 [n, 1] tensor of positions) of each row, as [n].
    private static func pick(_ values: Tensor, _ index: Tensor) -> Tensor {
        values.gathered(alongAxis: 1, indices: index).squeezed(axis: 1)
    }

    /// Binary search over sorted positions 0…D−1: the last position where `above(position)` holds,
    /// ⌈log₂ D⌉ halvings from [0, D − 1] as in the reference code.
    private static func bisect(rows: Int, dimensions: Int, on device: Device, _ above: (Tensor) -> Tensor) -> Tensor {
        var lower = Tensor.zeros([rows], on: device)
        var upper = Tensor.full([rows], value: Double(dimensions - 1), on: device)
        for _ in 0..<Int(Foundation.log2(Double(dimensions)).rounded(.up)) {
            let middle = ((lower + upper) / 2).floor()
            let condition = above(middle.converted(to: .int64).unsqueezed(axis: 1))
            lower = `where`(condition, middle, lower)
            upper = `where`(condition, upper, middle)
        }
        return lower.converted(to: .int64).unsqueezed(axis: 1)
    }

    private static func projectLinf(_ t: Tensor, _ normals: Tensor, _ offsets: Tensor) -> Tensor {
        let (rows, dimensions) = (t.shape[0], t.shape[1])
        let sign = float((normals * t).sum(alongAxes: [1]) - offsets .>= 0.0) * 2 - 1
        let w = normals * sign.unsqueezed(axis: 1)
        let a = float(w .< 0.0)
        let nonZero = float(w .!= 0.0)
        let full = (a - t) * nonZero
        let p = a - t * (a * 2 - 1)
        let order = p.sorted(alongAxis: 1).indices
        let b = offsets * sign - (w * t).sum(alongAxes: [1])
        let b0 = (w * full).sum(alongAxes: [1])
        let descending = order.flipped(alongAxes: [1])
        let ws = w.gathered(alongAxis: 1, indices: descending)
        let s = ws.abs().cumulativeSum(alongAxis: 1)
        let sb = (-ws * full.gathered(alongAxis: 1, indices: descending)).cumulativeSum(alongAxis: 1) + b0.unsqueezed(axis: 1)
        let last = Tensor.full([rows, 1], value: Double(dimensions - 1), dtype: .int64, on: t.device)
        let b2 = pick(sb, last) - pick(s, last) * pick(p, order.sliced(alongAxis: 1, from: 0, to: 1))
        let cornerCase = (b - b2) .> 0.0
        let searched = ((b - b0) .> 0.0) .& cornerCase.logicalNot()
        let position = bisect(rows: rows, dimensions: dimensions, on: t.device) { middle in
            let current = order.gathered(alongAxis: 1, indices: (Double(dimensions - 1) - middle).converted(to: .int64))
            return (b - (pick(sb, middle) - pick(s, middle) * pick(p, current))) .> 0.0
        }
        let lambdaCorner = ((b - pick(sb, last)) / -pick(s, last)).clamped(min: 0).unsqueezed(axis: 1)
        let stepCorner = (a * 2 - 1) * lambdaCorner
        let lambda = ((b - pick(sb, position)) / -pick(s, position)).clamped(min: 0).unsqueezed(axis: 1)
        let stepSearched = lambda.minimum(full) * a + (-lambda).maximum(full) * (1 - a)
        let step = `where`(
            cornerCase.unsqueezed(axis: 1), stepCorner, `where`(searched.unsqueezed(axis: 1), stepSearched, full))
        return step * nonZero
    }

    private static func projectL2(_ t: Tensor, _ normals: Tensor, _ offsets: Tensor) -> Tensor {
        let (rows, dimensions) = (t.shape[0], t.shape[1])
        let signedGap = (normals * t).sum(alongAxes: [1]) - offsets
        let sign = float(signedGap .>= 0.0) * 2 - 1
        let w = normals * sign.unsqueezed(axis: 1)
        let gap = signedGap * sign
        let usable = w.abs() .> 1e-8
        var r = (t / w).maximum((t - 1) / w).clamped(min: -1e12, max: 1e12).filled(where: usable.logicalNot(), with: 1e12)
        r = r.filled(where: r .== -1e12, with: 1e12)
        let (sortedR, order) = r.sorted(alongAxis: 1)
        let nextR = sortedR.sliced(alongAxis: 1, from: 1, to: dimensions).padded([0, 1]).filled(
            where: sortedR.sliced(alongAxis: 1, from: 1, to: dimensions).padded([0, 1]) .== 1e12, with: 0)
        let rs = sortedR.filled(where: sortedR .== 1e12, with: 0)
        let w3s = w.squared().gathered(alongAxis: 1, indices: order)
        let w5 = w3s.sum(alongAxes: [1], keepingDims: true)
        let ws = w5 - w3s.cumulativeSum(alongAxis: 1)
        let full = -(r * w) * float(usable)
        let first = rs.sliced(alongAxis: 1, from: 0, to: 1)
        let s = Tensor.concatenate([-w5 * first, ((rs - nextR) * ws).cumulativeSum(alongAxis: 1) - w5 * first], alongAxis: 1)
        let onPlane = (s.selected(alongAxis: 1, index: 0) + gap) .< 0.0
        let outOfReach = ((full * w).sum(alongAxes: [1]) + gap) .> 0.0
        let searched = (onPlane .| outOfReach).logicalNot()
        let position = bisect(rows: rows, dimensions: dimensions, on: t.device) { middle in (pick(s, middle) + gap) .> 0.0 }
        let stepPlane = -(gap / w5.squeezed(axis: 1)).unsqueezed(axis: 1) * w
        let wsAt = pick(ws, position)
        let alpha = `where`(wsAt .== 0.0, wsAt.zerosLike(), (pick(s, position) + gap) / wsAt + pick(rs, position))
            .unsqueezed(axis: 1)
        let beyond = float(alpha .> r)
        let stepSearched = full * beyond - alpha * w * (1 - beyond)
        let step = `where`(onPlane.unsqueezed(axis: 1), stepPlane, `where`(searched.unsqueezed(axis: 1), stepSearched, full))
        return step * float(usable)
    }
}

extension FAB.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "FAB-T")
        try check("steps", steps, .atLeast(1))
        try check("restarts", restarts, .atLeast(1))
        try check("target classes", targetClasses, .atLeast(1))
        try check("α_max", maxAlpha, .probability)
        try check("overshoot η", overshoot, Check { $0 >= 1 && $0.isFinite ? nil : "must be ≥ 1" })
        try check("backtrack β", backtrack, .unitInterval)
    }
}
