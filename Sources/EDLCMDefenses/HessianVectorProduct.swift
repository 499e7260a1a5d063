import EDLCMCore
import EDLCMData
import EDLCMModels
import Foundation
import Torch

/// How the probe direction z of the finite-difference Hessian-vector product is chosen.
public enum ProbeDirection: String, Codable, CaseIterable, Sendable {
    /// z = sign(∇ₓℓ)/‖sign(∇ₓℓ)‖, detached: the direction of CURE (Moosavi-Dezfooli et al., CVPR 2019).
    case gradientSign = "gradient-sign"
    /// Random ±1 entries, normalised to unit length per example.
    case rademacher
    /// Random normal entries, normalised to unit length per example.
    case gaussian
}

/// Whether all members share one probe direction or each gets its own.
public enum ProbeSharing: String, Codable, CaseIterable, Sendable {
    /// One z for all members (for gradient-sign: from the ensemble's loss).
    case shared
    /// Each member's own z (for gradient-sign: from its own loss).
    case perMember = "per-member"
}

/// Input gradients and finite-difference input Hessian-vector products of ensemble members.
///
/// For member m with summed cross-entropy ℓₘ over the batch (so that each example's input gradient
/// is its own, whatever the batch size):
///
///     gₘ = ∇ₓℓₘ(x),   dₘ = (∇ₓℓₘ(x + h·z) − ∇ₓℓₘ(x)) / h ≈ Hₘ z,
///
/// where Hₘ is the Hessian of ℓₘ with respect to the input and z has unit L2 norm per example.
/// With `createGraph` both gradients stay in the autograd graph (double backpropagation), so
/// losses built from gₘ and dₘ train the weights.
public struct HessianProbe {
    /// Each member's input gradient gₘ, [B, C, H, W].
    public let gradients: [Tensor]
    /// Each member's finite-difference HVP dₘ, [B, C, H, W].
    public let products: [Tensor]
    /// Each member's logits on the clean batch.
    public let logits: [Tensor]
    /// The probe directions used (one per member; the same tensor when shared).
    public let directions: [Tensor]

    /// Computes gradients and HVPs for every member on one batch.
    ///
    /// - Parameters:
    ///   - ensemble: the members (their training mode is left as it is).
    ///   - images: the batch in [0, 1] pixel space.
    ///   - labels: int64 labels.
    ///   - h: the finite-difference step (an L2 distance in pixel space, since ‖z‖ = 1).
    ///   - direction: how z is chosen.
    ///   - sharing: one z for all members or one each.
    ///   - createGraph: keep everything differentiable (training) or not (analysis).
    ///   - needProducts: skip the second gradient when only gₘ is needed.
    public init(
        ensemble: Ensemble, images: Tensor, labels: Tensor, h: Double, direction: ProbeDirection,
        sharing: ProbeSharing, createGraph: Bool, needProducts: Bool = true
    ) {
        let x = images.detached().requiringGrad()
        let (logits, gradients) = Self.inputGradients(of: ensemble.members, at: x, labels: labels, createGraph: createGraph)
        self.logits = logits
        self.gradients = gradients
        guard needProducts else {
            products = []
            directions = []
            return
        }
        let directions: [Tensor]
        switch (direction, sharing) {
        case (.gradientSign, .shared):
            let ensembleGradient = Self.ensembleGradient(
                ensemble: ensemble, x: x, logits: logits, memberGradients: gradients, labels: labels)
            directions = Array(repeating: Self.unitPerExample(ensembleGradient.sign()), count: logits.count)
        case (.gradientSign, .perMember):
            directions = gradients.map { Self.unitPerExample($0.detached().sign()) }
        case (.rademacher, _), (.gaussian, _):
            let draw = { () -> Tensor in
                let noise =
                    direction == .gaussian ? images.randnLike() : (images.randLike() .< 0.5).converted(to: images.dtype) * 2 - 1
                return Self.unitPerExample(noise)
            }
            directions = sharing == .shared ? Array(repeating: draw(), count: logits.count) : logits.map { _ in draw() }
        }
        self.directions = directions
        products = zip(ensemble.members, zip(directions, gradients)).map { member, pair in
            Self.product(
                of: member, images: images, labels: labels, h: h, direction: pair.0, gradient: pair.1, createGraph: createGraph)
        }
    }

