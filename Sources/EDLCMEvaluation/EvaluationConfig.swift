import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation

/// How the attacks of an evaluation share the examples.
public enum EvaluationMode: String, SettingChoice {
    /// Each attack runs only on the examples every earlier attack failed on (AutoAttack's way):
    /// the worst case is exact and the later attacks are cheap; per-attack numbers are cumulative.
    case cascade
    /// Each attack runs on every clean-correct example, so each attack's own robust accuracy is
    /// known too (slower).
    case independent
}

/// Every setting of an evaluation, each declared once (flag, file key, default, help, check).
/// Flags and `--config` files (JSON or YAML, keyed by flag name) set it; the resolved struct is
/// recorded with the results. `--preset` chooses the starting values of the attack settings
/// (``EvaluationPreset``); other flags and file keys override them.
public struct EvaluationConfig: SettingsGroup {
    @Setting(
        "The attack budget to start from: quick (minutes on a CPU), standard (AutoAttack's standard version, ensemble-aware), ensemble (standard + MORA + DVERGE/TRS's transfer protocol); other flags override its values."
    )
    public var preset: EvaluationPreset = .quick
    @Setting("Attacks of the suite, run in this order at each ε (white-box, then score-based black-box).")
    public var attacks: [AttackName] = [.apgdCE, .apgdDLR, .square]
    @Setting(
        "Radii, ascending (decimals or fractions like 8/255).", .ifSet(.each(.nonNegative)), key: "eps",
        defaultText: EvaluationConfig.defaultEpsilonsText)
    public var epsilons: [Double]? = nil
    @Setting(
        "Radii among --eps at which the suite is --light-attacks instead of --attacks: a lighter evaluation of a secondary radius (the checks, transfer and matrix run there as everywhere).",
        .each(.nonNegative))
    public var lightEps: [Double] = []
    @Setting("The suite at the radii of --light-eps.") public var lightAttacks: [AttackName] = [.apgdCE, .apgdDLR]
    @Setting(
        "Gradient attacks of the suite that run on every objective of --targets; the others run on the first objective only (unset: all of them on every objective).",
        defaultText: "every attack")
    public var everyObjective: [AttackName]? = nil
    @Setting("Threat model.") public var norm: PerturbationNorm = .linf
    @Setting("Iterations of every iterative attack (the papers use 40–100; see docs/evaluation.md).", .atLeast(1)) public
        var steps = 20
    @Setting("Random restarts of PGD, PGD-CW, APGD and M-PGD.", .atLeast(1)) public var restarts = 1
    @Setting("Square attack queries per image.", .atLeast(1)) public var queries = 300
    @Setting(
        "Square's schedule of p: rescaled (its halvings scaled to --queries, the Square paper's code; our default) or autoattack (AutoAttack's fixed iterations 10, 50, …, 8000, resc_schedule=False); docs/evaluation.md compares them."
    )
    public var squareSchedule: SquareSchedule = .rescaled
    @Setting("Evaluate a seeded stratified subset of this many images of the split, or all of them.", .ifSet(.atLeast(1)))
    public var samples: Int? = 500
    @Setting(
        "The images attacked: the test split, or the validation images the run held out of training (train with --validation N), for choosing strengths and budgets."
    )
    public var split: EvaluationSplit = .test
    public var seeding = SeedSettings()
    @Setting("Objectives of the white-box attacks (the worst is reported): probabilities, logits, member-losses.")
    public var targets: [TargetObjective] = TargetObjective.ensembleAware
    @Setting("Targeted attacks toward a seeded random wrong class per image, instead of untargeted.") public var targeted = false
    @Setting(
        "cascade: each attack only on the images still robust (AutoAttack's way); independent: every attack on every clean-correct image (per-attack numbers too, slower)."
    )
    public var mode: EvaluationMode = .cascade
    @Setting("Stop attacking an image at its first success (off only for benchmarks).") public var earlyStop = true
    @Setting("Images per attack batch.", .atLeast(1)) public var batchSize = 250
    @Setting("Run folders of held-out surrogate ensembles for transfer attacks.") public var surrogates: [String] = []
    @Setting("Train plain surrogate ensembles of these sizes (e.g. 1 3) with other seeds, beside --out.", .each(.within(1...64)))
    public var trainSurrogates: [Int] = []
    @Setting("Epochs of the surrogates trained here.", .ifSet(.atLeast(1)), defaultText: "the target's")
    public var surrogateEpochs: Int? = nil
    @Setting("Attacks crafted on the surrogates (sgm only on residual surrogates).")
    public var transferAttacks: [AttackName] = [.mpgd, .diFGSM]
    @Setting("Iterations of the transfer attacks.", .atLeast(1)) public var transferSteps = 50
    @Setting(
        "Random starts of the transfer attacks that start at random (m-pgd), each evaluated on the target.", .atLeast(1))
    public var transferRestarts = 1
    @Setting("Losses the transfer attacks are crafted with, each a run of its own: ce (cross-entropy), margin (C&W).")
    public var transferLosses: [AttackLoss] = [.crossEntropy]
    @Setting("Compute the members' transferability matrix.") public var matrix = true
    @Setting("At most this many images (all members correct) for the matrix.", .atLeast(1)) public var matrixSamples = 200
    @Setting("Run the gradient-masking sanity checks.") public var checks = true
    @Setting("At most this many clean-correct images for the sanity checks' own attack runs.", .atLeast(1)) public
        var checkSamples = 100
    public var data = DataFolderSettings()
    public var runtime = RuntimeSettings()

