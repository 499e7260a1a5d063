import Foundation

/// How the attacks of an evaluation share the examples.
public enum EvaluationMode: String, Codable, CaseIterable, Sendable {
    /// Each attack runs only on the examples every earlier attack failed on (AutoAttack's way):
    /// the worst case is exact and the later attacks are cheap; per-attack numbers are cumulative.
    case cascade
    /// Each attack runs on every clean-correct example, so each attack's own robust accuracy is
    /// known too (slower).
    case independent
}

/// Every setting of an evaluation. Flags and `--config` files (JSON or YAML, keyed by flag name)
/// decode into this struct; the resolved struct is recorded with the results.
public struct EvaluationConfig: Codable, Sendable, Equatable {
    /// The suite, run in this order at each ε (white-box, then score-based black-box).
    public var attacks: [AttackName] = [.apgdCE, .apgdDLR, .square]
    /// The radii, ascending; nil means the dataset's usual ones (``defaultEpsilons(dataset:norm:)``).
    public var epsilons: [Double]?
    /// The threat model.
    public var norm: PerturbationNorm = .linf
    /// Iterations of every iterative attack (the papers use 40–100; see docs/evaluation.md).
    public var steps: Int = 20
    /// Random restarts of PGD, PGD-CW, APGD and M-PGD.
    public var restarts: Int = 1
    /// The Square attack's queries per example.
    public var queries: Int = 300
    /// A seeded, class-stratified subset of the test split of this size; nil uses all of it.
    public var samples: Int? = 500
    /// Seeds the subset, random starts, window positions and target classes.
    public var seed: UInt64 = 0
    /// The ensemble-aware objectives every white-box attack runs on (the worst is reported).
    public var targets: [TargetObjective] = TargetObjective.ensembleAware
    /// Targeted attacks toward a seeded random wrong class per example, instead of untargeted.
    public var targeted: Bool = false
    /// Whether attacks run on the images still robust (cascade) or on all clean-correct ones.
    public var mode: EvaluationMode = .cascade
    /// Stop attacking an example at its first successful iterate (off only for benchmarks).
    public var earlyStop: Bool = true
    /// Images per attack batch.
    public var batchSize: Int = 250
    /// Run folders of surrogate ensembles for transfer attacks.
    public var surrogates: [String] = []
    /// Sizes of plain surrogate ensembles for the evaluation to train itself (seeds differ from the target's).
    public var trainSurrogates: [Int] = []
    /// Epochs of self-trained surrogates; nil uses the target's.
    public var surrogateEpochs: Int?
    /// Attacks crafted on each surrogate.
    public var transferAttacks: [AttackName] = AttackName.transferAttacks
    /// Iterations of the transfer attacks.
    public var transferSteps: Int = 50
    /// Compute the members' transferability matrix.
    public var matrix: Bool = true
    /// At most this many images (all members correct) for the matrix.
    public var matrixSamples: Int = 200
    /// Run the gradient-masking sanity checks.
    public var checks: Bool = true
    /// At most this many clean-correct images for the sanity checks' own attack runs.
    public var checkSamples: Int = 100
    /// Overrides the dataset folder recorded in the run.
    public var dataDirectory: String?
    /// libtorch threads; nil means every available core.
    public var threads: Int?

    /// The defaults: a quick CPU evaluation (see docs/evaluation.md for full-strength settings).
    public init() {}

    enum CodingKeys: String, CodingKey, CaseIterable {
        case attacks, epsilons = "eps", norm, steps, restarts, queries, samples, seed, targets, targeted, mode
        case earlyStop = "early-stop", batchSize = "batch-size", surrogates, trainSurrogates = "train-surrogates"
        case surrogateEpochs = "surrogate-epochs", transferAttacks = "transfer-attacks", transferSteps = "transfer-steps"
        case matrix, matrixSamples = "matrix-samples", checks, checkSamples = "check-samples"
        case dataDirectory = "data-dir", threads
    }

    /// Decodes the keys present and keeps the defaults for the others; an unknown key is an error.
    public init(from decoder: any Decoder) throws {
        try rejectUnknownKeys(in: decoder, known: CodingKeys.allCases.map(\.stringValue))
        let c = try decoder.container(keyedBy: CodingKeys.self)
        var d = EvaluationConfig()
        d.attacks = try c.decodeIfPresent([AttackName].self, forKey: .attacks) ?? d.attacks
        d.epsilons = try c.decodeIfPresent([Double].self, forKey: .epsilons)
        d.norm = try c.decodeIfPresent(PerturbationNorm.self, forKey: .norm) ?? d.norm
        d.steps = try c.decodeIfPresent(Int.self, forKey: .steps) ?? d.steps
        d.restarts = try c.decodeIfPresent(Int.self, forKey: .restarts) ?? d.restarts
        d.queries = try c.decodeIfPresent(Int.self, forKey: .queries) ?? d.queries
        if c.contains(.samples) { d.samples = try c.decodeIfPresent(Int.self, forKey: .samples) }
        d.seed = try c.decodeIfPresent(UInt64.self, forKey: .seed) ?? d.seed
        d.targets = try c.decodeIfPresent([TargetObjective].self, forKey: .targets) ?? d.targets
        d.targeted = try c.decodeIfPresent(Bool.self, forKey: .targeted) ?? d.targeted
        d.mode = try c.decodeIfPresent(EvaluationMode.self, forKey: .mode) ?? d.mode
        d.earlyStop = try c.decodeIfPresent(Bool.self, forKey: .earlyStop) ?? d.earlyStop
        d.batchSize = try c.decodeIfPresent(Int.self, forKey: .batchSize) ?? d.batchSize
        d.surrogates = try c.decodeIfPresent([String].self, forKey: .surrogates) ?? d.surrogates
        d.trainSurrogates = try c.decodeIfPresent([Int].self, forKey: .trainSurrogates) ?? d.trainSurrogates
        d.surrogateEpochs = try c.decodeIfPresent(Int.self, forKey: .surrogateEpochs)
        d.transferAttacks = try c.decodeIfPresent([AttackName].self, forKey: .transferAttacks) ?? d.transferAttacks
        d.transferSteps = try c.decodeIfPresent(Int.self, forKey: .transferSteps) ?? d.transferSteps
        d.matrix = try c.decodeIfPresent(Bool.self, forKey: .matrix) ?? d.matrix
        d.matrixSamples = try c.decodeIfPresent(Int.self, forKey: .matrixSamples) ?? d.matrixSamples
        d.checks = try c.decodeIfPresent(Bool.self, forKey: .checks) ?? d.checks
        d.checkSamples = try c.decodeIfPresent(Int.self, forKey: .checkSamples) ?? d.checkSamples
        d.dataDirectory = try c.decodeIfPresent(String.self, forKey: .dataDirectory)
        d.threads = try c.decodeIfPresent(Int.self, forKey: .threads)
        self = d
    }