    /// One member's finite-difference HVP d = (∇ₓℓ(x + h·z) − g)/h, with g = ∇ₓℓ(x) already
    /// computed (ℓ the summed cross-entropy; the shifted pass in the member's current mode).
    static func product(
        of member: any Classifier, images: Tensor, labels: Tensor, h: Double, direction z: Tensor,
        gradient g: Tensor, createGraph: Bool
    ) -> Tensor {
        let shifted = (images.detached() + h * z).requiringGrad()
        let shiftedLoss = crossEntropy(logits: member(shifted), labels: labels, reduction: .sum)
        let shiftedGradient = grad(of: shiftedLoss, withRespectTo: shifted, createGraph: createGraph)
        return (shiftedGradient - g) / h
    }

    /// The input gradient of the ensemble's loss −log p̄_y (detached).
    ///
    /// For the log-averaged softmax it needs no backward pass: with p̄ = (1/M) Σₘ pₘ,
    /// ∇ₓ(−log p̄_y) = Σₘ wₘ ∇ₓ(−log pₘ,y) with per-example weights wₘ = pₘ,y / Σₖ pₖ,y, and the
    /// member gradients are already computed. For averaged logits it is one extra backward pass.
    static func ensembleGradient(ensemble: Ensemble, x: Tensor, logits: [Tensor], memberGradients: [Tensor], labels: Tensor)
        -> Tensor
    {
        switch ensemble.output {
        case .averagedProbabilities:
            let index = labels.unsqueezed(axis: 1)
            let trueClass = logits.map { $0.detached().softmax(alongAxis: 1).gathered(alongAxis: 1, indices: index) }
            let total = trueClass.dropFirst().reduce(trueClass[0], +)
            let shape = [-1] + Array(repeating: 1, count: x.rank - 1)
            return zip(trueClass, memberGradients).map { weight, gradient in
                (weight / total).reshaped(to: shape) * gradient.detached()
            }
            .reduce(x.zerosLike(), +)
        case .averagedLogits:
            let loss = crossEntropy(logits: ensemble.combine(logits), labels: labels, reduction: .sum)
            return grad(of: loss, withRespectTo: x, retainGraph: true).detached()
        }
    }

    /// Each member's logits and per-example input gradient gₘ = ∇ₓℓₘ of its summed cross-entropy
    /// ℓₘ = Σ_b CE(zₘ(x_b), y_b), so that every example's gradient is its own, whatever the batch size.
    ///
    /// - Parameters:
    ///   - members: the networks (their training mode is left as it is).
    ///   - input: the batch, already requiring gradients (the gradients are taken with respect to
    ///     this very tensor, so a caller can differentiate through them with respect to it).
    ///   - labels: int64 labels.
    ///   - createGraph: keep the gradients differentiable (double backpropagation).
    public static func inputGradients(
        of members: [any Classifier], at input: Tensor, labels: Tensor,
        createGraph: Bool
    ) -> (logits: [Tensor], gradients: [Tensor]) {
        let logits = members.map { $0(input) }
        let gradients = logits.map {
            grad(
                of: crossEntropy(logits: $0, labels: labels, reduction: .sum), withRespectTo: input, retainGraph: true,
                createGraph: createGraph)
        }
        return (logits, gradients)
    }

    /// Scales each example to unit L2 norm (examples that are all zero stay zero).
    package static func unitPerExample(_ t: Tensor) -> Tensor {
        let norms = t.flattened(startAxis: 1).norm(p: 2, alongAxes: [1], keepingDims: true).clamped(min: 1e-12)
        return (t.flattened(startAxis: 1) / norms).reshaped(to: t.shape)
    }
}

