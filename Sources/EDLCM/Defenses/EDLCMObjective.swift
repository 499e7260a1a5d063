import Foundation
import Torch

/// The settings of the EDLCM regularisers (and of CURE, their single-model ancestor).
public struct EDLCMOptions: Codable, Equatable, Sendable {
    /// α: weight of L_g, the dispersion of the members' HVP directions.
    public var alpha: Double
    /// β: weight of L_r, the members' curvature.
    public var beta: Double
    /// Weight of the optional first-order dispersion: mean pairwise cos of ∇ₓℓₘ.
    public var gradientAlpha: Double
    /// h: the finite-difference step (L2 in pixel space).
    public var h: Double
    public var direction: ProbeDirection
    public var sharing: ProbeSharing
    /// Use |cos| in the dispersion terms.
    public var absoluteCosine: Bool
    /// Ramp h (from 10 %) and the regulariser weights (from 0) linearly over these epochs.
    public var warmupEpochs: Double

    public init(alpha: Double, beta: Double, gradientAlpha: Double, h: Double, direction: ProbeDirection,
                sharing: ProbeSharing, absoluteCosine: Bool, warmupEpochs: Double) {
        self.alpha = alpha
        self.beta = beta
        self.gradientAlpha = gradientAlpha
        self.h = h
        self.direction = direction
        self.sharing = sharing
        self.absoluteCosine = absoluteCosine
        self.warmupEpochs = warmupEpochs
    }
}

/// EDLCM: Ensemble of Dispersed Low-Curvature Models (arXiv 2403.16405).
///
///     L = Σₘ CEₘ + β·L_r + α·L_g  (+ γ_g·L_grad, optional)
///     L_r    = mean over members and examples of ‖dₘ‖²          (low curvature)
///     L_g    = mean over pairs i < j of mean cos(dᵢ, dⱼ)          (dispersed curvature)
///     L_grad = mean over pairs i < j of mean cos(gᵢ, gⱼ)          (dispersed first-order gradients)
///
/// with dₘ the finite-difference input Hessian-vector product and gₘ the per-example input
/// gradient (see ``HessianProbe``), both kept in the graph. With one member and α = 0 this is CURE
/// (Moosavi-Dezfooli et al., "Robustness via curvature regularization, and vice versa", CVPR 2019).
public struct EDLCMObjective: EnsembleObjective {
    public let options: EDLCMOptions

    public init(options: EDLCMOptions) {
        self.options = options
    }

    /// The warm-up factor in [0, 1] at a point of training.
    func warmup(_ context: TrainingContext) -> Double {
        guard options.warmupEpochs > 0 else { return 1 }
        let epochs = Double(context.epoch) + Double(context.step) / Double(max(context.stepsPerEpoch, 1))
        return min(1, epochs / options.warmupEpochs)
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let factor = warmup(context)
        let needProducts = options.alpha != 0 || options.beta != 0
        let needGradients = needProducts || options.gradientAlpha != 0
        guard needGradients else {
            return BaselineObjective().loss(ensemble: ensemble, batch: batch, context: context)
        }
        let h = options.h * (0.1 + 0.9 * factor)
        let probe = HessianProbe(ensemble: ensemble, images: batch.images, labels: batch.labels, h: h, direction: options.direction,
                                 sharing: options.sharing, createGraph: true, needProducts: needProducts)
        var terms = [LossTerm(name: "ce", value: memberCrossEntropySum(probe.logits, batch.labels))]
        if options.beta != 0 {
            terms.append(LossTerm(name: "curvature", value: meanSquaredNorm(probe.products), weight: options.beta * factor))
        }
        if options.alpha != 0 && ensemble.members.count > 1 {
            terms.append(LossTerm(name: "dispersion", value: meanPairwiseCosine(probe.products, absolute: options.absoluteCosine), weight: options.alpha * factor))
        }
        if options.gradientAlpha != 0 && ensemble.members.count > 1 {
            terms.append(LossTerm(name: "gradient_dispersion", value: meanPairwiseCosine(probe.gradients, absolute: options.absoluteCosine),
                                  weight: options.gradientAlpha * factor))
        }
        return ObjectiveOutput(terms: terms, memberLogits: probe.logits)
    }

    public func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        guard options.alpha != 0 || options.beta != 0 || options.gradientAlpha != 0 else {
            return BaselineObjective().accumulateGradients(ensemble: ensemble, batch: batch, context: context)
        }
        let output = loss(ensemble: ensemble, batch: batch, context: context)
        output.total.backward()
        return output
    }
}