    /// The usual radii for a dataset: L∞ 0.1 and 0.2 for the MNIST family, 4/255 and 8/255 for
    /// CIFAR, 2/255 and 4/255 for Tiny ImageNet; L2 1 and 2 for the MNIST family, 0.5 and 1 otherwise.
    public static func defaultEpsilons(dataset: DatasetName, norm: PerturbationNorm) -> [Double] {
        switch (dataset, norm) {
        case (.fashionMNIST, .linf), (.mnist, .linf): [0.1, 0.2]
        case (.cifar10, .linf), (.cifar100, .linf): [4.0 / 255, 8.0 / 255]
        case (.tinyImageNet, .linf): [2.0 / 255, 4.0 / 255]
        case (.fashionMNIST, .l2), (.mnist, .l2): [1, 2]
        case (.cifar10, .l2), (.cifar100, .l2), (.tinyImageNet, .l2): [0.5, 1]
        }
    }

    /// The radii to run, ascending and without repeats (the dataset default when unset).
    public func resolvedEpsilons(dataset: DatasetName) -> [Double] {
        Array(Set(epsilons ?? Self.defaultEpsilons(dataset: dataset, norm: norm))).sorted()
    }

    /// The budget the suite's attacks run with.
    public var budget: AttackBudget { AttackBudget(steps: steps, restarts: restarts, queries: queries) }

    /// Checks every setting; the message names the flag at fault.
    ///
    /// - Throws: ``EDLCMError`` for the first invalid setting.
    public func validate() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw EDLCMError(message()) }
        }
        try require(!attacks.isEmpty || !surrogates.isEmpty || !trainSurrogates.isEmpty || checks || matrix,
                    "--attacks: nothing to run (no attacks, surrogates, matrix or checks)")
        try require(Set(attacks).count == attacks.count, "--attacks lists an attack twice")
        for attack in attacks where AttackName.transferAttacks.contains(attack) {
            throw EDLCMError("--attacks: \(attack.rawValue) is a transfer attack; list it in --transfer-attacks and give --surrogates")
        }
        for attack in transferAttacks where !attack.usesGradients {
            throw EDLCMError("--transfer-attacks: \(attack.rawValue) reads no gradients, so it cannot be crafted on a surrogate")
        }
        if let epsilons {
            try require(!epsilons.isEmpty, "--eps needs at least one radius")
            for epsilon in epsilons {
                try require(epsilon.isFinite && epsilon >= 0, "--eps must be finite and ≥ 0, got \(epsilon)")
                if norm == .linf { try require(epsilon <= 1, "--eps \(epsilon) exceeds 1, the whole [0, 1] range of an L∞ perturbation") }
            }
        }
        if attacks.contains(.cwL2) { try require(norm == .l2, "--attacks cw-l2 is an L2 attack; use --norm l2 or drop it") }
        try require(steps >= 1, "--steps must be at least 1, got \(steps)")
        try require(restarts >= 1, "--restarts must be at least 1, got \(restarts)")
        try require(queries >= 1, "--queries must be at least 1, got \(queries)")
        if let samples { try require(samples >= 1, "--samples must be at least 1, got \(samples)") }
        try require(!targets.isEmpty, "--targets needs at least one objective")
        try require(Set(targets).count == targets.count, "--targets lists an objective twice")
        for target in targets {
            if case .member = target { throw EDLCMError("--targets: \(target) is for the transferability matrix; use probabilities, logits or member-losses") }
        }
        try require(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        for size in trainSurrogates { try require((1...64).contains(size), "--train-surrogates sizes must be in 1...64, got \(size)") }
        if let surrogateEpochs { try require(surrogateEpochs >= 1, "--surrogate-epochs must be at least 1, got \(surrogateEpochs)") }
        try require(transferSteps >= 1, "--transfer-steps must be at least 1, got \(transferSteps)")
        try require(matrixSamples >= 1, "--matrix-samples must be at least 1, got \(matrixSamples)")
        try require(checkSamples >= 1, "--check-samples must be at least 1, got \(checkSamples)")
        if let threads { try require((1...1024).contains(threads), "--threads must be in 1...1024, got \(threads)") }
    }

    /// The settings that decide the numbers (everything but paths of data and threads), for
    /// matching a resumed evaluation against its state.
    var fingerprintSettings: EvaluationConfig {
        var copy = self
        copy.dataDirectory = nil
        copy.threads = nil
        return copy
    }
}
