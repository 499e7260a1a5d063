import Foundation
import Torch

/// The ensemble training method (the loss), chosen with `--method`.
public enum TrainingMethod: String, Codable, CaseIterable, Sendable {
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
public enum NonFinitePolicy: String, Codable, CaseIterable, Sendable {
    /// Stop with a message naming the epoch, batch and loss term; the last good checkpoint stays.
    case stop
    /// Skip the batch (no update) and go on, logging a warning.
    case skip
}

/// The optimizer, chosen with `--optimizer`.
public enum OptimizerKind: String, Codable, CaseIterable, Sendable {
    case sgd
    case adam
    case adamw
}

/// The learning-rate schedule, chosen with `--schedule`.
public enum ScheduleKind: String, Codable, CaseIterable, Sendable {
    case constant
    /// ×`gamma` every `step-size` epochs.
    case step
    /// ×`gamma` at 50 % and 75 % of the epochs.
    case multistep
    /// Cosine annealing to 0 over the run.
    case cosine
}

/// Every setting of a training run. Flags and `--config` files (JSON or YAML, same keys as the
/// flags) decode into this one struct; the resolved struct is saved in the run's `config.json`.
public struct TrainingConfig: Codable, Equatable, Sendable {
    public var dataset: DatasetName = .fashionMNIST
    /// The folder holding the dataset files; nil means the dataset's default location.
    public var dataDirectory: String?
    public var architecture: Architecture = .cnn
    public var width: Int = 1
    public var members: Int = 3
    public var method: TrainingMethod = .baseline
    public var ensembleOutput: EnsembleOutput = .averagedProbabilities
    public var epochs: Int = 10
    public var batchSize: Int = 128
    public var optimizer: OptimizerKind = .sgd
    public var learningRate: Double = 0.05
    public var momentum: Double = 0.9
    public var weightDecay: Double = 5e-4
    public var schedule: ScheduleKind = .cosine
    public var stepSize: Int = 30
    public var gamma: Double = 0.1
    public var seed: UInt64 = 0
    /// A stratified, seeded subset of the training split of this size; nil uses all of it.
    public var trainLimit: Int?
    /// A stratified, seeded subset of the test split of this size; nil uses all of it.
    public var testLimit: Int?
    /// Random crop (padding 4) and horizontal flip; nil means the dataset's default (on for CIFAR
    /// and Tiny ImageNet, off for Fashion-MNIST and MNIST).
    public var augment: Bool?
    /// libtorch's intra-op threads; nil means every available core.
    public var threads: Int?

    // EDLCM and CURE (see EDLCMObjective and docs/method.md for how the defaults were chosen).
    /// α: weight of the HVP dispersion L_g.
    public var alpha: Double = 0.5
    /// β: weight of the curvature L_r.
    public var beta: Double = 0.1
    /// Weight of the optional first-order dispersion (mean pairwise cos of input gradients).
    public var gradAlpha: Double = 0
    /// h: finite-difference step, an L2 distance in [0, 1] pixel space.
    public var h: Double = 0.5
    public var direction: ProbeDirection = .gradientSign
    public var probe: ProbeSharing = .shared
    public var absoluteCosine = false
    public var warmupEpochs: Double = 0
    /// EDLCM/CURE: hold one member's graph at a time (a values-only pass first, then each member's
    /// graph rebuilt and backpropagated on its own): the same gradients with less peak memory and
    /// about a third more compute (docs/performance.md).
    public var lowMemory = false
    /// What to do on a NaN or infinite loss or gradient.
    public var onNonFinite: NonFinitePolicy = .stop

