import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// The training-time search: L∞ projected gradient steps on a loss of the input, shared by the
/// defenses that perturb their training inputs (TRS's smoothness batch, adversarial training and
/// DVERGE's feature distillation).
///
/// This is not an evaluation attack (those live in `Attacks/`, with their own sanity checks): it
/// is the inner loop of a training objective, run once per batch, with exactly the settings its
/// paper trains with. From x₀ (plus, with `randomStart`, uniform noise in [−ε, ε]):
///
///     xₜ₊₁ = clip_[0,1]( Π_{‖x − x₀‖∞ ≤ ε}( xₜ ± η·sign(dₜ) ) ),
///     dₜ = ∇ₓL(xₜ)                         (momentum μ = 0: projected gradient descent/ascent),
///     dₜ = μ·dₜ₋₁ + ∇ₓL(xₜ)/‖∇ₓL(xₜ)‖₁     (μ > 0: the per-example L1-normalised momentum of
///                                           DVERGE's distillation, MI-FGSM style),
///
/// with + to maximise L and − to minimise it. The models are used in whatever mode the caller
/// left them (each defense sets the mode its paper uses); the loss's gradient flows only to the
/// input, never into the parameters' `grad`.
public struct TrainingPerturbation: Sendable {
    /// Whether the search ascends or descends the loss.
    public enum Goal: Sendable {
        case maximize
        case minimize
    }

    /// ε: the L∞ radius around the clean input, in [0, 1] pixel units.
    public var epsilon: Double
    /// η: the size of each signed step.
    public var stepSize: Double
    /// The number of steps.
    public var steps: Int
    /// Start from a uniform random point of the ε-ball (libtorch's seeded generator) instead of x₀.
    public var randomStart: Bool
    public var goal: Goal
    /// μ: the decay of the accumulated L1-normalised gradient; 0 uses the raw gradient.
    public var momentum: Double

    public init(epsilon: Double, stepSize: Double, steps: Int, randomStart: Bool, goal: Goal, momentum: Double = 0) {
        self.epsilon = epsilon
        self.stepSize = stepSize
        self.steps = steps
        self.randomStart = randomStart
        self.goal = goal
        self.momentum = momentum
    }

    /// Searches the ε-ball around `images` for a point that maximises (or minimises) `loss`.
    ///
    /// - Parameters:
    ///   - images: the clean batch in [0, 1].
    ///   - loss: a scalar function of a batch that requires gradients; a sum (or mean) of
    ///     per-example terms, so that each example's step depends on its own term only.
    /// - Returns: the perturbed batch, detached, within ε of `images` (L∞) and within [0, 1].
    public func perturb(_ images: Tensor, loss: (Tensor) -> Tensor) -> Tensor {
        let clean = images.detached()
        let lower = (clean - epsilon).clamped(min: 0)
        let upper = (clean + epsilon).clamped(max: 1)
        var x = clean
        if randomStart {
            x = withoutGradients { (clean + (clean.randLike() * 2 - 1) * epsilon).clamped(min: lower, max: upper) }
        }
        var accumulated: Tensor?
        let sign = goal == .maximize ? 1.0 : -1.0
        for _ in 0..<steps {
            let point = x.detached().requiringGrad()
            let gradient = withGradients { grad(of: loss(point), withRespectTo: point) }
            x = withoutGradients {
                var direction = gradient
                if momentum > 0 {
                    let l1 = gradient.flattened(startAxis: 1).norm(p: 1, alongAxes: [1]).clamped(min: 1e-12)
                    let normalised = (gradient.flattened(startAxis: 1) / l1.unsqueezed(axis: 1)).reshaped(to: gradient.shape)
                    direction = accumulated.map { $0 * momentum + normalised } ?? normalised
                    accumulated = direction
                }
                return (x + direction.sign() * (sign * stepSize)).clamped(min: lower, max: upper)
            }
        }
        return x.detached()
    }
}