/// The scale of the input gradients that a gradient-based baseline (TRS, GAL) computes its terms
/// from, chosen with `--trs-gradients` and `--gal-gradients`.
public enum InputGradientScale: String, SettingChoice {
    /// As the authors' code: gradients of the batch-mean cross-entropy, ∇ₓ(1/B)Σ_b CE = gₘ/B, and
    /// their cosines by PyTorch's `F.cosine_similarity` with its default eps 10⁻⁸ (which shrinks the
    /// cosine of an example whose two gradients have ‖a‖·‖b‖ below 10⁻⁸).
    case batchMean = "batch-mean"
    /// Per-example gradients gₘ of the summed cross-entropy, as the papers write the terms
    /// (cosines with eps 10⁻¹²).
    case perExample = "per-example"

    /// The factor from per-example gradients to these gradients for a batch of `batchSize`.
    public func factor(batchSize: Int) -> Double {
        self == .batchMean ? 1 / Double(batchSize) : 1
    }

    /// The eps of the cosines.
    public var cosineEps: Double { self == .batchMean ? 1e-8 : 1e-12 }

    /// Per-example gradients (``HessianProbe/inputGradients(of:at:labels:createGraph:)``) at this scale.
    public func scaled(_ gradients: [Tensor]) -> [Tensor] {
        guard self == .batchMean, let first = gradients.first else { return gradients }
        let factor = factor(batchSize: first.shape[0])
        return gradients.map { $0 * factor }
    }
}

/// Each example's cos(aᵢ, bᵢ), each flattened per example: a [B] tensor.
func exampleCosines(_ a: Tensor, _ b: Tensor, eps: Double = 1e-12) -> Tensor {
    cosineSimilarity(a.flattened(startAxis: 1), b.flattened(startAxis: 1), alongAxis: 1, eps: eps)
}

/// The mean over examples of cos(aᵢ, bᵢ), each flattened per example.
package func meanCosine(_ a: Tensor, _ b: Tensor, absolute: Bool = false, eps: Double = 1e-12) -> Tensor {
    let cosines = exampleCosines(a, b, eps: eps)
    return (absolute ? cosines.abs() : cosines).mean()
}

/// The mean over member pairs i < j of the mean per-example cosine between their tensors.
func meanPairwiseCosine(_ tensors: [Tensor], absolute: Bool = false, eps: Double = 1e-12) -> Tensor {
    var terms: [Tensor] = []
    for i in 0..<tensors.count {
        for j in (i + 1)..<tensors.count { terms.append(meanCosine(tensors[i], tensors[j], absolute: absolute, eps: eps)) }
    }
    precondition(!terms.isEmpty, "meanPairwiseCosine: needs at least two members")
    return terms.dropFirst().reduce(terms[0], +) / Double(terms.count)
}

/// The mean over members and examples of ‖t‖², each flattened per example.
func meanSquaredNorm(_ tensors: [Tensor]) -> Tensor {
    let norms = tensors.map { $0.flattened(startAxis: 1).squared().sum(alongAxis: 1).mean() }
    return norms.dropFirst().reduce(norms[0], +) / Double(tensors.count)
}

extension ProbeDirection: SettingChoice {}
extension ProbeSharing: SettingChoice {}

/// The finite-difference Hessian-vector products of EDLCM's and CURE's regularisers and of the
/// HVP transferability metric (`analyze`): one declaration, so that the metric measures what the
/// training penalises unless told otherwise.
public struct HVPSettings: SettingsGroup {
    @Setting(
        "Finite-difference step h of the Hessian-vector products (EDLCM/CURE training, the HVP metric), an L2 distance in [0, 1] pixel space.",
        .positive)
    public var h = 0.5
    @Setting("Probe direction z: gradient-sign, rademacher or gaussian.") public var direction: ProbeDirection = .gradientSign
    @Setting("One probe for all members (shared, from the ensemble loss) or one each (per-member).", key: "probe")
    public var sharing: ProbeSharing = .shared

    public init() {}
}

/// Whether EDLCM's and CURE's steps hold one member's graph at a time (training and `edlcm bench`).
public struct MemorySettings: SettingsGroup {
    @Setting("EDLCM/CURE: hold one member's graph at a time (same gradients, less peak memory, about a third more compute).")
    public var lowMemory = false

    public init() {}
}
