import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// The norm that bounds a perturbation: the threat model of an attack.
public enum PerturbationNorm: String, SettingChoice {
    /// ‖δ‖∞ ≤ ε: every pixel moves by at most ε.
    case linf
    /// ‖δ‖₂ ≤ ε over all pixels of an image.
    case l2

    /// The radius that makes the ε-ball hold the whole [0, 1] box for images of `featureCount`
    /// pixels (1 for L∞, √featureCount for L2): an "unbounded" attack.
    public func unboundedRadius(featureCount: Int) -> Double {
        switch self {
        case .linf: 1
        case .l2: Double(featureCount).squareRoot()
        }
    }

    /// Each example's norm of `delta` [N, …], as a tensor [N].
    func norms(_ delta: Tensor) -> Tensor {
        let flat = delta.flattened(startAxis: 1)
        switch self {
        case .linf: return flat.abs().max(alongAxis: 1).values
        case .l2: return flat.norm(p: 2, alongAxes: [1])
        }
    }

    /// The unit-norm direction of steepest ascent for a gradient: sign(g) for L∞, g/‖g‖₂ for L2.
    func steepestAscent(_ gradient: Tensor) -> Tensor {
        switch self {
        case .linf: return gradient.sign()
        case .l2: return normalizedL2(gradient)
        }
    }

    /// Per example a random direction of unit norm, [N, rest…]: L∞ u/‖u‖∞ with u ~ U(−1, 1) per
    /// pixel, L2 a Gaussian direction u/‖u‖₂ (the starting points of APGD, FAB and MORA).
    func unitDirections(_ generators: inout [SeededGenerator], rowShape: [Int], on device: Device) -> Tensor {
        switch self {
        case .linf:
            let u = perExampleTensor(&generators, rowShape: rowShape, on: device) { Float($0.nextUnit() * 2 - 1) }
            return u / (norms(u).reshaped(to: [generators.count] + rowShape.map { _ in 1 }) + 1e-12)
        case .l2:
            return normalizedL2(perExampleTensor(&generators, rowShape: rowShape, on: device) { Float($0.nextGaussian()) })
        }
    }

    /// A random start inside the ε-ball around `images`, clamped to [0, 1].
    ///
    /// L∞: δ ~ U(−ε, ε) per pixel (Madry et al. 2018). L2: a Gaussian direction scaled to a radius
    /// drawn from U(0, ε), as torchattacks' PGDL2 does.
    func randomStart(around images: Tensor, epsilon: Double, generators: inout [SeededGenerator]) -> Tensor {
        let rowShape = Array(images.shape.dropFirst())
        switch self {
        case .linf:
            let delta = perExampleTensor(&generators, rowShape: rowShape, on: images.device) {
                Float(($0.nextUnit() * 2 - 1) * epsilon)
            }
            return (images + delta).clamped(to: 0...1)
        case .l2:
            let direction = normalizedL2(
                perExampleTensor(&generators, rowShape: rowShape, on: images.device) { Float($0.nextGaussian()) })
            let radii = perExampleTensor(&generators, rowShape: rowShape.map { _ in 1 }, on: images.device) {
                Float($0.nextUnit() * epsilon)
            }
            return (images + direction * radii).clamped(to: 0...1)
        }
    }
}

/// Each example of `tensor` [N, …] divided by its L2 norm (zero rows stay zero).
func normalizedL2(_ tensor: Tensor) -> Tensor {
    let shape = [tensor.shape[0]] + Array(repeating: 1, count: tensor.rank - 1)
    let norms = tensor.flattened(startAxis: 1).norm(p: 2, alongAxes: [1]).reshaped(to: shape)
    return tensor / (norms + 1e-12)
}

/// Where an attack may move each example: the ε-ball of a norm around the clean images,
/// intersected with the [0, 1] pixel box.
///
/// For L∞ the intersection is a box, so projecting is one clamp against precomputed bounds; for L2
/// the perturbation is rescaled onto the ball and then clamped to [0, 1] (clamping moves every
/// pixel towards the clean image, so it cannot leave the ball).
package struct PerturbationBall {
    let center: Tensor
    let norm: PerturbationNorm
    let epsilon: Double
    /// max(x − ε, 0) and min(x + ε, 1), for L∞.
    private let lower: Tensor?
    private let upper: Tensor?

    package init(center: Tensor, norm: PerturbationNorm, epsilon: Double) {
        self.center = center
        self.norm = norm
        self.epsilon = epsilon
        if norm == .linf {
            lower = (center - epsilon).clamped(min: 0)
            upper = (center + epsilon).clamped(max: 1)
        } else {
            lower = nil
            upper = nil
        }
    }

    /// The point of the ball nearest to `point` (for L2: radial rescaling, then the box).
    package func project(_ point: Tensor) -> Tensor {
        switch norm {
        case .linf:
            return point.clamped(min: lower!, max: upper!)
        case .l2:
            let delta = point - center
            let shape = [delta.shape[0]] + Array(repeating: 1, count: delta.rank - 1)
            let norms = delta.flattened(startAxis: 1).norm(p: 2, alongAxes: [1]).reshaped(to: shape)
            let factor = (epsilon / (norms + 1e-12)).clamped(max: 1)
            return (center + delta * factor).clamped(to: 0...1)
        }
    }

    /// The same ball restricted to the examples at `rows` (an int64 tensor).
    func selecting(_ rows: Tensor) -> PerturbationBall {
        PerturbationBall(
            center: center.indexSelected(alongAxis: 0, indices: rows), norm: norm, epsilon: epsilon,
            lower: lower?.indexSelected(alongAxis: 0, indices: rows), upper: upper?.indexSelected(alongAxis: 0, indices: rows))
    }

    private init(center: Tensor, norm: PerturbationNorm, epsilon: Double, lower: Tensor?, upper: Tensor?) {
        self.center = center
        self.norm = norm
        self.epsilon = epsilon
        self.lower = lower
        self.upper = upper
    }
}
