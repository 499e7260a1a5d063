import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// Random resizing and padding of the input at each step (Xie et al. 2019), as a differentiable
/// transform: with probability `probability` the batch is resized (nearest neighbour) to a random
/// size in [⌊H·r⌋, H) × [⌊W·r⌋, W) and zero-padded back to H × W at a random offset.
struct InputDiversity {
    let probability: Double
    let resizeRate: Double

    /// A transform for one step, or nil when this step keeps the input (or the image is too
    /// small to shrink).
    func transform(height: Int, width: Int, using generator: inout SeededGenerator) -> ((Tensor) -> Tensor)? {
        guard generator.nextUnit() < probability else { return nil }
        let minimumHeight = Int((Double(height) * resizeRate).rounded(.down))
        let minimumWidth = Int((Double(width) * resizeRate).rounded(.down))
        guard minimumHeight >= 1, minimumWidth >= 1, minimumHeight < height, minimumWidth < width else { return nil }
        let newHeight = minimumHeight + generator.nextInt(below: height - minimumHeight)
        let newWidth = minimumWidth + generator.nextInt(below: width - minimumWidth)
        let top = generator.nextInt(below: height - newHeight + 1)
        let left = generator.nextInt(below: width - newWidth + 1)
        return { input in
            upsampleNearest(input, size: (newHeight, newWidth))
                .padded([left, width - newWidth - left, top, height - newHeight - top])
        }
    }
}

/// The iterative gradient-sign engine shared by FGSM, BIM, PGD, MIM and DI²-FGSM:
///
///     x⁰ = x (or a random point of the ball), gᵗ = ∇ₓ ℓ(xᵗ) (through the input transform if any),
///     vᵗ⁺¹ = μ vᵗ + gᵗ / mean|gᵗ| (with momentum), xᵗ⁺¹ = Π(xᵗ + α · d(v or g)),
///
/// where d is sign for L∞ and g/‖g‖₂ for L2 and Π projects onto the ε-ball ∩ [0, 1]. Every iterate
/// is checked, and an example's first successful iterate is what it returns, with or without
/// `stopOnSuccess` (with it, the example also leaves the batch there), unless the context asks for
/// the final point (`keepsFirstSuccess` off: crafting examples to transfer). Restarts run again from new
/// random starts on the examples not yet fooled (all examples without `stopOnSuccess`); an example
/// never fooled returns the restart with the highest final loss, and survives only if it survives
/// every restart.
struct IterativeAscent {
    var loss: AttackLoss
    var confidence: Double = .infinity
    var steps: Int
    var stepSize: Double
    var randomStart: Bool
    var restarts: Int = 1
    var momentum: Double?
    var diversity: InputDiversity?

    func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let count = images.shape[0]
        let height = images.shape[2], width = images.shape[3]
        let fullBall = PerturbationBall(center: images, norm: context.norm, epsilon: context.epsilon)
        var rows = [Tensor?](repeating: nil, count: count)
        var bestLoss = [Float](repeating: -.infinity, count: count)
        var fooled = [Bool](repeating: false, count: count)

        for restart in 0..<Swift.max(restarts, 1) {
            guard
                var active = ActiveExamples(
                    fooled: fooled, stopOnSuccess: context.stopOnSuccess, ball: fullBall, labels: labels,
                    targets: context.targets)
            else { break }
            var generators = exampleGenerators(active.indices.map { context.seeds[$0] }, stream: UInt64(restart))
            var batchGenerator = SeededGenerator(
                seed: AttackSeed.mix(active.indices.map { context.seeds[$0] } + [UInt64(restart), 0xD1]))
            let center = active.ball.center
            var x =
                randomStart
                ? context.norm.randomStart(around: center, epsilon: context.epsilon, generators: &generators) : center
            var velocity: Tensor?

            // The final iterate needs no forward pass here when no later restart depends on its
            // success or loss: `perturb` judges the returned examples anyway.
            let lastRestart = restart == Swift.max(restarts, 1) - 1
            let judgedByCaller = lastRestart && (context.stopOnSuccess || restarts <= 1)
            for step in 0...steps {
                let isFinal = step == steps
                if isFinal && judgedByCaller {
                    for (row, example) in active.indices.enumerated()
                    where !(context.keepsFooledIterate && fooled[example]) {
                        rows[example] = x[row].cloned()
                    }
                    break
                }
                let transform = isFinal ? nil : diversity?.transform(height: height, width: width, using: &batchGenerator)
                let evaluation = evaluateLoss(
                    x, labels: active.labels, targets: active.targets, target: target, loss: loss, confidence: confidence,
                    transform: transform, gradient: !isFinal)
                var lossValues = evaluation.loss
                var gradient = evaluation.gradient
                if transform == nil {
                    let keep = recordFirstSuccesses(
                        attackSucceeded(evaluation.decision, labels: active.labels, targets: active.targets), at: x,
                        active: active.indices, fooled: &fooled, rows: &rows, stopOnSuccess: context.stopOnSuccess)
                    if keep.count < active.indices.count {
                        if keep.isEmpty { break }
                        let kept = active.keep(keep)
                        x = x.indexSelected(alongAxis: 0, indices: kept)
                        velocity = velocity?.indexSelected(alongAxis: 0, indices: kept)
                        gradient = gradient?.indexSelected(alongAxis: 0, indices: kept)
                        lossValues = lossValues.indexSelected(alongAxis: 0, indices: kept)
                    }
                }
                if isFinal {
                    // An example fooled at some iterate keeps that iterate (unless crafting to transfer).
                    let finalLoss = lossValues.scalars(as: Float.self)
                    for (row, example) in active.indices.enumerated()
                    where !(context.keepsFooledIterate && fooled[example]) {
                        if finalLoss[row] > bestLoss[example] || rows[example] == nil {
                            bestLoss[example] = finalLoss[row]
                            rows[example] = x[row].cloned()
                        }
                    }
                    break
                }
                guard var direction = gradient else { break }
                withoutGradients {
                    if let momentum {
                        let scale = direction.abs().flattened(startAxis: 1).mean(alongAxes: [1])
                            .reshaped(to: [direction.shape[0]] + Array(repeating: 1, count: direction.rank - 1))
                        let normalized = direction / (scale + 1e-12)
                        velocity = velocity.map { $0 * momentum + normalized } ?? normalized
                        direction = velocity!
                    }
                    x = active.ball.project(x + context.norm.steepestAscent(direction) * stepSize)
                }
            }
        }
        return Tensor.stack(rows.enumerated().map { $0.element ?? images[$0.offset] }, alongAxis: 0)
    }
}

/// Kurakin et al.'s iteration count for the basic iterative method, min(255ε + 4, 1.25·255ε) for
/// ε in [0, 1] pixel units (at least 1).
func kurakinSteps(epsilon: Double) -> Int {
    Swift.max(1, Int(Swift.min(255 * epsilon + 4, 1.25 * 255 * epsilon).rounded(.down)))
}

/// The total path length α·T of Kurakin et al.'s schedule, min(ε + 4/255, 1.25ε), spread over
/// `steps` steps when the step count is set explicitly.
func kurakinStepSize(epsilon: Double, steps: Int?) -> Double {
    guard let steps else { return 1.0 / 255 }
    return Swift.min(epsilon + 4.0 / 255, 1.25 * epsilon) / Double(steps)
}
