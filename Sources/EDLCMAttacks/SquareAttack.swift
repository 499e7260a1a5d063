import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// How Square's fraction p of changed pixels falls with the iterations.
public enum SquareSchedule: String, SettingChoice {
    /// The halvings at 10, 50, …, 8000 of 10 000 iterations scaled to the query budget (the Square
    /// paper's code, `rescale_schedule=True`): a budget of 5 000 halves at 5, 25, …, 4000.
    case rescaled
    /// The halvings at the fixed iterations 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000
    /// whatever the budget (AutoAttack's Square, `resc_schedule=False`): with 5 000 queries p ends
    /// at p_init/128.
    case autoattack
}

/// The Square attack of Andriushchenko, Croce, Flammarion and Hein, "Square Attack: a
/// Query-Efficient Black-Box Adversarial Attack via Random Search" (ECCV 2020): a score-based
/// random search that reads only the model's output scores, never its gradients, so it exposes
/// gradient masking. It follows the authors' reference code:
///
/// - The loss is the margin z_y − maxᵢ≠y zᵢ (targeted: the cross-entropy of the target class),
///   minimised; an example stops as soon as it is misclassified (targeted: classified as the
///   target), and a proposal is kept only if it lowers the loss.
/// - The side of the square window follows the fraction p of pixels changed, which starts at
///   p_init and halves at 10, 50, 200, 500, 1000, 2000, 4000, 6000 and 8000 of 10 000 iterations
///   (rescaled to the query budget, the authors' default; AutoAttack's Square keeps those fixed
///   iterations, `resc_schedule=False`: ``SquareSchedule/autoattack``): s = round(√(p·H·W)).
/// - L∞: start from vertical stripes of ±ε (one sign per channel and column); each proposal sets
///   an s×s window to ±ε per channel (resampled until it changes the image).
/// - L2: start from a grid of ⌊H/5⌋-sided windows of "meta pseudo-Gaussian" bumps with random
///   signs, scaled to norm ε; each proposal moves the mass of a second window into a new bump in
///   the first and rescales to norm ε.
///
/// Window positions and signs are drawn per example from its seed. The budget counts forward
/// passes per example, the initial one included.
public struct SquareAttack: Attack {
    /// The Square attack's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Queries (forward passes) per example (the paper: 10 000).
        public var queries: Int
        /// p_init, the starting fraction of pixels changed; nil uses 0.8, the authors' setting for
        /// images of MNIST and CIFAR size (their MNIST-challenge entry and AutoAttack's Square); the
        /// paper's ImageNet experiments use 0.05 (L∞) and 0.1 (L2).
        public var initialFraction: Double?
        /// The schedule of p; nil is ``SquareSchedule/rescaled`` (and keeps the records of runs made
        /// before the option existed unchanged).
        public var schedule: SquareSchedule?

        public init(queries: Int = 10_000, initialFraction: Double? = nil, schedule: SquareSchedule? = nil) {
            self.queries = queries
            self.initialFraction = initialFraction
            self.schedule = schedule
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "Square" }
    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    public var usesGradients: Bool { false }

