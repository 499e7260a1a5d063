import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

/// The ensemble training method (the loss), chosen with `--method`.
public enum TrainingMethod: String, SettingChoice {
    /// Independent members, each trained with cross-entropy: the plain ensemble.
    case baseline
    /// EDLCM (arXiv 2403.16405): low-curvature (L_r) and dispersed-curvature (L_g) regularisers.
    case edlcm
    /// CURE (Moosavi-Dezfooli et al. 2019): curvature regularisation only, each member on its own.
    case cure
    /// ADP (Pang et al., ICML 2019): ensemble entropy and the log-determinant of non-true predictions.
    case adp
    /// GAL (Kariyappa and Qureshi 2019): log-sum-exp of the members' pairwise input-gradient cosines.
    case gal
    /// DVERGE (Yang et al., NeurIPS 2020): cross-member training on distilled non-robust features.
    case dverge
    /// TRS (Yang et al., NeurIPS 2021): |cos| of input gradients and gradient norms near the data.
    case trs
}

/// What training does when a loss or gradient is NaN or infinite, chosen with `--on-nonfinite`.
public enum NonFinitePolicy: String, SettingChoice {
    /// Stop with a message naming the epoch, batch and loss term; the last good checkpoint stays.
    case stop
    /// Skip the batch (no update) and go on, logging a warning.
    case skip
}

/// The optimizer, chosen with `--optimizer`.
public enum OptimizerKind: String, SettingChoice {
    case sgd
    case adam
    case adamw
}

/// The learning-rate schedule, chosen with `--schedule`.
public enum ScheduleKind: String, SettingChoice {
    case constant
    /// ×`gamma` every `step-size` epochs.
    case step
    /// ×`gamma` at 50 % and 75 % of the epochs.
    case multistep
    /// Cosine annealing to 0 over the run.
    case cosine
}

/// How often the learning-rate schedule advances, chosen with `--schedule-interval`.
public enum ScheduleInterval: String, SettingChoice {
    /// After every batch: the cosine anneals smoothly over all the run's batches.
    case batch
    /// After every epoch, as PyTorch's schedulers stepped once per epoch.
    case epoch
}

/// Every setting of a training run, each declared once (flag, file key, default, help, check).
/// Flags and `--config` files (JSON or YAML, same keys as the flags) set it; the resolved struct is
/// saved in the run's `config.json` and checkpoint.
public struct TrainingConfig: SettingsGroup {
    @Setting("Dataset.") public var dataset: DatasetName = .fashionMNIST
    public var data = DataFolderSettings()
    @Setting("Member architecture.", key: "arch") public var architecture: Architecture = .cnn
    @Setting("Channel-width multiplier of every member.", .within(1...16)) public var width = 1
    @Setting("Number of ensemble members: at least 2 for an ensemble, 1 or more for cure.", .within(1...64)) public var members =
        3
    @Setting("Training method (formulas, defaults and sources of the baselines: docs/baselines.md).")
    public var method: TrainingMethod = .baseline
    @Setting("How members are combined: probabilities (log of the averaged softmax) or logits.")
    public var ensembleOutput: EnsembleOutput = .averagedProbabilities
    @Setting("Epochs to train.", .atLeast(1)) public var epochs = 10
    @Setting("Batch size (the global batch in distributed training).", .atLeast(2)) public var batchSize = 128
    @Setting("Optimizer.") public var optimizer: OptimizerKind = .sgd
    @Setting("Base learning rate.", .positive, key: "lr") public var learningRate = 0.05
    @Setting("SGD momentum.", .fraction) public var momentum = 0.9
    @Setting("Weight decay (L2 for sgd and adam, decoupled for adamw).", .nonNegative) public var weightDecay = 5e-4
    @Setting("Learning-rate schedule: constant, step, multistep (×gamma at 50 % and 75 %) or cosine.")
    public var schedule: ScheduleKind = .cosine
    @Setting("When the schedule advances: every batch (the cosine anneals over all batches) or every epoch.")
    public var scheduleInterval: ScheduleInterval = .batch
    @Setting("Epochs between decays of the step schedule.", .atLeast(1)) public var stepSize = 30
    @Setting("Decay factor of the step and multistep schedules.", .unitInterval) public var gamma = 0.1
    @Setting(
        "Clip the gradients' global L2 norm to this value before every step (PyTorch's clip_grad_norm_).", .ifSet(.positive),
        defaultText: "no clipping")
    public var maxGradNorm: Double? = nil
    public var seeding = SeedSettings()
    @Setting("Train on a stratified, seeded subset of this many training images.", .ifSet(.atLeast(1)), defaultText: "all")
    public var trainLimit: Int? = nil
    @Setting(
        "Hold out a stratified subset of this many training images as the validation split: never trained on, the same images for every seed and method, accuracy logged per epoch, attacked with evaluate --split validation.",
        .ifSet(.atLeast(1)), defaultText: "none")
    public var validation: Int? = nil
    @Setting("Evaluate on a stratified, seeded subset of this many test images.", .ifSet(.atLeast(1)), defaultText: "all")
    public var testLimit: Int? = nil
    @Setting(
        "Random crop (padding 4) and horizontal flip.", defaultText: "on for CIFAR and Tiny ImageNet, off for (Fashion-)MNIST")
    public var augment: Bool? = nil
    public var runtime = RuntimeSettings()

