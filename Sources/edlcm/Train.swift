import ArgumentParser
import EDLCM
import Foundation
import Synchronization
import Torch

extension DatasetName: ExpressibleByArgument {}
extension Architecture: ExpressibleByArgument {}
extension TrainingMethod: ExpressibleByArgument {}
extension OptimizerKind: ExpressibleByArgument {}
extension ScheduleKind: ExpressibleByArgument {}
extension EnsembleOutput: ExpressibleByArgument {}
extension ProbeDirection: ExpressibleByArgument {}
extension ProbeSharing: ExpressibleByArgument {}
extension NonFinitePolicy: ExpressibleByArgument {}

/// Set by SIGINT/SIGTERM: training finishes the step, checkpoints and stops. A second signal exits at once.
let stopRequested = Atomic<Bool>(false)

func installStopHandlers() {
    // A parent may have spawned us with these signals blocked (the mask is inherited): unblock them.
    var unblock = sigset_t()
    sigemptyset(&unblock)
    sigaddset(&unblock, SIGINT)
    sigaddset(&unblock, SIGTERM)
    sigprocmask(SIG_UNBLOCK, &unblock, nil)
    for signalNumber in [SIGINT, SIGTERM] {
        signal(signalNumber) { number in
            if stopRequested.exchange(true, ordering: .relaxed) { _exit(128 + number) }
        }
    }
}

private let defaults = TrainingConfig()