    /// The fraction of pixels changed at iteration `iteration` (from 0) of `total` (the reference
    /// code's piecewise-constant `p_selection`).
    public static func fraction(
        initial: Double, iteration: Int, total: Int, schedule: SquareSchedule = .rescaled
    ) -> Double {
        let it = schedule == .rescaled ? Int(Double(iteration) / Double(Swift.max(total, 1)) * 10_000) : iteration
        let divisor: Double =
            switch it {
            case 11...50: 2
            case 51...200: 4
            case 201...500: 8
            case 501...1000: 16
            case 1001...2000: 32
            case 2001...4000: 64
            case 4001...6000: 128
            case 6001...8000: 256
            case 8001...: 512
            default: 1
            }
        return initial / divisor
    }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        guard context.epsilon > 0 else { return images }
        var generators = exampleGenerators(context.seeds, stream: 0x5C)
        let initial = configuration.initialFraction ?? 0.8
        switch context.norm {
        case .linf:
            return runLinf(images, labels: labels, target: target, context: context, initial: initial, generators: &generators)
        case .l2:
            return runL2(images, labels: labels, target: target, context: context, initial: initial, generators: &generators)
        }
    }

    /// The L∞ search, on tensors: window masks and signs are drawn per example in Swift and
    /// applied as broadcast masks.
    private func runLinf(
        _ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext,
        initial: Double, generators: inout [SeededGenerator]
    ) -> Tensor {
        withoutGradients {
            let shape = images.shape
            let (count, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
            let epsilon = context.epsilon
            // Vertical stripes: one sign per example, channel and column.
            let stripes = perExampleTensor(&generators, rowShape: [channels, 1, width], on: images.device) { $0.nextSign() }
            var best = (images + stripes * epsilon).clamped(to: 0...1)
            var (lossMin, marginMin) = scores(
                best, rows: Array(0..<count), target: target, labels: labels, targets: context.targets)
            for iteration in 0..<Swift.max(configuration.queries - 1, 0) {
                let active = (0..<count).filter { marginMin[$0] > 0 }
                if active.isEmpty { break }
                let rows = Tensor(active.map(Int64.init), on: images.device)
                let x = images.indexSelected(alongAxis: 0, indices: rows)
                let current = best.indexSelected(alongAxis: 0, indices: rows)
                let delta = current - x
                let p = Self.fraction(
                    initial: initial, iteration: iteration, total: configuration.queries,
                    schedule: configuration.schedule ?? .rescaled)
                let side = Swift.min(
                    Swift.max(Int((p * Double(height * width)).squareRoot().rounded()), 1), Swift.max(height - 1, 1))
                var rowMask = [Float](repeating: 0, count: active.count * height)
                var columnMask = [Float](repeating: 0, count: active.count * width)
                for (row, example) in active.enumerated() {
                    let top = generators[example].nextInt(below: Swift.max(height - side, 1))
                    let left = generators[example].nextInt(below: Swift.max(width - side, 1))
                    for r in top..<Swift.min(top + side, height) { rowMask[row * height + r] = 1 }
                    for c in left..<Swift.min(left + side, width) { columnMask[row * width + c] = 1 }
                }
                let window =
                    Tensor(rowMask, shape: [active.count, 1, height, 1], on: images.device)
                    * Tensor(columnMask, shape: [active.count, 1, 1, width], on: images.device)
                let outside = 1 - window
                // Draw ±ε per channel, redrawing (as the reference code does) while the window
                // would leave the image unchanged.
                var signs = [Float](repeating: 0, count: active.count * channels)
                var pending = Array(0..<active.count)
                var candidate = current
                for _ in 0..<64 where !pending.isEmpty {
                    for row in pending {
                        for channel in 0..<channels { signs[row * channels + channel] = generators[active[row]].nextSign() }
                    }
                    let values = Tensor(signs, shape: [active.count, channels, 1, 1], on: images.device) * epsilon
                    candidate = (x + delta * outside + window * values).clamped(to: 0...1)
                    let changed =
                        (((candidate - current).abs() .>= 1e-7).converted(to: .float32) * window)
                        .flattened(startAxis: 1).sum(alongAxes: [1]) .> 0.0
                    let changedRows = changed.scalars(as: Bool.self)
                    pending = pending.filter { !changedRows[$0] }
                }
                let (loss, margin) = scores(candidate, rows: active, target: target, labels: labels, targets: context.targets)
                var improvedRows: [Int64] = []
                var improvedMask = [Bool](repeating: false, count: count)
                var positions = [Int64](repeating: 0, count: count)
                for (row, example) in active.enumerated() where accepts(loss[row], margin[row], over: lossMin[example]) {
                    lossMin[example] = min(lossMin[example], loss[row])
                    marginMin[example] = margin[row]
                    improvedRows.append(Int64(row))
                    improvedMask[example] = true
                    positions[example] = Int64(row)
                }
                if improvedRows.isEmpty { continue }
                let spread = candidate.indexSelected(alongAxis: 0, indices: Tensor(positions, on: images.device))
                best = `where`(Tensor(improvedMask, shape: [count, 1, 1, 1], on: images.device), spread, best)
            }
            return best
        }
    }

    /// The L2 search, in Swift arrays (its windows carry per-window norm bookkeeping).
    private func runL2(
        _ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext,
        initial: Double, generators: inout [SeededGenerator]
    ) -> Tensor {
        let shape = images.shape
        let (count, channels, height, width) = (shape[0], shape[1], shape[2], shape[3])
        let size = channels * height * width
        let epsilon = Float(context.epsilon)
        let clean = images.contiguous().scalars(as: Float.self)
        let geometry = Geometry(channels: channels, height: height, width: width)
        var best = [Float](repeating: 0, count: count * size)
        for example in 0..<count {
            let range = example * size..<(example + 1) * size
            best.replaceSubrange(range, with: geometry.bumpGrid(clean[range], epsilon: epsilon, generator: &generators[example]))
        }
        var (lossMin, marginMin) = withoutGradients {
            scores(
                Tensor(best, shape: shape, on: images.device), rows: Array(0..<count), target: target, labels: labels,
                targets: context.targets)
        }
        for iteration in 0..<Swift.max(configuration.queries - 1, 0) {
            let active = (0..<count).filter { marginMin[$0] > 0 }
            if active.isEmpty { break }
            let p = Self.fraction(
                initial: initial, iteration: iteration, total: configuration.queries,
                schedule: configuration.schedule ?? .rescaled)
            var proposals = [Float]()
            proposals.reserveCapacity(active.count * size)
            for example in active {
                let range = example * size..<(example + 1) * size
                proposals += geometry.bumpStep(
                    clean[range], best: best[range], fraction: p, epsilon: epsilon, generator: &generators[example])
            }
            let (loss, margin) = withoutGradients {
                scores(
                    Tensor(proposals, shape: [active.count, channels, height, width], on: images.device), rows: active,
                    target: target,
                    labels: labels, targets: context.targets)
            }
            for (row, example) in active.enumerated() where accepts(loss[row], margin[row], over: lossMin[example]) {
                lossMin[example] = min(lossMin[example], loss[row])
                marginMin[example] = margin[row]
                best.replaceSubrange(example * size..<(example + 1) * size, with: proposals[row * size..<(row + 1) * size])
            }
        }
        return Tensor(best, shape: shape, on: images.device)
    }

    /// Whether a proposal replaces an example's best point: when it lowers the loss, or when it
    /// fools the model whatever its loss (the reference's rule; a targeted proposal that reaches the
    /// target class can have a higher cross-entropy than a best point that does not).
    private func accepts(_ loss: Float, _ margin: Float, over best: Float) -> Bool {
        loss < best || margin <= 0
    }

    /// The loss to minimise and the margin (≤ 0 once fooled) of candidate images [m, …], one row
    /// per example in `rows`, from one forward pass without gradients.
    private func scores(_ candidates: Tensor, rows: [Int], target: any AttackTarget, labels: Tensor, targets: Tensor?) -> (
        loss: [Float], margin: [Float]
    ) {
        withoutGradients {
            let selection = Tensor(rows.map(Int64.init), on: candidates.device)
            let decision = target.forward(candidates).decision
            let y = labels.indexSelected(alongAxis: 0, indices: selection)
            if let targets {
                let t = targets.indexSelected(alongAxis: 0, indices: selection)
                let margin = bestOtherScore(decision, excluding: t) - classScore(decision, t)
                let loss = crossEntropy(logits: decision, labels: t, reduction: .none)
                return (loss.scalars(as: Float.self), margin.scalars(as: Float.self))
            }
            let margin = (classScore(decision, y) - bestOtherScore(decision, excluding: y)).scalars(as: Float.self)
            return (margin, margin)
        }
    }

    /// Pixel bookkeeping for one image of C×H×W, in Swift arrays.
    struct Geometry {
        let channels: Int
        let height: Int
        let width: Int

        func index(_ channel: Int, _ row: Int, _ column: Int) -> Int {
            (channel * height + row) * width + column
        }

        /// The L2 start: a grid of ⌊H/5⌋-sided bumps with a random sign per channel, scaled to ε.
        func bumpGrid(_ x: ArraySlice<Float>, epsilon: Float, generator: inout SeededGenerator) -> [Float] {
            var delta = [Float](repeating: 0, count: x.count)
            let side = Swift.max(height / 5, 1)
            let offset = Swift.max((height - side * 5) / 2, 0)
            var top = offset
            for _ in 0..<(height / side) {
                var left = offset
                for _ in 0..<(width / side) {
                    let bump = Self.metaPseudoGaussian(side, generator: &generator)
                    for channel in 0..<channels {
                        let sign = generator.nextSign()
                        for r in 0..<side where top + r < height {
                            for c in 0..<side where left + c < width {
                                delta[index(channel, top + r, left + c)] += bump[r * side + c] * sign
                            }
                        }
                    }
                    left += side
                }
                top += side
            }
            return rescaled(x, delta: delta, epsilon: epsilon)
        }

        /// The L2 proposal: clear window 2, put a new bump (plus the old content) in window 1 with
        /// the freed and unused norm budget, and rescale the perturbation to norm ε.
        func bumpStep(
            _ x: ArraySlice<Float>, best: ArraySlice<Float>, fraction: Double, epsilon: Float, generator: inout SeededGenerator
        ) -> [Float] {
            var side = Swift.max(Int((fraction * Double(height * width)).squareRoot().rounded()), 3)
            if side % 2 == 0 { side += 1 }
            side = Swift.max(Swift.min(side, height - 1, width - 1), 1)
            let top1 = generator.nextInt(below: Swift.max(height - side, 1)),
                left1 = generator.nextInt(below: Swift.max(width - side, 1))
            let top2 = generator.nextInt(below: Swift.max(height - side, 1)),
                left2 = generator.nextInt(below: Swift.max(width - side, 1))
            var delta = zip(best, x).map { $0 - $1 }
            let imageNorm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            func inWindow(_ r: Int, _ c: Int, _ top: Int, _ left: Int) -> Bool {
                r >= top && r < top + side && c >= left && c < left + side
            }
            let bump = Self.metaPseudoGaussian(side, generator: &generator)
            var updates = [[Float]](repeating: [], count: channels)
            for channel in 0..<channels {
                var windowSquares: Float = 0, unionSquares: Float = 0
                for r in 0..<height {
                    for c in 0..<width {
                        let value = delta[index(channel, r, c)]
                        let in1 = inWindow(r, c, top1, left1)
                        if in1 { windowSquares += value * value }
                        if in1 || inWindow(r, c, top2, left2) { unionSquares += value * value }
                    }
                }
                let windowNorm = windowSquares.squareRoot()
                let sign = generator.nextSign()
                var update = [Float](repeating: 0, count: side * side)
                for r in 0..<side {
                    for c in 0..<side {
                        update[r * side + c] =
                            bump[r * side + c] * sign + delta[index(channel, top1 + r, left1 + c)] / (1e-10 + windowNorm)
                    }
                }
                let updateNorm = update.reduce(0) { $0 + $1 * $1 }.squareRoot()
                let budget = (Swift.max(epsilon * epsilon - imageNorm * imageNorm, 0) / Float(channels) + unionSquares)
                    .squareRoot()
                updates[channel] = update.map { $0 / Swift.max(updateNorm, 1e-12) * budget }
            }
            for channel in 0..<channels {
                for r in 0..<side { for c in 0..<side { delta[index(channel, top2 + r, left2 + c)] = 0 } }
                for r in 0..<side {
                    for c in 0..<side { delta[index(channel, top1 + r, left1 + c)] = updates[channel][r * side + c] }
                }
            }
            return rescaled(x, delta: delta, epsilon: epsilon)
        }

        /// clip(x + ε·δ/‖δ‖₂, 0, 1).
        private func rescaled(_ x: ArraySlice<Float>, delta: [Float], epsilon: Float) -> [Float] {
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            guard norm > 0 else { return Array(x) }
            return zip(x, delta).map { Swift.min(Swift.max($0 + $1 / norm * epsilon, 0), 1) }
        }

        /// Concentric rectangles weighted 1/(k+1)², normalised (the reference code's
        /// `pseudo_gaussian_pert_rectangles`), row-major [rows × columns].
        static func pseudoGaussian(_ rows: Int, _ columns: Int) -> [Float] {
            guard rows > 0, columns > 0 else { return [] }
            var delta = [Float](repeating: 0, count: rows * columns)
            var corner = (rows / 2, columns / 2)
            for counter in 0..<Swift.max(rows / 2 + 1, columns / 2 + 1) {
                let rowRange = Swift.max(corner.0, 0)..<Swift.min(corner.0 + 2 * counter + 1, rows)
                let columnRange = Swift.max(corner.1, 0)..<Swift.min(corner.1 + 2 * counter + 1, columns)
                if !rowRange.isEmpty && !columnRange.isEmpty {
                    for r in rowRange {
                        for c in columnRange { delta[r * columns + c] += 1 / Float((counter + 1) * (counter + 1)) }
                    }
                }
                corner = (corner.0 - 1, corner.1 - 1)
            }
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            return delta.map { $0 / norm }
        }

        /// Two opposite-signed pseudo-Gaussian halves, normalised, transposed with probability ½
        /// (the reference code's `meta_pseudo_gaussian_pert`), [side × side].
        static func metaPseudoGaussian(_ side: Int, generator: inout SeededGenerator) -> [Float] {
            let upperRows = side / 2
            var delta = pseudoGaussian(upperRows, side) + pseudoGaussian(side - upperRows, side).map { -$0 }
            let norm = delta.reduce(0) { $0 + $1 * $1 }.squareRoot()
            delta = delta.map { $0 / Swift.max(norm, 1e-12) }
            if generator.nextUnit() > 0.5 {
                var transposed = delta
                for r in 0..<side { for c in 0..<side { transposed[c * side + r] = delta[r * side + c] } }
                delta = transposed
            }
            return delta
        }
    }
}

extension SquareAttack.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "Square")
        try check("queries", queries, .atLeast(1))
        if let initialFraction { try check("initial fraction", initialFraction, .unitInterval) }
    }
}
