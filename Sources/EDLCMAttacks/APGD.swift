import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// Auto-PGD of Croce and Hein, "Reliable Evaluation of Adversarial Robustness with an Ensemble of
/// Diverse Parameter-free Attacks" (ICML 2020), the core of AutoAttack; APGD-CE ascends the
/// cross-entropy and APGD-DLR the difference of logits ratio (``AttackLoss/dlr``).
///
/// From a random point x⁰ at distance ε (L∞: x + ε·u/‖u‖∞, u ~ U(−1, 1); L2: x + ε·u/‖u‖₂,
/// u ~ N(0, I)), with step size η = 2ε per example:
///
///     zᵏ⁺¹ = Π(xᵏ + η·sign(∇f(xᵏ)))                     (L2: η·∇/‖∇‖₂)
///     xᵏ⁺¹ = Π(xᵏ + α(zᵏ⁺¹ − xᵏ) + (1 − α)(xᵏ − xᵏ⁻¹)),  α = 0.75 (α = 1 at the first step)
///
/// keeping the point of highest loss x_max. At checkpoints wⱼ (w₀ = 0, then gaps of
/// ⌊0.22·N⌋ shrinking by ⌊0.03·N⌋ to at least ⌊0.06·N⌋, as in the reference code) η is halved and
/// the iterate reset to x_max for every example where (1) the loss increased in at most ρ = 0.75
/// of the steps since the last checkpoint, or (2) η was not reduced at the last checkpoint and the
/// best loss has not improved since. (The reference code compares the first step of the first
/// interval with an unset entry; here it is compared with the loss at x⁰, as the paper states.)
/// Every iterate is checked for success; restarts start again from new random points.
///
/// APGD-T (``Configuration/targetClasses`` > 0) is AutoAttack's targeted version: for each of the
/// `targetClasses` classes ranked 2, 3, … in the attacked model's output on the clean image, a full
/// run (with its restarts) ascends the targeted DLR loss toward that class, on the examples not yet
/// fooled; success is still misclassification (argmax ≠ y), so the attack's goal stays untargeted.
public struct APGD: Attack {
    /// APGD's settings.
    public struct Configuration: Codable, Sendable, Equatable {
        /// The loss: cross-entropy (APGD-CE) or DLR (APGD-DLR).
        public var loss: AttackLoss
        /// Iterations N (the paper: 100).
        public var steps: Int
        /// Random restarts (AutoAttack's standard version: 1).
        public var restarts: Int
        /// The initial step size η, as a multiple of ε (the paper: 2).
        public var initialStepFactor: Double
        /// The momentum weight α (the paper: 0.75).
        public var momentum: Double
        /// ρ, the fraction of increasing steps below which η is halved (the paper: 0.75).
        public var rho: Double
        /// APGD-T: the number of target classes, ranked from the second most likely one in the clean
        /// output, that the targeted loss is run toward one after another (AutoAttack's standard
        /// version: 9); nil for APGD with an untargeted loss.
        public var targetClasses: Int?