    // EDLCM and CURE (see EDLCMObjective and docs/method.md for how the defaults were chosen).
    @Setting("EDLCM: weight α of the HVP dispersion L_g.", .nonNegative) public var alpha = 0.5
    @Setting("EDLCM/CURE: weight β of the curvature L_r.", .nonNegative) public var beta = 0.1
    @Setting("EDLCM: weight of the optional first-order dispersion, mean pairwise cos of input gradients.", .nonNegative)
    public var gradAlpha = 0.0
    public var hvp = HVPSettings()
    @Setting("EDLCM: use |cos| in the dispersion terms.") public var absoluteCosine = false
    @Setting("EDLCM/CURE: ramp h (from 10 %) and the regulariser weights (from 0) over this many epochs.", .nonNegative)
    public var warmupEpochs = 0.0
    public var memory = MemorySettings()
    @Setting(
        "On a NaN or infinite loss or gradient: stop (naming the epoch, batch and term; the last good checkpoint stays) or skip the batch.",
        key: "on-nonfinite")
    public var onNonFinite: NonFinitePolicy = .stop

    // The baselines (see docs/baselines.md). An unset setting takes its paper's value for the dataset
    // (``PaperDefaults``); the trainer records the resolved values (``resolved``).
    @Setting("ADP: weight α of the ensemble entropy.", .nonNegative) public var adpAlpha = 2.0
    @Setting("ADP: weight β of the log-determinant of the non-true-class predictions.", .nonNegative) public var adpBeta = 0.5
    @Setting("GAL: weight λ of the log-sum-exp of pairwise input-gradient cosines.", .nonNegative) public var galLambda = 0.5
    @Setting(
        "GAL: the members' cross-entropies summed (as every other method) or averaged (the DVERGE repository's train_gal.py).",
        key: "gal-ce")
    public var galCrossEntropy: CrossEntropyReduction = .sum
    @Setting(
        "GAL: the input gradients of its cosines: batch-mean (the DVERGE repository's code, PyTorch's cosine eps 1e-8) or per-example."
    )
    public var galGradients: InputGradientScale = .batchMean
    @Setting(
        "TRS: weight λ_a of the mean pairwise |cos| of input gradients.", .ifSet(.nonNegative),
        defaultText: PaperDefaults.perDataset(\.trsLambdaA))
    public var trsLambdaA: Double? = nil
    @Setting(
        "TRS: weight λ_b of the mean squared input-gradient norm.", .ifSet(.nonNegative),
        defaultText: PaperDefaults.perDataset(\.trsLambdaB))
    public var trsLambdaB: Double? = nil
    @Setting(
        "TRS: L∞ radius δ₀ of the smoothness search in the first epoch.", .ifSet(.radius(allowingZero: true)),
        defaultText: PaperDefaults.perDataset(\.trsDeltaStart))
    public var trsDeltaStart: Double? = nil
    @Setting(
        "TRS: radius δ_M that δ ramps towards, linearly per epoch.", .ifSet(.radius(allowingZero: true)),
        defaultText: PaperDefaults.perDataset(\.trsDeltaEnd))
    public var trsDeltaEnd: Double? = nil
    @Setting("TRS: steps (of δ/3) of the smoothness search.", .within(1...1000)) public var trsSteps = 6
    @Setting(
        "TRS: the input gradients of its terms: batch-mean (the authors' code: cosines of the batch-mean loss's gradients, smoothness 2‖g/B‖²) or per-example (the paper's formulas; an unset --trs-lambda-b is then scaled by 2/batch²)."
    )
    public var trsGradients: InputGradientScale = .batchMean
    @Setting(
        "DVERGE: L∞ radius of the feature distillation.", .ifSet(.radius()), defaultText: PaperDefaults.perDataset(\.dvergeEps))
    public var dvergeEps: Double? = nil
    @Setting("DVERGE: step of the distillation.", .ifSet(.positive), defaultText: PaperDefaults.dvergeStepText)
    public var dvergeStep: Double? = nil
    @Setting("DVERGE: steps of the distillation.", .within(1...1000)) public var dvergeSteps = 10
    @Setting(
        "DVERGE: distil at this block (0-based; cnn 0...\(Architecture.cnn.featureLayerCount - 1), resnet20 0...\(Architecture.resnet20.featureLayerCount - 1)) in every epoch.",
        defaultText: "a seeded random block per epoch")
    public var dvergeLayer: Int? = nil
    @Setting(
        "DVERGE: how the distillation block is chosen when --dverge-layer is unset: cycle (every block in turn, one per batch, in seeded random order) or epoch (one draw per epoch, the authors' code)."
    )
    public var dvergeLayerDraw: DVERGELayerDraw = .cycle
    @Setting("DVERGE: momentum of the distillation's L1-normalised gradient, 0 for plain signed steps.", .nonNegative)
    public var dvergeMomentum = 1.0
    @Setting("Adversarial training on top of the method: none or pgd (PGD examples of the ensemble replace the batch).")
    public var adversarial: AdversarialTrainingMode = .disabled
    @Setting("Adversarial training: L∞ radius ε.", .ifSet(.radius()), defaultText: PaperDefaults.advEpsText)
    public var advEps: Double? = nil
    @Setting("Adversarial training: PGD step.", .ifSet(.positive), defaultText: PaperDefaults.advStepText)
    public var advStep: Double? = nil
    @Setting("Adversarial training: PGD steps.", .ifSet(.within(1...1000)), defaultText: PaperDefaults.advStepsText)
    public var advSteps: Int? = nil
    @Setting("Adversarial training: fraction of each batch replaced by adversarial examples.", .unitInterval)
    public var advFraction = 1.0
    @Setting(
        "Start from the weights (not the optimizer state) of this run folder or checkpoint.safetensors, same architecture and members.",
        Check { $0?.isEmpty == true ? "must name a run folder or checkpoint file" : nil }, defaultText: "fresh weights")
    public var from: String? = nil

