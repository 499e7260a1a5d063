import EDLCMCore
import EDLCMData
import EDLCMModels
import Torch

/// How DVERGE chooses the block whose features it distils when no block is fixed, chosen with
/// `--dverge-layer-draw`.
public enum DVERGELayerDraw: String, SettingChoice {
    /// Every block in turn, one per batch, each round of blocks in a seeded random order, so that a
    /// short run covers every block evenly.
    case cycle
    /// One seeded uniform draw per epoch, as the authors' code (train/train_dverge.py).
    case epoch
}

/// The settings of DVERGE.
public struct DVERGEOptions: Codable, Equatable, Sendable {
    /// ε: the L∞ radius of the distilled images around the source images.
    public var epsilon: Double
    /// The step of the distillation search.
    public var stepSize: Double
    /// The number of distillation steps.
    public var steps: Int
    /// μ: momentum of the L1-normalised gradient (1 in the authors' code; 0 for plain signed steps).
    public var momentum: Double
    /// A fixed feature layer (0-based block index); nil draws one as `layerDraw` says.
    public var fixedLayer: Int?
    /// How the layer is chosen when none is fixed.
    public var layerDraw: DVERGELayerDraw
    /// The seed from which the layers are drawn.
    public var seed: UInt64

    public init(
        epsilon: Double, stepSize: Double, steps: Int, momentum: Double, fixedLayer: Int?, layerDraw: DVERGELayerDraw = .cycle,
        seed: UInt64
    ) {
        self.epsilon = epsilon
        self.stepSize = stepSize
        self.steps = steps
        self.momentum = momentum
        self.fixedLayer = fixedLayer
        self.layerDraw = layerDraw
        self.seed = seed
    }

    /// The feature layer of batch `step` (0-based) of `epoch`: the fixed one; with
    /// ``DVERGELayerDraw/cycle`` position t mod L of a seeded permutation of the L blocks drawn
    /// afresh for each round ⌊t/L⌋, t the run's global batch index; with ``DVERGELayerDraw/epoch``
    /// the epoch's draw. Either depends only on (seed, epoch, step), so a resumed run draws what an
    /// uninterrupted one did.
    public func layer(epoch: Int, step: Int, stepsPerEpoch: Int, layerCount: Int) -> Int {
        if let fixedLayer { return fixedLayer }
        switch layerDraw {
        case .epoch:
            return layer(epoch: epoch, layerCount: layerCount)
        case .cycle:
            let t = epoch * stepsPerEpoch + step
            var state = seed ^ (0xD1B5_4A32_D192_ED03 &* UInt64(t / layerCount + 1))
            var generator = SeededGenerator(seed: SeededGenerator.splitMix64(&state))
            var order = Array(0..<layerCount)
            for i in stride(from: layerCount - 1, to: 0, by: -1) { order.swapAt(i, generator.nextInt(below: i + 1)) }
            return order[t % layerCount]
        }
    }

    /// The layer of an epoch under ``DVERGELayerDraw/epoch`` (or the fixed one): a uniform draw
    /// from `0..<layerCount` that depends only on (seed, epoch).
    public func layer(epoch: Int, layerCount: Int) -> Int {
        if let fixedLayer { return fixedLayer }
        var state = seed ^ (0xA076_1D64_78BD_642F &* UInt64(epoch + 1))
        var generator = SeededGenerator(seed: SeededGenerator.splitMix64(&state))
        return generator.nextInt(below: layerCount)
    }
}

