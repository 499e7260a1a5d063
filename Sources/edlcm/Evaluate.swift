import ArgumentParser
import EDLCM
import Foundation
import Torch

extension PerturbationNorm: ExpressibleByArgument {}

private let evaluationDefaults = EvaluationConfig()

/// Set by the SIGINT handler; read between batches.
nonisolated(unsafe) private var interruptRequested = false

/// `edlcm evaluate`: attacks a trained ensemble and writes the results as JSON, CSV and Markdown.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a trained ensemble's adversarial robustness.",
        discussion: """
        Rebuilds the ensemble from --run's checkpoint, draws a seeded stratified subset of the test split, and at \
        each ε runs the attacks on every objective (log-averaged softmax, averaged logits, sum of member losses), \
        then the transfer attacks crafted on --surrogates, keeping a per-image worst case; then the members' \
        transferability matrix and the gradient-masking sanity checks. Writes --out (JSON) and, beside it, .csv, \
        .md and .state.json; an interrupted evaluation resumes from the state when run again with the same \
        settings. Defaults are sized for a quick CPU evaluation; for a full-strength one use for example \
        --steps 100 --restarts 5 --queries 5000 (see docs/evaluation.md). Attacks: \
        \(AttackName.allCases.map(\.rawValue).joined(separator: ", ")).
        """
    )

    @Option(name: .customLong("run"), help: "The run folder to evaluate (written by edlcm train).")
    var runFolder: String

    @Option(help: "The JSON results file; .csv, .md and .state.json go beside it (default: RUN/evaluation.json).")
    var out: String?

    @Option(help: "A JSON or YAML file of settings, keyed by flag name (flags given here override it).")
    var config: String?

    @Option(parsing: .upToNextOption, help: "Attacks, in order (default: \(evaluationDefaults.attacks.map(\.rawValue).joined(separator: ","))).")
    var attacks: [String] = []

    @Option(parsing: .upToNextOption, help: "Radii, e.g. 0.1 or 8/255 (default: the dataset's usual three).")
    var eps: [String] = []

    @Option(help: "Threat model: linf or l2 (default: \(evaluationDefaults.norm.rawValue)).")
    var norm: PerturbationNorm?

    @Option(help: "Iterations of every iterative attack (default: \(evaluationDefaults.steps)).")
    var steps: Int?

    @Option(help: "Random restarts of PGD, PGD-CW, APGD and M-PGD (default: \(evaluationDefaults.restarts)).")
    var restarts: Int?

    @Option(help: "Square attack queries per image (default: \(evaluationDefaults.queries)).")
    var queries: Int?

    @Option(help: "Evaluate a seeded stratified subset of this many test images, or 'all' (default: \(evaluationDefaults.samples.map(String.init) ?? "all")).")
    var samples: String?

    @Option(help: "Seed of the subset, random starts and target classes (default: \(evaluationDefaults.seed)).")
    var seed: UInt64?

    @Option(parsing: .upToNextOption, help: "Objectives of the white-box attacks: probabilities, logits, member-losses (default: all three).")
    var targets: [String] = []

    @Flag(inversion: .prefixedNo, help: "Targeted attacks toward a seeded random wrong class per image (default: untargeted).")
    var targeted: Bool?

    @Flag(help: "Run every attack on every clean-correct image (default: each attack only on the images still robust).")
    var independent = false

    @Flag(inversion: .prefixedNo, help: "Stop attacking an image at its first success (default: on; off for benchmarks).")
    var earlyStop: Bool?

    @Option(help: "Images per batch (default: \(evaluationDefaults.batchSize)).")
    var batchSize: Int?

    @Option(parsing: .upToNextOption, help: "Run folders of held-out surrogate ensembles for transfer attacks.")
    var surrogates: [String] = []

    @Option(parsing: .upToNextOption, help: "Train plain surrogate ensembles of these sizes (e.g. 1 3) with other seeds, beside --out.")
    var trainSurrogates: [Int] = []

    @Option(help: "Epochs of the surrogates trained here (default: the target's).")
    var surrogateEpochs: Int?

    @Option(parsing: .upToNextOption, help: "Attacks crafted on the surrogates (default: \(evaluationDefaults.transferAttacks.map(\.rawValue).joined(separator: ","))).")
    var transferAttacks: [String] = []

    @Option(help: "Iterations of the transfer attacks (default: \(evaluationDefaults.transferSteps)).")
    var transferSteps: Int?

    @Flag(inversion: .prefixedNo, help: "Compute the members' transferability matrix (default: on).")
    var matrix: Bool?

    @Option(help: "At most this many images for the matrix (default: \(evaluationDefaults.matrixSamples)).")
    var matrixSamples: Int?

    @Flag(inversion: .prefixedNo, help: "Run the gradient-masking sanity checks (default: on).")
    var checks: Bool?

    @Option(help: "At most this many clean-correct images for the sanity checks' attacks (default: \(evaluationDefaults.checkSamples)).")
    var checkSamples: Int?

    @Option(help: "Folder holding the dataset (default: the one recorded in the run).")
    var dataDir: String?

    @Option(help: "libtorch threads (default: all available cores).")
    var threads: Int?

    /// The settings: defaults, then the config file, then the flags given.
    func resolvedConfig() throws -> EvaluationConfig {
        var c = try config.map { try ConfigFile.load(EvaluationConfig.self, from: $0) } ?? EvaluationConfig()
        if !attacks.isEmpty { c.attacks = try Self.names(attacks, flag: "--attacks") }
        if !eps.isEmpty { c.epsilons = try Self.radii(eps) }
        if let norm { c.norm = norm }
        if let steps { c.steps = steps }
        if let restarts { c.restarts = restarts }
        if let queries { c.queries = queries }
        if let samples {
            if samples == "all" {
                c.samples = nil
            } else {
                guard let count = Int(samples) else { throw EDLCMError("--samples must be a number or 'all', got '\(samples)'") }
                c.samples = count
            }
        }
        if let seed { c.seed = seed }
        if !targets.isEmpty {
            c.targets = try Self.split(targets).map { name in
                guard let objective = TargetObjective(name: name) else {
                    throw EDLCMError("--targets: unknown objective '\(name)' (probabilities, logits, member-losses)")
                }
                return objective
            }
        }
        if let targeted { c.targeted = targeted }
        if independent { c.mode = .independent }
        if let earlyStop { c.earlyStop = earlyStop }
        if let batchSize { c.batchSize = batchSize }
        if !surrogates.isEmpty { c.surrogates = surrogates }
        if !trainSurrogates.isEmpty { c.trainSurrogates = trainSurrogates }
        if let surrogateEpochs { c.surrogateEpochs = surrogateEpochs }
        if !transferAttacks.isEmpty { c.transferAttacks = try Self.names(transferAttacks, flag: "--transfer-attacks") }
        if let transferSteps { c.transferSteps = transferSteps }
        if let matrix { c.matrix = matrix }
        if let matrixSamples { c.matrixSamples = matrixSamples }
        if let checks { c.checks = checks }
        if let checkSamples { c.checkSamples = checkSamples }
        if let dataDir { c.dataDirectory = dataDir }
        if let threads { c.threads = threads }
        try c.validate()
        return c
    }

    /// Values given as separate arguments or comma-separated.
    static func split(_ values: [String]) -> [String] {
        values.flatMap { $0.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) } }.filter { !$0.isEmpty }
    }

    static func names(_ values: [String], flag: String) throws -> [AttackName] {
        try split(values).map { name in
            guard let attack = AttackName(rawValue: name.lowercased()) else {
                throw EDLCMError("\(flag): unknown attack '\(name)' (known: \(AttackName.allCases.map(\.rawValue).joined(separator: ", ")))")
            }
            return attack
        }
    }

    /// Radii as decimals or fractions ("8/255").
    static func radii(_ values: [String]) throws -> [Double] {
        try split(values).map { text in
            let parts = text.split(separator: "/")
            let value: Double?
            if parts.count == 2, let numerator = Double(parts[0]), let denominator = Double(parts[1]), denominator != 0 {
                value = numerator / denominator
            } else {
                value = parts.count == 1 ? Double(text) : nil
            }
            guard let value, value.isFinite else { throw EDLCMError("--eps: '\(text)' is not a number or a fraction like 8/255") }
            guard value >= 0 else { throw EDLCMError("--eps must be ≥ 0, got \(text)") }
            return value
        }
    }

    func run() throws {
        let settings = try resolvedConfig()
        let outPath = out ?? URL(fileURLWithPath: runFolder).appendingPathComponent("evaluation.json").path
        let display = EvaluationProgress()
        let session = try EvaluationSession(config: settings, runFolder: runFolder, out: outPath, command: CommandLine.arguments) { members, epoch, epochs in
            display.surrogate(members: members, epoch: epoch, epochs: epochs)
        }
        let start = Date()
        // The first Ctrl-C stops after the current batch with the state saved; a second one exits at once.
        signal(SIGINT) { _ in
            if interruptRequested { _exit(130) }
            interruptRequested = true
        }
        let result = try session.run(progress: { display.handle($0) }, shouldStop: { interruptRequested })
        display.finish()
        print(EvaluationSummary.text(result))
        print(String(format: "evaluated in %.1f s; results: %@, %@, %@", Date().timeIntervalSince(start),
                     session.files.json.path, session.files.csv.path, session.files.markdown.path))
    }
}