    // The baselines (see docs/baselines.md). A nil setting takes its paper's value for the dataset
    // (``PaperDefaults``); the trainer records the resolved values (``resolved``).
    /// ADP α: weight of the ensemble entropy.
    public var adpAlpha: Double = 2
    /// ADP β: weight of the log-determinant.
    public var adpBeta: Double = 0.5
    /// GAL λ: weight of the gradient coherence.
    public var galLambda: Double = 0.5
    /// TRS λ_a: weight of the gradient similarity.
    public var trsLambdaA: Double?
    /// TRS λ_b: weight of the smoothness.
    public var trsLambdaB: Double?
    /// TRS δ₀ and δ_M: the smoothness search radius at the start and (towards) the end.
    public var trsDeltaStart: Double?
    public var trsDeltaEnd: Double?
    /// TRS: steps of the smoothness search.
    public var trsSteps: Int = 6
    /// DVERGE: distillation radius ε and step (nil: the paper's step scaled by ε / the paper's ε).
    public var dvergeEps: Double?
    public var dvergeStep: Double?
    public var dvergeSteps: Int = 10
    /// DVERGE: a fixed feature layer (0-based block); nil draws one per epoch from (seed, epoch).
    public var dvergeLayer: Int?
    /// DVERGE: momentum of the distillation search (0: plain signed steps).
    public var dvergeMomentum: Double = 1
    /// Adversarial training on top of the method.
    public var adversarial: AdversarialTrainingMode = .disabled
    /// Adversarial training: ε, step (nil: the paper's step scaled by ε / the paper's ε), steps.
    public var advEps: Double?
    public var advStep: Double?
    public var advSteps: Int?
    /// Adversarial training: the fraction of each batch replaced by adversarial examples.
    public var advFraction: Double = 1
    /// A run folder (or its checkpoint.safetensors) whose weights start this run.
    public var from: String?

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, dataDirectory = "data-dir", architecture = "arch", width, members, method
        case ensembleOutput = "ensemble-output", epochs, batchSize = "batch-size", optimizer, learningRate = "lr"
        case momentum, weightDecay = "weight-decay", schedule, stepSize = "step-size", gamma, seed
        case trainLimit = "train-limit", testLimit = "test-limit", augment, threads
        case alpha, beta, gradAlpha = "grad-alpha", h, direction, probe, absoluteCosine = "absolute-cosine", warmupEpochs = "warmup-epochs", lowMemory = "low-memory"
        case onNonFinite = "on-nonfinite"
        case adpAlpha = "adp-alpha", adpBeta = "adp-beta", galLambda = "gal-lambda"
        case trsLambdaA = "trs-lambda-a", trsLambdaB = "trs-lambda-b", trsDeltaStart = "trs-delta-start", trsDeltaEnd = "trs-delta-end", trsSteps = "trs-steps"
        case dvergeEps = "dverge-eps", dvergeStep = "dverge-step", dvergeSteps = "dverge-steps", dvergeLayer = "dverge-layer", dvergeMomentum = "dverge-momentum"
        case adversarial, advEps = "adv-eps", advStep = "adv-step", advSteps = "adv-steps", advFraction = "adv-fraction", from
    }

