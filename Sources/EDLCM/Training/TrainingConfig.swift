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
    public var beta: Double = 0.01
    /// Weight of the optional first-order dispersion (mean pairwise cos of input gradients).
    public var gradAlpha: Double = 0
    /// h: finite-difference step, an L2 distance in [0, 1] pixel space.
    public var h: Double = 0.5
    public var direction: ProbeDirection = .gradientSign
    public var probe: ProbeSharing = .shared
    public var absoluteCosine = false
    public var warmupEpochs: Double = 0
    /// What to do on a NaN or infinite loss or gradient.
    public var onNonFinite: NonFinitePolicy = .stop

    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case dataset, dataDirectory = "data-dir", architecture = "arch", width, members, method
        case ensembleOutput = "ensemble-output", epochs, batchSize = "batch-size", optimizer, learningRate = "lr"
        case momentum, weightDecay = "weight-decay", schedule, stepSize = "step-size", gamma, seed
        case trainLimit = "train-limit", testLimit = "test-limit", augment, threads
        case alpha, beta, gradAlpha = "grad-alpha", h, direction, probe, absoluteCosine = "absolute-cosine", warmupEpochs = "warmup-epochs"
        case onNonFinite = "on-nonfinite"
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
        d.onNonFinite = try c.decodeIfPresent(NonFinitePolicy.self, forKey: .onNonFinite) ?? d.onNonFinite
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