    /// The defaults: the quick preset, a CPU evaluation in minutes (see docs/evaluation.md).
    public init() {}

    /// The defaults with a preset's attack settings.
    public init(preset: EvaluationPreset) {
        self.init()
        self.preset = preset
        preset.apply(to: &self)
    }

    /// A preset chosen in a file or the flags starts from its values, which the file and flags then override.
    public func presetBase(over base: EvaluationConfig) -> EvaluationConfig? {
        var config = base
        preset.apply(to: &config)
        return config
    }

    /// The settings the preset sets that this configuration changes, as "--key value" (empty when it
    /// runs the preset as defined).
    public var changesFromPreset: [String] {
        let reference = EvaluationConfig(preset: preset).flattened
        let own = flattened
        return EvaluationPreset.keys.compactMap { key in
            own[key] == reference[key] ? nil : "--\(key) \(own[key].map(EvaluationPreset.argumentText) ?? "(unset)")"
        }
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

    /// The help's words for the default radii, from ``defaultEpsilons(dataset:norm:)``: "the dataset's
    /// usual ones: L∞ 0.1, 0.2 for (Fashion-)MNIST, 4/255, 8/255 for CIFAR, 2/255, 4/255 for Tiny ImageNet".
    static var defaultEpsilonsText: String {
        func text(_ value: Double) -> String {
            let steps = value * 255
            return abs(steps - steps.rounded()) < 1e-9 && steps < 32 ? "\(Int(steps.rounded()))/255" : value.argument
        }
        let datasets: [(String, DatasetName)] = [
            ("(Fashion-)MNIST", .fashionMNIST), ("CIFAR", .cifar10), ("Tiny ImageNet", .tinyImageNet),
        ]
        return "the dataset's usual ones: L∞ "
            + datasets.map { name, dataset in
                defaultEpsilons(dataset: dataset, norm: .linf).map(text).joined(separator: ", ") + " for " + name
            }.joined(separator: ", ")
    }

    /// The radii to run, ascending and without repeats (the dataset default when unset).
    public func resolvedEpsilons(dataset: DatasetName) -> [Double] {
        Array(Set(epsilons ?? Self.defaultEpsilons(dataset: dataset, norm: norm))).sorted()
    }

    /// The budget the suite's attacks run with.
    public var budget: AttackBudget {
        AttackBudget(
            steps: steps, restarts: restarts, queries: queries, squareSchedule: squareSchedule == .rescaled ? nil : squareSchedule
        )
    }

    /// The suite at `radius`: ``lightAttacks`` at the radii of ``lightEps``, ``attacks`` elsewhere.
    public func suite(at radius: Double) -> [AttackName] { lightEps.contains(radius) ? lightAttacks : attacks }

    /// The objectives a suite attack runs on: every objective of ``targets`` it can run on, or the
    /// first only when ``everyObjective`` leaves it out; the deployed output (nil) for Square.
    public func objectives(of attack: AttackName) -> [TargetObjective?] {
        guard attack.usesGradients else { return [nil] }
        let all = targets.filter(attack.runs(on:))
        return everyObjective.map { $0.contains(attack) ? all : Array(all.prefix(1)) } ?? all
    }

    /// The rules that involve several settings or the attacks' kinds.
    ///
    /// - Throws: ``EDLCMError`` naming the flag at fault.
    public func validateTogether() throws {
        func require(_ condition: Bool, _ message: @autoclosure () -> String) throws {
            if !condition { throw EDLCMError(message()) }
        }
        try require(
            !attacks.isEmpty || !surrogates.isEmpty || !trainSurrogates.isEmpty || checks || matrix,
            "--attacks: nothing to run (no attacks, surrogates, matrix or checks)")
        for (flag, list) in [("--attacks", attacks), ("--light-attacks", lightEps.isEmpty ? [] : lightAttacks)] {
            try require(Set(list).count == list.count, "\(flag) lists an attack twice")
            for attack in list where AttackName.transferAttacks.contains(attack) {
                throw EDLCMError(
                    "\(flag): \(attack.rawValue) is a transfer attack; list it in --transfer-attacks and give --surrogates")
            }
        }
        if !lightEps.isEmpty { try require(!lightAttacks.isEmpty, "--light-attacks needs at least one attack") }
        if let epsilons {
            for radius in lightEps where !epsilons.contains(radius) {
                throw EDLCMError(
                    "--light-eps \(radius.argument) is not among --eps (\(epsilons.map(\.argument).joined(separator: ", ")))")
            }
        }
        for attack in transferAttacks where !attack.usesGradients {
            throw EDLCMError("--transfer-attacks: \(attack.rawValue) reads no gradients, so it cannot be crafted on a surrogate")
        }
        for attack in transferAttacks where !AttackName.transferAttacks.contains(attack) {
            throw EDLCMError(
                "--transfer-attacks: \(attack.rawValue) is not a transfer attack (\(AttackName.transferAttacks.map(\.rawValue).joined(separator: ", ")))"
            )
        }
        try require(Set(transferAttacks).count == transferAttacks.count, "--transfer-attacks lists an attack twice")
        try require(!transferLosses.isEmpty, "--transfer-losses needs at least one loss")
        try require(Set(transferLosses).count == transferLosses.count, "--transfer-losses lists a loss twice")
        try require(!transferLosses.contains(.dlr), "--transfer-losses: dlr is not a transfer loss; use ce or margin")
        if let epsilons {
            try require(!epsilons.isEmpty, "--eps needs at least one radius")
            for epsilon in epsilons where norm == .linf {
                try require(epsilon <= 1, "--eps \(epsilon) exceeds 1, the whole [0, 1] range of an L∞ perturbation")
            }
        }
        for attack in attacks + (lightEps.isEmpty ? [] : lightAttacks) where targeted && !attack.makeAttack().supportsTargeted {
            throw EDLCMError(
                "--attacks \(attack.rawValue) picks its own target classes and has no targeted version; drop it or --targeted")
        }
        if attacks.contains(.mora) {
            try require(
                targets.contains { AttackName.mora.runs(on: $0) },
                "--attacks mora weighs the members against the averaged softmax or logits; add probabilities or logits to --targets"
            )
        }
        if attacks.contains(.cwL2) { try require(norm == .l2, "--attacks cw-l2 is an L2 attack; use --norm l2 or drop it") }
        try require(!targets.isEmpty, "--targets needs at least one objective")
        try require(Set(targets).count == targets.count, "--targets lists an objective twice")
        for target in targets {
            if case .member = target {
                throw EDLCMError(
                    "--targets: \(target) is for the transferability matrix; use probabilities, logits or member-losses")
            }
        }
    }

    /// The settings that decide the numbers (the flat object without the result-neutral ones and
    /// without unset optionals), for matching a resumed evaluation against its state: the text
    /// every version since the first has hashed, so a result-neutral setting added later (the
    /// device) leaves saved states matching.
    var fingerprintSettings: [String: JSONValue] { resultDeciding }
}