    /// Decodes the keys present and keeps the defaults for the others; an unknown key is an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = TrainingConfig()
        d.dataset = try c.decodeIfPresent(DatasetName.self, forKey: .dataset) ?? d.dataset
        d.dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
        d.architecture = try c.decodeIfPresent(Architecture.self, forKey: .architecture) ?? d.architecture
        d.width = try c.decodeIfPresent(Int.self, forKey: .width) ?? d.width
        d.members = try c.decodeIfPresent(Int.self, forKey: .members) ?? d.members
        d.method = try c.decodeIfPresent(TrainingMethod.self, forKey: .method) ?? d.method
        d.ensembleOutput = try c.decodeIfPresent(EnsembleOutput.self, forKey: .ensembleOutput) ?? d.ensembleOutput
        d.epochs = try c.decodeIfPresent(Int.self, forKey: .epochs) ?? d.epochs
        d.batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        d.optimizer = try c.decodeIfPresent(OptimizerKind.self, forKey: .optimizer) ?? d.optimizer
        d.learningRate = try c.decodeIfPresent(Double.self, forKey: .learningRate) ?? d.learningRate
        d.momentum = try c.decodeIfPresent(Double.self, forKey: .momentum) ?? d.momentum
        d.weightDecay = try c.decodeIfPresent(Double.self, forKey: .weightDecay) ?? d.weightDecay
        d.schedule = try c.decodeIfPresent(ScheduleKind.self, forKey: .schedule) ?? d.schedule
        d.stepSize = try c.decodeIfPresent(Int.self, forKey: .stepSize) ?? d.stepSize
        d.gamma = try c.decodeIfPresent(Double.self, forKey: .gamma) ?? d.gamma
        d.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        d.trainLimit = try c.decodeIfPresent(Int.self, forKey: .trainLimit)
        d.testLimit = try c.decodeIfPresent(Int.self, forKey: .testLimit)
        d.augment = try c.decodeIfPresent(Bool.self, forKey: .augment)
        d.threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        d.alpha = try c.decodeIfPresent(Double.self, forKey: .alpha) ?? d.alpha
        d.beta = try c.decodeIfPresent(Double.self, forKey: .beta) ?? d.beta
        d.gradAlpha = try c.decodeIfPresent(Double.self, forKey: .gradAlpha) ?? d.gradAlpha
        d.h = try c.decodeIfPresent(Double.self, forKey: .h) ?? d.h
        d.direction = try c.decodeIfPresent(ProbeDirection.self, forKey: .direction) ?? d.direction
        d.probe = try c.decodeIfPresent(ProbeSharing.self, forKey: .probe) ?? d.probe
        d.absoluteCosine = try c.decodeIfPresent(Bool.self, forKey: .absoluteCosine) ?? d.absoluteCosine
        d.warmupEpochs = try c.decodeIfPresent(Double.self, forKey: .warmupEpochs) ?? d.warmupEpochs
        d.lowMemory = try c.decodeIfPresent(Bool.self, forKey: .lowMemory) ?? d.lowMemory
        d.onNonFinite = try c.decodeIfPresent(NonFinitePolicy.self, forKey: .onNonFinite) ?? d.onNonFinite
        d.adpAlpha = try c.decodeIfPresent(Double.self, forKey: .adpAlpha) ?? d.adpAlpha
        d.adpBeta = try c.decodeIfPresent(Double.self, forKey: .adpBeta) ?? d.adpBeta
        d.galLambda = try c.decodeIfPresent(Double.self, forKey: .galLambda) ?? d.galLambda
        d.trsLambdaA = try c.decodeIfPresent(Double.self, forKey: .trsLambdaA)
        d.trsLambdaB = try c.decodeIfPresent(Double.self, forKey: .trsLambdaB)
        d.trsDeltaStart = try c.decodeIfPresent(Double.self, forKey: .trsDeltaStart)
        d.trsDeltaEnd = try c.decodeIfPresent(Double.self, forKey: .trsDeltaEnd)
        d.trsSteps = try c.decodeIfPresent(Int.self, forKey: .trsSteps) ?? d.trsSteps
        d.dvergeEps = try c.decodeIfPresent(Double.self, forKey: .dvergeEps)
        d.dvergeStep = try c.decodeIfPresent(Double.self, forKey: .dvergeStep)
        d.dvergeSteps = try c.decodeIfPresent(Int.self, forKey: .dvergeSteps) ?? d.dvergeSteps
        d.dvergeLayer = try c.decodeIfPresent(Int.self, forKey: .dvergeLayer)
        d.dvergeMomentum = try c.decodeIfPresent(Double.self, forKey: .dvergeMomentum) ?? d.dvergeMomentum
        d.adversarial = try c.decodeIfPresent(AdversarialTrainingMode.self, forKey: .adversarial) ?? d.adversarial
        d.advEps = try c.decodeIfPresent(Double.self, forKey: .advEps)
        d.advStep = try c.decodeIfPresent(Double.self, forKey: .advStep)
        d.advSteps = try c.decodeIfPresent(Int.self, forKey: .advSteps)
        d.advFraction = try c.decodeIfPresent(Double.self, forKey: .advFraction) ?? d.advFraction
        d.from = try c.decodeIfPresent(String.self, forKey: .from)
        self = d
    }

    /// Checks every setting; the message names the flag (and config key) at fault.
    ///
    /// - Throws: ``EDLCMError`` for the first invalid setting.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw EDLCMError(message()) }
        }
        if method == .cure {
            try require(members >= 1, "--members must be at least 1, got \(members)")
        } else {
            try require(members >= 2, "--members must be at least 2 (an ensemble), got \(members)")
        }
        try require(members <= 64, "--members must be at most 64, got \(members)")
        try require(epochs >= 1, "--epochs must be at least 1, got \(epochs)")
        try require(batchSize >= 2, "--batch-size must be at least 2 (batch statistics), got \(batchSize)")
        try require(learningRate > 0 && learningRate.isFinite, "--lr must be a positive number, got \(learningRate)")
        try require((0..<1).contains(momentum), "--momentum must be in [0, 1), got \(momentum)")
        try require(weightDecay >= 0 && weightDecay.isFinite, "--weight-decay must be ≥ 0, got \(weightDecay)")
        try require(stepSize >= 1, "--step-size must be at least 1, got \(stepSize)")
        try require(gamma > 0 && gamma <= 1, "--gamma must be in (0, 1], got \(gamma)")
        try require((1...16).contains(width), "--width must be in 1...16, got \(width)")
        if let trainLimit { try require(trainLimit >= batchSize, "--train-limit must be at least the batch size (\(batchSize)), got \(trainLimit)") }
        if let testLimit { try require(testLimit >= 1, "--test-limit must be at least 1, got \(testLimit)") }
        if let threads { try require((1...1024).contains(threads), "--threads must be in 1...1024, got \(threads)") }
        try require(alpha >= 0 && alpha.isFinite, "--alpha must be ≥ 0, got \(alpha)")
        try require(beta >= 0 && beta.isFinite, "--beta must be ≥ 0, got \(beta)")
        try require(gradAlpha >= 0 && gradAlpha.isFinite, "--grad-alpha must be ≥ 0, got \(gradAlpha)")
        try require(h > 0 && h.isFinite, "--h must be a positive number, got \(h)")
        try require(warmupEpochs >= 0 && warmupEpochs.isFinite, "--warmup-epochs must be ≥ 0, got \(warmupEpochs)")
        if architecture == .cnn { try require(dataset.height % 4 == 0, "--arch cnn needs an input size divisible by 4") }
        func requireWeight(_ value: Double?, _ flag: String) throws {
            if let value { try require(value >= 0 && value.isFinite, "--\(flag) must be ≥ 0, got \(value)") }
        }
        func requireRadius(_ value: Double?, _ flag: String, allowZero: Bool = false) throws {
            if let value { try require((allowZero ? value >= 0 : value > 0) && value <= 1, "--\(flag) must be in \(allowZero ? "[0" : "(0"), 1], got \(value)") }
        }
        func requireStep(_ value: Double?, _ flag: String) throws {
            if let value { try require(value > 0 && value.isFinite, "--\(flag) must be a positive number, got \(value)") }
        }
        func requireSteps(_ value: Int?, _ flag: String) throws {
            if let value { try require((1...1000).contains(value), "--\(flag) must be in 1...1000, got \(value)") }
        }
        try requireWeight(adpAlpha, "adp-alpha")
        try requireWeight(adpBeta, "adp-beta")
        try requireWeight(galLambda, "gal-lambda")
        try requireWeight(trsLambdaA, "trs-lambda-a")
        try requireWeight(trsLambdaB, "trs-lambda-b")
        try requireRadius(trsDeltaStart, "trs-delta-start", allowZero: true)
        try requireRadius(trsDeltaEnd, "trs-delta-end", allowZero: true)
        try requireSteps(trsSteps, "trs-steps")
        try requireRadius(dvergeEps, "dverge-eps")
        try requireStep(dvergeStep, "dverge-step")
        try requireSteps(dvergeSteps, "dverge-steps")
        if let dvergeLayer {
            let count = architecture.featureLayerCount
            try require((0..<count).contains(dvergeLayer), "--dverge-layer must be in 0...\(count - 1) for --arch \(architecture.rawValue), got \(dvergeLayer)")
        }
        try requireWeight(dvergeMomentum, "dverge-momentum")
        try requireRadius(advEps, "adv-eps")
        try requireStep(advStep, "adv-step")
        try requireSteps(advSteps, "adv-steps")
        try require(advFraction > 0 && advFraction <= 1, "--adv-fraction must be in (0, 1], got \(advFraction)")
        if let from { try require(!from.isEmpty, "--from must name a run folder or checkpoint file") }
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

    /// The regulariser settings: α, β and γ_g as given for EDLCM; β alone for CURE.
    public var edlcmOptions: EDLCMOptions {
        EDLCMOptions(alpha: method == .cure ? 0 : alpha, beta: beta, gradientAlpha: method == .cure ? 0 : gradAlpha, h: h,
                     direction: direction, sharing: method == .cure ? .perMember : probe, absoluteCosine: absoluteCosine, warmupEpochs: warmupEpochs)
    }

    /// The per-dataset paper values that unset baseline settings take.
    public var paperDefaults: PaperDefaults { PaperDefaults(for: dataset) }

    /// ADP's settings.
    public var adpOptions: ADPOptions { ADPOptions(alpha: adpAlpha, beta: adpBeta) }

    /// TRS's settings, unset ones from the paper for the dataset.
    public var trsOptions: TRSOptions {
        let d = paperDefaults
        return TRSOptions(lambdaA: trsLambdaA ?? d.trsLambdaA, lambdaB: trsLambdaB ?? d.trsLambdaB,
                          deltaStart: trsDeltaStart ?? d.trsDeltaStart, deltaEnd: trsDeltaEnd ?? d.trsDeltaEnd, steps: trsSteps)
    }

    /// DVERGE's settings, unset ones from the paper for the dataset (an unset step keeps the
    /// paper's ratio of step to radius).
    public var dvergeOptions: DVERGEOptions {
        let d = paperDefaults
        let epsilon = dvergeEps ?? d.dvergeEps
        let step = dvergeStep ?? dvergeEps.map { d.dvergeStep * $0 / d.dvergeEps } ?? d.dvergeStep
        return DVERGEOptions(epsilon: epsilon, stepSize: step, steps: dvergeSteps,
                             momentum: dvergeMomentum, fixedLayer: dvergeLayer, seed: seed)
    }

    /// Adversarial training's settings, unset ones from the paper for the dataset (an unset step
    /// keeps the paper's ratio of step to radius).
    public var adversarialOptions: AdversarialTrainingOptions {
        let d = paperDefaults
        let epsilon = advEps ?? d.advEps
        let step = advStep ?? advEps.map { d.advStep * $0 / d.advEps } ?? d.advStep
        return AdversarialTrainingOptions(epsilon: epsilon, stepSize: step,
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
        ModelSpec(architecture: architecture, channels: dataset.channels, height: dataset.height, width: dataset.width,
                  classCount: dataset.classCount, widthMultiplier: width, mean: dataset.normalization.mean, std: dataset.normalization.std)
    }
}

/// A coding key for any string, to list the keys a decoder really holds.
struct AnyCodingKey: CodingKey {
    let stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
}

/// Throws when the decoder's object holds a key outside `known`, naming the key and where it is.
func rejectUnknownKeys(in decoder: any Decoder, known: [String]) throws {
    let container = try decoder.container(keyedBy: AnyCodingKey.self)
    let knownSet = Set(known)
    if let unknown = container.allKeys.map(\.stringValue).filter({ !knownSet.contains($0) }).sorted().first {
        let path = decoder.codingPath.map(\.stringValue).joined(separator: ".")
        let closest = known.min { editDistance($0, unknown) < editDistance($1, unknown) }
        let suggestion = closest.flatMap { editDistance($0, unknown) <= 2 ? " (did you mean '\($0)'?)" : nil } ?? ""
        throw EDLCMError("unknown key '\(unknown)'\(path.isEmpty ? "" : " in '\(path)'")\(suggestion)")
    }
}

/// The Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}
