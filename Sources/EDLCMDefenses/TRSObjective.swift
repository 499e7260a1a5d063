import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// The settings of TRS.
public struct TRSOptions: Codable, Equatable, Sendable {
    /// λ_a: weight of the gradient similarity L_sim.
    public var lambdaA: Double
    /// λ_b: weight of the smoothness L_smooth.
    public var lambdaB: Double
    /// δ₀: the search radius of the smoothness batch in the first epoch.
    public var deltaStart: Double
    /// δ_M: the radius it ramps towards, linearly over the epochs.
    public var deltaEnd: Double
    /// Steps of the search (each of size δ/3, from a random start).
    public var steps: Int
    /// The gradients both terms are computed from: the authors' code's (batch-mean) or the paper's
    /// formulas' (per-example).
    public var gradients: InputGradientScale

    public init(
        lambdaA: Double, lambdaB: Double, deltaStart: Double, deltaEnd: Double, steps: Int = 6,
        gradients: InputGradientScale = .batchMean
    ) {
        self.lambdaA = lambdaA
        self.lambdaB = lambdaB
        self.deltaStart = deltaStart
        self.deltaEnd = deltaEnd
        self.steps = steps
        self.gradients = gradients
    }

    /// 2/B²: the authors' L_smooth over the per-example one for a batch of B images. Their code
    /// (train/Empirical/trainer.py, TRS_Trainer, lines 106–114, with `Magnitude` in
    /// utils/Empirical/utils_ensemble.py line 144) differentiates the batch-mean cross-entropy, whose
    /// input gradient is the per-example one over B, and takes twice the mean squared norm.
    public static func batchMeanSmoothnessFactor(batchSize: Int) -> Double {
        2 / (Double(batchSize) * Double(batchSize))
    }

    /// δ for an epoch: δ₀ + (δ_M − δ₀)·epoch/epochs (0-based epoch, per epoch as in the authors'
    /// code, so the last epoch runs just below δ_M).
    public func delta(epoch: Int, totalEpochs: Int) -> Double {
        deltaStart + (deltaEnd - deltaStart) * Double(epoch) / Double(max(totalEpochs, 1))
    }
}

/// TRS, the transferability-reduced smooth ensemble: Yang, Li, Xu, Zuo, Chen, Rubinstein, Zhou,
/// Zhang and Li, "TRS: Transferability Reduced Ensemble via Promoting Gradient Diversity and Model
/// Smoothness", NeurIPS 2021:
///
///     L = Σₘ CE(zₘ, y) + λ_a·L_sim + λ_b·L_smooth
///     L_sim    = mean over pairs i < j and examples b of |cos(gᵢ(x_b), gⱼ(x_b))|
///     L_smooth = mean over members m and examples b of ‖∇ₓℓₘ(x̃_b)‖²
///
/// with gₘ the per-example input gradient of member m's summed cross-entropy ℓₘ (kept in the graph)
/// and x̃ the smoothness batch: the first ⌊B/2⌋ examples clean, the others moved by
/// ``TrainingPerturbation`` to the point of the δ-ball (L∞) that maximises Σₘ‖∇ₓℓₘ‖² (6 steps of δ/3
/// from a uniform random start, as in the authors' code), δ ramping from δ₀ to δ_M over training
/// (``TRSOptions/delta(epoch:totalEpochs:)``). The models stay in training mode throughout, as in
/// that code. Any number of members works (the authors' code hard-codes three).
///
/// By default both terms are computed as the authors' code computes them
/// (``InputGradientScale/batchMean``): from the gradients of the batch-mean loss, gₘ/B, with
/// PyTorch's cosine eps 10⁻⁸ in L_sim and twice the mean squared norm in L_smooth, which is 2/B²
/// times the per-example form above, so the authors' λ_b keeps the size they tuned it at. The
/// per-example form is an option (``InputGradientScale/perExample``, whose unset λ_b the trainer
/// scales by 2/B² so both weigh the same at the run's batch size). Defaults per dataset:
/// ``PaperDefaults``.
///
/// Logged terms: `ce` (weight 1), `similarity` (L_sim, weight λ_a), `smoothness` (L_smooth in the
/// chosen scale, weight λ_b). Epoch setting: `trs_delta`.
public struct TRSObjective: EnsembleObjective {
    public let options: TRSOptions

    public init(options: TRSOptions) {
        self.options = options
    }

    public func epochSettings(epoch: Int, totalEpochs: Int, ensemble: Ensemble) -> [String: Double] {
        ["trs_delta": options.delta(epoch: epoch, totalEpochs: totalEpochs)]
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        let logits: [Tensor]
        var similarity: LossTerm?
        if options.lambdaA != 0 {
            let input = batch.images.detached().requiringGrad()
            let probe = HessianProbe.inputGradients(of: ensemble.members, at: input, labels: batch.labels, createGraph: true)
            logits = probe.logits
            similarity = LossTerm(
                name: "similarity",
                value: meanPairwiseCosine(
                    options.gradients.scaled(probe.gradients), absolute: true, eps: options.gradients.cosineEps),
                weight: options.lambdaA)
        } else {
            logits = ensemble.memberLogits(batch.images)
        }
        var terms = [LossTerm(name: "ce", value: memberCrossEntropySum(logits, batch.labels))]
        if let similarity { terms.append(similarity) }
        if options.lambdaB != 0 {
            let delta = options.delta(epoch: context.epoch, totalEpochs: context.totalEpochs)
            let smoothBatch = smoothnessBatch(members: ensemble.members, images: batch.images, labels: batch.labels, delta: delta)
            let smoothGradients = HessianProbe.inputGradients(
                of: ensemble.members, at: smoothBatch.requiringGrad(), labels: batch.labels,
                createGraph: true
            ).gradients
            var smoothness = meanSquaredNorm(smoothGradients)
            if options.gradients == .batchMean {
                smoothness = smoothness * TRSOptions.batchMeanSmoothnessFactor(batchSize: batch.images.shape[0])
            }
            terms.append(LossTerm(name: "smoothness", value: smoothness, weight: options.lambdaB))
        }
        return ObjectiveOutput(terms: terms, memberLogits: logits)
    }

    /// x̃: the first ⌊B/2⌋ images as they are, the rest moved within δ to maximise Σₘ‖∇ₓℓₘ‖².
    func smoothnessBatch(members: [any Classifier], images: Tensor, labels: Tensor, delta: Double) -> Tensor {
        let count = images.shape[0]
        let clean = count / 2
        guard delta > 0, clean < count else { return images.detached() }
        let search = TrainingPerturbation(
            epsilon: delta, stepSize: delta / 3, steps: options.steps, randomStart: true, goal: .maximize)
        let targets = labels[clean..<count]
        let moved = search.perturb(images[clean..<count]) { x in
            sumOfTensors(
                HessianProbe.inputGradients(of: members, at: x, labels: targets, createGraph: true).gradients.map {
                    $0.squared().sum()
                })
        }
        return Tensor.concatenate([images[0..<clean].detached(), moved], alongAxis: 0)
    }
}