        public init(
            loss: AttackLoss = .crossEntropy, steps: Int = 100, restarts: Int = 1, initialStepFactor: Double = 2,
            momentum: Double = 0.75, rho: Double = 0.75, targetClasses: Int? = nil
        ) {
            self.loss = loss
            self.steps = steps
            self.restarts = restarts
            self.initialStepFactor = initialStepFactor
            self.momentum = momentum
            self.rho = rho
            self.targetClasses = targetClasses
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { configuration.displayName }

    public var supportedNorms: Set<PerturbationNorm> { [.linf, .l2] }
    /// APGD-T picks its own target classes and succeeds by misclassification; it has no targeted goal.
    public var supportsTargeted: Bool { configuration.targetClasses == nil }
    public func minimumClassCount(targeted: Bool) -> Int {
        configuration.loss.minimumClassCount(targeted: targeted || configuration.targetClasses != nil)
    }

    /// The iterations after which step sizes are checked: gaps ⌊0.22N⌋, then each gap ⌊0.03N⌋
    /// shorter, but at least ⌊0.06N⌋ (each at least 1).
    public static func checkpoints(steps: Int) -> [Int] {
        var gap = Swift.max(Int(0.22 * Double(steps)), 1)
        let decrement = Swift.max(Int(0.03 * Double(steps)), 1)
        let minimumGap = Swift.max(Int(0.06 * Double(steps)), 1)
        var result: [Int] = []
        var position = gap
        while position <= steps {
            result.append(position)
            gap = Swift.max(gap - decrement, minimumGap)
            position += gap
        }
        return result
    }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        let count = images.shape[0]
        let fullBall = PerturbationBall(center: images, norm: context.norm, epsilon: context.epsilon)
        var rows = [Tensor?](repeating: nil, count: count)
        var bestLoss = [Float](repeating: -.infinity, count: count)
        var fooled = [Bool](repeating: false, count: count)

        // One pass per loss target: the context's goal for APGD, each ranked class for APGD-T.
        var passes: [Tensor?] = [context.targets]
        if let targetClasses = c.targetClasses {
            let ranked = withoutGradients { target.forward(images).decision.sorted(alongAxis: 1, descending: true).indices }
            passes = (1...Swift.min(targetClasses, target.classCount - 1)).map { ranked.selected(alongAxis: 1, index: $0) }
        }
        for (pass, lossTargets) in passes.enumerated() {
            for restart in 0..<c.restarts {
                guard
                    let examples = ActiveExamples(
                        fooled: fooled, stopOnSuccess: context.stopOnSuccess, ball: fullBall, labels: labels,
                        targets: context.targets)
                else { break }
                var generators = exampleGenerators(
                    examples.indices.map { context.seeds[$0] }, stream: 0xA9D + UInt64(restart) + 0x1_0000 * UInt64(pass))
                var state = State(examples: examples, lossTargets: lossTargets)
                let rowShape = Array(images.shape.dropFirst())
                state.x =
                    (state.examples.ball.center + context.norm.unitDirections(
                        &generators, rowShape: rowShape, on: state.examples.ball.center.device) * context.epsilon)
                    .clamped(to: 0...1)
                var evaluation = evaluateLoss(
                    state.x, labels: state.examples.labels, targets: state.lossTargets, target: target, loss: c.loss)
                state.grad = evaluation.gradient!
                state.lossValues = evaluation.loss
                record(&state, decision: evaluation.decision, fooled: &fooled, rows: &rows, stopOnSuccess: context.stopOnSuccess)
                if state.examples.indices.isEmpty { continue }
                state.startTracking(stepSize: c.initialStepFactor * context.epsilon)

                // The step-size checks happen at the schedule `checkpoints(steps:)` gives (tested there).
                let checkpoints = Self.checkpoints(steps: c.steps)
                var nextCheckpoint = 0
                for iteration in 0..<c.steps {
                    withoutGradients {
                        let a = iteration == 0 ? 1.0 : c.momentum
                        let previousStep = state.x - state.xPrevious
                        state.xPrevious = state.x
                        let z = state.examples.ball.project(state.x + context.norm.steepestAscent(state.grad) * state.stepSize)
                        state.x = state.examples.ball.project(state.x + (z - state.x) * a + previousStep * (1 - a))
                    }
                    let needsGradient = iteration < c.steps - 1
                    evaluation = evaluateLoss(
                        state.x, labels: state.examples.labels, targets: state.lossTargets, target: target, loss: c.loss,
                        gradient: needsGradient)
                    state.grad = evaluation.gradient ?? state.grad
                    state.lossValues = evaluation.loss
                    record(
                        &state, decision: evaluation.decision, fooled: &fooled, rows: &rows, stopOnSuccess: context.stopOnSuccess)
                    if state.examples.indices.isEmpty { break }
                    withoutGradients {
                        let improved = state.lossValues .> state.lossBest
                        let improvedImages = state.imageMask(improved)
                        state.xBest = `where`(improvedImages, state.x, state.xBest)
                        state.gradBest = `where`(improvedImages, state.grad, state.gradBest)
                        state.lossBest = state.lossBest.maximum(state.lossValues)
                        state.increases = state.increases + (state.lossValues .> state.lossPrevious).converted(to: .float32)
                        state.lossPrevious = state.lossValues
                        if nextCheckpoint < checkpoints.count, iteration + 1 == checkpoints[nextCheckpoint] {
                            let interval =
                                checkpoints[nextCheckpoint] - (nextCheckpoint == 0 ? 0 : checkpoints[nextCheckpoint - 1])
                            let oscillating = state.increases .<= Double(interval) * c.rho
                            let stalled = state.reducedLastCheck.logicalNot() .& (state.lossBestLastCheck .>= state.lossBest)
                            let reduce = oscillating .| stalled
                            state.reducedLastCheck = reduce
                            state.lossBestLastCheck = state.lossBest
                            let reduceImages = state.imageMask(reduce)
                            state.stepSize = `where`(reduceImages, state.stepSize * 0.5, state.stepSize)
                            state.x = `where`(reduceImages, state.xBest, state.x)
                            state.grad = `where`(reduceImages, state.gradBest, state.grad)
                            state.increases = state.increases.zerosLike()
                            nextCheckpoint += 1
                        }
                    }
                }
                if state.examples.indices.isEmpty { continue }
                let finalBest = state.lossBest.scalars(as: Float.self)
                // An example fooled at some iterate keeps that iterate (unless crafting to transfer).
                for (row, example) in state.examples.indices.enumerated() where !(context.keepsFooledIterate && fooled[example]) {
                    if finalBest[row] > bestLoss[example] || rows[example] == nil {
                        bestLoss[example] = finalBest[row]
                        rows[example] = state.xBest[row].cloned()
                    }
                }
            }
        }
        return Tensor.stack(rows.enumerated().map { $0.element ?? images[$0.offset] }, alongAxis: 0)
    }

