import EDLCMCore
import EDLCMData
import EDLCMModels
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

    public init(
        alpha: Double, beta: Double, gradientAlpha: Double, h: Double, direction: ProbeDirection,
        sharing: ProbeSharing, absoluteCosine: Bool, warmupEpochs: Double
    ) {
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
    /// Backpropagate member by member (see ``accumulateGradients(ensemble:batch:context:)``).
    public let lowMemory: Bool

    public init(options: EDLCMOptions, lowMemory: Bool = false) {
        self.options = options
        self.lowMemory = lowMemory
    }

    /// The warm-up factor in [0, 1] at a point of training.
    func warmup(_ context: TrainingContext) -> Double {
        guard options.warmupEpochs > 0 else { return 1 }
        let epochs = Double(context.epoch) + Double(context.step) / Double(max(context.stepsPerEpoch, 1))
        return min(1, epochs / options.warmupEpochs)
    }

    /// Whether any term needs the HVPs dₘ (α or β set), and any the input gradients gₘ.
    var needsProducts: Bool { options.alpha != 0 || options.beta != 0 }
    var needsGradients: Bool { needsProducts || options.gradientAlpha != 0 }

    /// The finite-difference step at a point of training (ramped from 10 % by the warm-up).
    func step(factor: Double) -> Double { options.h * (0.1 + 0.9 * factor) }

    /// L_r, L_g and the first-order dispersion (those with a non-zero weight) on the members' HVPs
    /// `products` and input gradients `gradients`, weighted for the warm-up `factor`.
    func regulariserTerms(products: [Tensor], gradients: [Tensor], factor: Double) -> [LossTerm] {
        var terms: [LossTerm] = []
        if options.beta != 0 {
            terms.append(LossTerm(name: "curvature", value: meanSquaredNorm(products), weight: options.beta * factor))
        }
        if options.alpha != 0 && products.count > 1 {
            terms.append(
                LossTerm(
                    name: "dispersion", value: meanPairwiseCosine(products, absolute: options.absoluteCosine),
                    weight: options.alpha * factor))
        }
        if options.gradientAlpha != 0 && gradients.count > 1 {
            terms.append(
                LossTerm(
                    name: "gradient_dispersion", value: meanPairwiseCosine(gradients, absolute: options.absoluteCosine),
                    weight: options.gradientAlpha * factor))
        }
        return terms
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        guard needsGradients else {
            return BaselineObjective().loss(ensemble: ensemble, batch: batch, context: context)
        }
        let factor = warmup(context)
        let probe = HessianProbe(
            ensemble: ensemble, images: batch.images, labels: batch.labels, h: step(factor: factor), direction: options.direction,
            sharing: options.sharing, createGraph: true, needProducts: needsProducts)
        let terms =
            [LossTerm(name: "ce", value: memberCrossEntropySum(probe.logits, batch.labels))]
            + regulariserTerms(products: probe.products, gradients: probe.gradients, factor: factor)
        return ObjectiveOutput(terms: terms, memberLogits: probe.logits)
    }

    public func accumulateGradients(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        guard needsGradients else {
            return BaselineObjective().accumulateGradients(ensemble: ensemble, batch: batch, context: context)
        }
        guard lowMemory else {
            let output = loss(ensemble: ensemble, batch: batch, context: context)
            ensemble.backpropagate(output.total)
            return output
        }
        return accumulateMemberByMember(ensemble: ensemble, batch: batch, context: context)
    }

    /// The low-memory step: the same gradients as one backward pass of the total, holding one
    /// member's graph at a time.
    ///
    /// L_r, L_g and the first-order dispersion couple the members only through the vectors dₘ and
    /// gₘ, so ∂L/∂θₘ = ∂CEₘ/∂θₘ + ⟨∂L/∂dₘ, ∂dₘ/∂θₘ⟩ + ⟨∂L/∂gₘ, ∂gₘ/∂θₘ⟩. A first pass computes
    /// every dₘ and gₘ without a graph (and the probe directions, drawn once), then the
    /// coefficients ∂L/∂dₘ and ∂L/∂gₘ; the batch-norm running statistics it touched are put back.
    /// Then each member's forward and input-gradient passes are rebuilt with the graph, and
    /// CEₘ + ⟨∂L/∂dₘ, dₘ⟩ + ⟨∂L/∂gₘ, gₘ⟩ is backpropagated before the next member's graph exists.
    func accumulateMemberByMember(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let factor = warmup(context)
        let h = step(factor: factor)
        let labels = batch.labels
        let buffers = ensemble.namedBuffers().map { $0.tensor.cloned() }
        // Only detached values leave this closure, so the first pass's graphs are freed here.
        let (productValues, gradientValues, directions) = { () -> ([Tensor], [Tensor], [Tensor]) in
            let probe = HessianProbe(
                ensemble: ensemble, images: batch.images, labels: labels, h: h, direction: options.direction,
                sharing: options.sharing, createGraph: false, needProducts: needsProducts)
            return (
                probe.products.map { $0.detached() }, probe.gradients.map { $0.detached() },
                probe.directions.map { $0.detached() }
            )
        }()
        withoutGradients { for (buffer, saved) in zip(ensemble.namedBuffers().map(\.tensor), buffers) { buffer.copy_(saved) } }
        // The regularisers on leaf copies of dₘ and gₘ, and their gradients.
        let products = productValues.map { $0.requiringGrad() }
        let gradients = gradientValues.map { $0.requiringGrad() }
        let terms = regulariserTerms(products: products, gradients: gradients, factor: factor)
        var productCoefficients: [Tensor?] = Array(repeating: nil, count: products.count)
        var gradientCoefficients: [Tensor?] = Array(repeating: nil, count: gradients.count)
        if !terms.isEmpty {
            let regulariser = sumOfTensors(terms.map { $0.value * $0.weight })
            let leaves = products + gradients
            let coefficients = grad(of: [regulariser], withRespectTo: leaves, allowUnused: true)
            productCoefficients = Array(coefficients[0..<products.count])
            gradientCoefficients = Array(coefficients[products.count...])
        }
        // Member by member: rebuild the graph, backpropagate, let it go.
        var losses: [Tensor] = [], logits: [Tensor] = []
        for (index, member) in ensemble.members.enumerated() {
            let x = batch.images.detached().requiringGrad()
            let (memberLogits, memberGradients) = HessianProbe.inputGradients(
                of: [member], at: x, labels: labels, createGraph: true)
            let crossEntropyLoss = crossEntropy(logits: memberLogits[0], labels: labels)
            var surrogate = crossEntropyLoss
            if let coefficient = gradientCoefficients[index] {
                surrogate = surrogate + (coefficient * memberGradients[0]).sum()
            }
            if needsProducts, let coefficient = productCoefficients[index] {
                let product = HessianProbe.product(
                    of: member, images: batch.images, labels: labels, h: h, direction: directions[index],
                    gradient: memberGradients[0], createGraph: true)
                surrogate = surrogate + (coefficient * product).sum()
            }
            member.backpropagate(surrogate)
            losses.append(crossEntropyLoss.detached())
            logits.append(memberLogits[0].detached())
        }
        let detachedTerms =
            [LossTerm(name: "ce", value: sumOfTensors(losses))]
            + terms.map { LossTerm(name: $0.name, value: $0.value.detached(), weight: $0.weight) }
        return ObjectiveOutput(terms: detachedTerms, memberLogits: logits)
    }
}