    public init() {}

    /// The rules that involve several settings.
    ///
    /// - Throws: ``EDLCMError`` naming the flags at fault.
    public func validateTogether() throws {
        if method != .cure, members < 2 { throw EDLCMError("--members must be at least 2 (an ensemble), got \(members)") }
        if let trainLimit, trainLimit < batchSize {
            throw EDLCMError("--train-limit must be at least the batch size (\(batchSize)), got \(trainLimit)")
        }
        if architecture == .cnn, dataset.height % 4 != 0 { throw EDLCMError("--arch cnn needs an input size divisible by 4") }
        if let dvergeLayer {
            let count = architecture.featureLayerCount
            guard (0..<count).contains(dvergeLayer) else {
                throw EDLCMError(
                    "--dverge-layer must be in 0...\(count - 1) for --arch \(architecture.rawValue), got \(dvergeLayer)")
            }
        }
    }

    /// The seed of the validation split's draw: fixed, so that every seed and method of a study holds
    /// out the same images.
    public static let validationSeed: UInt64 = 0x5EED_0F_7A11D

    /// The training images a run trains on and the validation images it holds out: the validation
    /// split is a stratified subset of `validation` images drawn with ``validationSeed``; the
    /// training images are the rest, or a stratified subset of `trainLimit` of the rest drawn with
    /// the run's seed (without `validation`, exactly the subset drawn before the split existed).
    ///
    /// - Throws: ``EDLCMError`` when the validation split leaves fewer images than a batch.
    public func splitTrainingImages(_ train: ImageSet) throws -> (train: ImageSet, validation: ImageSet?) {
        let seed = seeding.seed
        guard let validation else {
            return (
                trainLimit.map {
                    train.subset(stratifiedSubset(labels: train.labels, classCount: train.classCount, limit: $0, seed: seed))
                } ?? train, nil
            )
        }
        guard train.count - validation >= batchSize else {
            throw EDLCMError(
                "--validation \(validation) leaves \(max(train.count - validation, 0)) of the \(train.count) training images, fewer than --batch-size \(batchSize)"
            )
        }
        let held = stratifiedSubset(
            labels: train.labels, classCount: train.classCount, limit: validation, seed: Self.validationSeed)
        let heldSet = Set(held)
        let rest = (0..<train.count).filter { !heldSet.contains($0) }
        let kept =
            trainLimit.map { limit in
                let labels = rest.map { train.labels[$0] }
                return stratifiedSubset(labels: labels, classCount: train.classCount, limit: limit, seed: seed).map { rest[$0] }
            } ?? rest
        return (train.subset(kept), train.subset(held))
    }

    /// Augmentation as resolved for the dataset.
    public var augmentationEnabled: Bool {
        augment ?? [.cifar10, .cifar100, .tinyImageNet].contains(dataset)
    }