    /// Marks newly fooled examples (keeping their iterate) and, with early stopping, drops them.
    private func record(_ state: inout State, decision: Tensor, fooled: inout [Bool], rows: inout [Tensor?], stopOnSuccess: Bool)
    {
        let keep = recordFirstSuccesses(
            attackSucceeded(decision, labels: state.examples.labels, targets: state.examples.targets), at: state.x,
            active: state.examples.indices, fooled: &fooled,
            rows: &rows, stopOnSuccess: stopOnSuccess)
        if keep.count < state.examples.indices.count { state.keep(keep) }
    }

    /// The per-example state of one restart, on the examples still attacked.
    private struct State {
        /// The examples, their balls, labels and the goal's target classes (success is judged on
        /// them; nil when untargeted).
        var examples: ActiveExamples
        /// The classes the loss is targeted at: the goal's, or APGD-T's class of this pass.
        var lossTargets: Tensor?
        /// The iterate, its gradient and per-example loss, and the iterate before it.
        var x, grad, lossValues, xPrevious: Tensor
        /// The best iterate so far with its gradient and loss, and the loss of the previous iterate.
        var xBest, gradBest, lossBest, lossPrevious: Tensor
        /// Per-example step size, loss increases since the last checkpoint, whether the step was
        /// reduced at the last checkpoint, and the best loss then.
        var stepSize, increases, reducedLastCheck, lossBestLastCheck: Tensor
        var tracking = false

        init(examples: ActiveExamples, lossTargets: Tensor?) {
            let device = examples.labels.device
            self.examples = examples
            self.lossTargets = lossTargets?.indexSelected(
                alongAxis: 0, indices: Tensor(examples.indices.map(Int64.init), on: device))
            x = examples.ball.center
            let empty = Tensor.zeros([0], on: device)
            (grad, lossValues, xPrevious, xBest, gradBest, lossBest, lossPrevious) = (
                empty, empty, empty, empty, empty, empty, empty
            )
            (stepSize, increases, reducedLastCheck, lossBestLastCheck) = (empty, empty, empty, empty)
        }

        /// Starts the bookkeeping after the first evaluation at x⁰.
        mutating func startTracking(stepSize initial: Double) {
            let n = examples.indices.count
            xPrevious = x
            xBest = x
            gradBest = grad
            lossBest = lossValues
            lossPrevious = lossValues
            stepSize = Tensor.full([n] + Array(repeating: 1, count: x.rank - 1), value: initial, on: x.device)
            increases = Tensor.zeros([n], on: x.device)
            reducedLastCheck = Tensor.ones([n], dtype: .bool, on: x.device)
            lossBestLastCheck = lossValues
            tracking = true
        }

        /// A per-example bool [n] broadcast over the image dimensions.
        func imageMask(_ mask: Tensor) -> Tensor {
            mask.reshaped(to: [mask.shape[0]] + Array(repeating: 1, count: x.rank - 1))
        }

        mutating func keep(_ rows: [Int]) {
            let kept = examples.keep(rows)
            func select(_ tensor: Tensor) -> Tensor { tensor.indexSelected(alongAxis: 0, indices: kept) }
            lossTargets = lossTargets.map(select)
            x = select(x)
            grad = select(grad)
            lossValues = select(lossValues)
            guard tracking else { return }
            xPrevious = select(xPrevious)
            xBest = select(xBest)
            gradBest = select(gradBest)
            lossBest = select(lossBest)
            lossPrevious = select(lossPrevious)
            stepSize = select(stepSize)
            increases = select(increases)
            reducedLastCheck = select(reducedLastCheck)
            lossBestLastCheck = select(lossBestLastCheck)
        }
    }
}

extension APGD.Configuration: AttackConfiguration {
    /// "APGD-CE", "APGD-DLR", "APGD-CW", or "APGD-T" with target classes.
    var displayName: String {
        if targetClasses != nil { return loss == .dlr ? "APGD-T" : "APGD-T (\(loss.rawValue))" }
        switch loss {
        case .crossEntropy: return "APGD-CE"
        case .dlr: return "APGD-DLR"
        case .margin: return "APGD-CW"
        }
    }

    public func validate() throws {
        let check = SettingChecks(attack: displayName)
        if let targetClasses { try check("target classes", targetClasses, .atLeast(1)) }
        try check("steps", steps, .atLeast(1))
        try check("restarts", restarts, .atLeast(1))
        try check("initial step factor", initialStepFactor, .positive)
        try check("momentum", momentum, .probability)
        try check("ρ", rho, .probability)
    }
}