/// DVERGE, diversified vulnerabilities by distilling non-robust features: Yang, Zhang, Dong,
/// Inkawhich, Gardner, Touchet, Wilkes, Berry and Li, "DVERGE: Diversifying Vulnerabilities for
/// Enhanced Robust Generation of Ensembles", NeurIPS 2020, its feature distillation and
/// vulnerability diversification objective:
///
///     x'ₘ = argmin_{‖x' − x‖∞ ≤ ε} ‖f_m^l(x') − f_m^l(x_t)‖²        (for every member m)
///     L   = Σᵢ Σ_{j ≠ i} CE(zᵢ(x'ⱼ), y)
///
/// where (x, y) is the batch, x_t the paired image from an independently shuffled pass over the
/// training set (``Batch/pairedImages``), f_m^l member m's features at block l before its final
/// ReLU (``Classifier/features(_:at:)``), and x'ₘ the distilled image, found by
/// ``TrainingPerturbation`` minimising the mean squared feature distance (10 steps of 0.007 within
/// ε = 0.07 on CIFAR, no random start, L1-normalised momentum 1, as in the authors' code). Member i
/// learns the source label y on every other member's distilled image, which carries that member's
/// non-robust features of x_t; its own distilled image is not used. Unless a layer is fixed, l
/// cycles through the member's blocks batch by batch in seeded random order (every block equally
/// often, however short the run); the authors' code draws one block per epoch
/// (train/train_dverge.py line 80, `random.randint(1, self.depth)`), which is
/// ``DVERGELayerDraw/epoch`` (``DVERGEOptions/layer(epoch:step:stepsPerEpoch:layerCount:)``).
/// As in the authors' code, the members stay in training mode during distillation. The paper
/// starts DVERGE from a trained plain ensemble (`--from`).
///
/// Logged term: `dverge` (L, weight 1). Epoch setting: `dverge_layer` (the epoch's block, when
/// one block serves the whole epoch). The reported training
/// accuracy is measured on the clean batch (one extra forward pass without gradients).
public struct DVERGEObjective: EnsembleObjective {
    public let options: DVERGEOptions

    public init(options: DVERGEOptions) {
        self.options = options
    }

    public var needsPairedImages: Bool { true }

    public func epochSettings(epoch: Int, totalEpochs: Int, ensemble: Ensemble) -> [String: Double] {
        guard options.fixedLayer != nil || options.layerDraw == .epoch else { return [:] }
        return ["dverge_layer": Double(options.layer(epoch: epoch, layerCount: ensemble.members[0].featureLayerCount))]
    }

    public func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        guard let targets = batch.pairedImages else { preconditionFailure("DVERGE needs batches with paired images") }
        let members = ensemble.members
        let layer = options.layer(
            epoch: context.epoch, step: context.step, stepsPerEpoch: context.stepsPerEpoch,
            layerCount: members[0].featureLayerCount)
        let distilled = members.map { distill(member: $0, source: batch.images, target: targets, layer: layer) }
        let value = Self.crossMemberLoss(members: members, distilled: distilled, labels: batch.labels)
        let clean = withoutGradients { ensemble.memberLogits(batch.images) }
        return ObjectiveOutput(terms: [LossTerm(name: "dverge", value: value)], memberLogits: clean)
    }

    /// x'ₘ: the source images moved within ε so that the member's features at `layer` approach
    /// those of the target images.
    func distill(member: any Classifier, source: Tensor, target: Tensor, layer: Int) -> Tensor {
        let targetFeatures = withoutGradients { member.features(target, at: layer) }
        let search = TrainingPerturbation(
            epsilon: options.epsilon, stepSize: options.stepSize, steps: options.steps,
            randomStart: false, goal: .minimize, momentum: options.momentum)
        return search.perturb(source) { mseLoss(member.features($0, at: layer), targetFeatures) }
    }

    /// Σᵢ Σ_{j ≠ i} CE(zᵢ(x'ⱼ), y): each member on every other member's distilled images.
    static func crossMemberLoss(members: [any Classifier], distilled: [Tensor], labels: Tensor) -> Tensor {
        var losses: [Tensor] = []
        for (i, member) in members.enumerated() {
            for (j, images) in distilled.enumerated() where j != i {
                losses.append(crossEntropy(logits: member(images), labels: labels))
            }
        }
        return sumOfTensors(losses)
    }
}