    /// The learning-rate schedule as resolved for the run length.
    public var learningRateSchedule: LearningRateSchedule {
        switch schedule {
        case .constant: .constant
        case .step: .step(stepSize: stepSize, gamma: gamma)
        case .multistep: .multiStep(milestones: [epochs / 2, epochs * 3 / 4], gamma: gamma)
        case .cosine: .cosine(totalEpochs: epochs, minimum: 0)
        }
    }

    /// The learning rate for batch `step` of `epoch` (0-based) of `stepsPerEpoch`: the schedule
    /// advanced per batch or per epoch as `--schedule-interval` says.
    public func learningRate(epoch: Int, step: Int, stepsPerEpoch: Int) -> Double {
        switch scheduleInterval {
        case .batch:
            learningRateSchedule.learningRate(base: learningRate, epoch: epoch, step: step, stepsPerEpoch: stepsPerEpoch)
        case .epoch: learningRateSchedule.learningRate(base: learningRate, epoch: epoch)
        }
    }

    /// The regulariser settings: α, β and γ_g as given for EDLCM; β alone for CURE.
    public var edlcmOptions: EDLCMOptions {
        EDLCMOptions(
            alpha: method == .cure ? 0 : alpha, beta: beta, gradientAlpha: method == .cure ? 0 : gradAlpha, h: hvp.h,
            direction: hvp.direction, sharing: method == .cure ? .perMember : hvp.sharing, absoluteCosine: absoluteCosine,
            warmupEpochs: warmupEpochs)
    }

    /// The per-dataset paper values that unset baseline settings take.
    public var paperDefaults: PaperDefaults { PaperDefaults(for: dataset) }

    /// ADP's settings.
    public var adpOptions: ADPOptions { ADPOptions(alpha: adpAlpha, beta: adpBeta) }

    /// TRS's settings, unset ones from the paper for the dataset.
    public var trsOptions: TRSOptions {
        let d = paperDefaults
        let perExampleScale = trsGradients == .perExample ? TRSOptions.batchMeanSmoothnessFactor(batchSize: batchSize) : 1
        return TRSOptions(
            lambdaA: trsLambdaA ?? d.trsLambdaA, lambdaB: trsLambdaB ?? d.trsLambdaB * perExampleScale,
            deltaStart: trsDeltaStart ?? d.trsDeltaStart, deltaEnd: trsDeltaEnd ?? d.trsDeltaEnd, steps: trsSteps,
            gradients: trsGradients)
    }

    /// DVERGE's settings, unset ones from the paper for the dataset (an unset step keeps the
    /// paper's ratio of step to radius).
    public var dvergeOptions: DVERGEOptions {
        let d = paperDefaults
        let epsilon = dvergeEps ?? d.dvergeEps
        let step = dvergeStep ?? dvergeEps.map { d.dvergeStep * $0 / d.dvergeEps } ?? d.dvergeStep
        return DVERGEOptions(
            epsilon: epsilon, stepSize: step, steps: dvergeSteps,
            momentum: dvergeMomentum, fixedLayer: dvergeLayer, layerDraw: dvergeLayerDraw, seed: seeding.seed)
    }

    /// Adversarial training's settings, unset ones from the paper for the dataset (an unset step
    /// keeps the paper's ratio of step to radius).
    public var adversarialOptions: AdversarialTrainingOptions {
        let d = paperDefaults
        let epsilon = advEps ?? d.advEps
        let step = advStep ?? advEps.map { d.advStep * $0 / d.advEps } ?? d.advStep
        return AdversarialTrainingOptions(
            epsilon: epsilon, stepSize: step,
            steps: advSteps ?? d.advSteps, fraction: advFraction)
    }

    /// These settings with every unset dataset-dependent baseline setting filled in, as recorded
    /// in `config.json` and checkpoints: the one place where defaults that differ per dataset are
    /// resolved.
    public var resolved: TrainingConfig {
        var c = self
        let trs = trsOptions
        (c.trsLambdaA, c.trsLambdaB, c.trsDeltaStart, c.trsDeltaEnd) = (trs.lambdaA, trs.lambdaB, trs.deltaStart, trs.deltaEnd)
        let dverge = dvergeOptions
        (c.dvergeEps, c.dvergeStep) = (dverge.epsilon, dverge.stepSize)
        let adversarial = adversarialOptions
        (c.advEps, c.advStep, c.advSteps) = (adversarial.epsilon, adversarial.stepSize, adversarial.steps)
        return c
    }

    /// The model every member is built from.
    public var modelSpec: ModelSpec {
        ModelSpec(
            architecture: architecture, channels: dataset.channels, height: dataset.height, width: dataset.width,
            classCount: dataset.classCount, widthMultiplier: width, mean: dataset.normalization.mean,
            std: dataset.normalization.std)
    }
}