/// `edlcm train`: trains an ensemble and writes config.json, metrics.jsonl and checkpoint.safetensors.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an ensemble.",
        discussion: """
        Writes, in --out: config.json (every resolved setting, versions, dataset checksums, the command \
        line), metrics.jsonl (one line per epoch) and checkpoint.safetensors (weights, optimizer state, \
        epoch; written atomically after every epoch). Settings come from the defaults, then --config \
        (JSON or YAML with the flag names as keys), then the flags.
        """
    )

    @Option(help: "A JSON or YAML file of settings, keyed by flag name (flags given here override it).")
    var config: String?

    @Option(help: "Dataset: \(DatasetName.allCases.map(\.rawValue).joined(separator: ", ")) (default: \(defaults.dataset.rawValue)).")
    var dataset: DatasetName?

    @Option(help: "Folder holding the dataset files (default: Debian's Fashion-MNIST folder; required for the others).")
    var dataDir: String?

    @Option(help: "Member architecture: \(Architecture.allCases.map(\.rawValue).joined(separator: ", ")) (default: \(defaults.architecture.rawValue)).")
    var arch: Architecture?

    @Option(help: "Channel-width multiplier of every member (default: \(defaults.width)).")
    var width: Int?

    @Option(help: "Number of ensemble members, at least 2 (default: \(defaults.members)).")
    var members: Int?

    @Option(help: "Training method: \(TrainingMethod.allCases.map(\.rawValue).joined(separator: ", ")) (default: \(defaults.method.rawValue)).")
    var method: TrainingMethod?

    @Option(help: "How members are combined: probabilities (log of averaged softmax) or logits (default: \(defaults.ensembleOutput.rawValue)).")
    var ensembleOutput: EnsembleOutput?

    @Option(help: "Epochs to train (default: \(defaults.epochs)).")
    var epochs: Int?

    @Option(help: "Batch size (default: \(defaults.batchSize)).")
    var batchSize: Int?

    @Option(help: "Optimizer: sgd, adam or adamw (default: \(defaults.optimizer.rawValue)).")
    var optimizer: OptimizerKind?

    @Option(help: "Base learning rate (default: \(defaults.learningRate)).")
    var lr: Double?

    @Option(help: "SGD momentum (default: \(defaults.momentum)).")
    var momentum: Double?

    @Option(help: "Weight decay (L2 for sgd/adam, decoupled for adamw) (default: \(defaults.weightDecay)).")
    var weightDecay: Double?

    @Option(help: "Learning-rate schedule: constant, step, multistep (×gamma at 50 % and 75 %) or cosine (default: \(defaults.schedule.rawValue)).")
    var schedule: ScheduleKind?

    @Option(help: "Epochs between decays of the step schedule (default: \(defaults.stepSize)).")
    var stepSize: Int?

    @Option(help: "Decay factor of the step and multistep schedules (default: \(defaults.gamma)).")
    var gamma: Double?

    @Option(help: "Seed of initialisation, data order, subsets and augmentation (default: \(defaults.seed)).")
    var seed: UInt64?

    @Option(help: "Train on a stratified, seeded subset of this many training images (default: all).")
    var trainLimit: Int?

    @Option(help: "Evaluate on a stratified, seeded subset of this many test images (default: all).")
    var testLimit: Int?

    @Option(help: "Random crop and flip: true or false (default: on for CIFAR and Tiny ImageNet, off for (Fashion-)MNIST).")
    var augment: Bool?

    @Option(help: "libtorch threads (default: all available cores).")
    var threads: Int?

    @Option(help: "EDLCM: weight α of the HVP dispersion L_g (default: \(defaults.alpha)).")
    var alpha: Double?

    @Option(help: "EDLCM/CURE: weight β of the curvature L_r (default: \(defaults.beta)).")
    var beta: Double?

    @Option(help: "EDLCM: weight of the optional first-order dispersion, mean pairwise cos of input gradients (default: \(defaults.gradAlpha)).")
    var gradAlpha: Double?

    @Option(help: "EDLCM/CURE: finite-difference step h, an L2 distance in [0, 1] pixel space (default: \(defaults.h)).")
    var h: Double?

    @Option(help: "EDLCM/CURE: probe direction z: gradient-sign, rademacher or gaussian (default: \(defaults.direction.rawValue)).")
    var direction: ProbeDirection?

    @Option(help: "EDLCM: one probe for all members (shared, from the ensemble loss) or one each (per-member) (default: \(defaults.probe.rawValue)).")
    var probe: ProbeSharing?

    @Option(help: "EDLCM: use |cos| in the dispersion terms: true or false (default: \(defaults.absoluteCosine)).")
    var absoluteCosine: Bool?

    @Option(help: "EDLCM/CURE: ramp h (from 10 %) and the regulariser weights (from 0) over this many epochs (default: \(defaults.warmupEpochs)).")
    var warmupEpochs: Double?

    @Option(help: "On a NaN or infinite loss or gradient: stop (naming the epoch, batch and term; the last good checkpoint stays) or skip the batch (default: \(defaults.onNonFinite.rawValue)).")
    var onNonfinite: NonFinitePolicy?

    @Flag(help: "Data-parallel training over processes started by torchrun or `edlcm launch` (reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); --batch-size is the global batch.")
    var distributed = false

    @Option(help: "Run folder to write (created if missing; an existing run is never overwritten).")
    var out: String

    @Flag(help: "Continue the run in --out from its last checkpoint (settings must match; --epochs may grow).")
    var resume = false

    /// The settings: defaults, then the config file, then the flags given.
    func resolvedConfig() throws -> TrainingConfig {
        var c = try config.map { try ConfigFile.load(TrainingConfig.self, from: $0) } ?? TrainingConfig()
        if let dataset { c.dataset = dataset }
        if let dataDir { c.dataDirectory = dataDir }
        if let arch { c.architecture = arch }
        if let width { c.width = width }
        if let members { c.members = members }
        if let method { c.method = method }
        if let ensembleOutput { c.ensembleOutput = ensembleOutput }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let optimizer { c.optimizer = optimizer }
        if let lr { c.learningRate = lr }
        if let momentum { c.momentum = momentum }
        if let weightDecay { c.weightDecay = weightDecay }
        if let schedule { c.schedule = schedule }
        if let stepSize { c.stepSize = stepSize }
        if let gamma { c.gamma = gamma }
        if let seed { c.seed = seed }
        if let trainLimit { c.trainLimit = trainLimit }
        if let testLimit { c.testLimit = testLimit }
        if let augment { c.augment = augment }
        if let threads { c.threads = threads }
        if let alpha { c.alpha = alpha }
        if let beta { c.beta = beta }
        if let gradAlpha { c.gradAlpha = gradAlpha }
        if let h { c.h = h }
        if let direction { c.direction = direction }
        if let probe { c.probe = probe }
        if let absoluteCosine { c.absoluteCosine = absoluteCosine }
        if let warmupEpochs { c.warmupEpochs = warmupEpochs }
        if let onNonfinite { c.onNonFinite = onNonfinite }
        try c.validate()
        return c
    }

    func run() throws {
        installStopHandlers()
        let config = try resolvedConfig()
        let group: ProcessGroup?
        do {
            group = distributed ? try ProcessGroup(timeout: .seconds(120)) : nil
        } catch let error as TorchError {
            throw EDLCMError(error.message)
        }
        let trainer = try Trainer(config: config, output: URL(fileURLWithPath: out), resume: resume, command: CommandLine.arguments,
                                  distributed: group)
        let progress = ProgressDisplay(runPath: trainer.run.url.path, quiet: !trainer.isWriter)
        let start = Date()
        do {
            try trainer.train(shouldStop: { stopRequested.load(ordering: .relaxed) }) { progress.handle($0) }
        } catch let stopped as TrainingStopped {
            FileHandle.standardError.write(Data("\nedlcm: \(stopped.description)\n".utf8))
            Foundation.exit(130)
        }
        guard trainer.isWriter else { return }
        let accuracy = trainer.ensemble.cleanAccuracy(on: trainer.testLoader)
        let members = accuracy.members.enumerated().map { "member\($0.offset) \(percent($0.element))" }.joined(separator: ", ")
        print("clean test accuracy on \(trainer.testLoader.count) images: ensemble \(percent(accuracy.ensemble)) (\(members))")
        if trainer.skippedBatches > 0 { print("skipped \(trainer.skippedBatches) batches with a non-finite loss or gradient") }
        print("trained \(config.members) × \(config.architecture.rawValue) with \(config.method.rawValue) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; run folder: \(trainer.run.url.path)")
    }
}

func percent(_ value: Double) -> String {
    String(format: "%.2f%%", value * 100)
}
