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
extension AdversarialTrainingMode: ExpressibleByArgument {}

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
private let cifar = PaperDefaults(for: .cifar10)
private let mnist = PaperDefaults(for: .mnist)
private let fashion = PaperDefaults(for: .fashionMNIST)

/// A number in its shortest form (%g): 0.1 rather than 0.09999999999999999.
private func short(_ value: Double) -> String {
    String(format: "%g", value)
}

/// "a for CIFAR-10/100 and Tiny ImageNet, b for MNIST and Fashion-MNIST": a default that differs per dataset.
private func perDataset(_ value: (PaperDefaults) -> Double) -> String {
    "\(short(value(cifar))) for CIFAR-10/100 and Tiny ImageNet, \(short(value(mnist))) for MNIST and Fashion-MNIST"
}

/// `edlcm train`: trains an ensemble and writes config.json, metrics.jsonl and checkpoint.safetensors.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an ensemble.",
        discussion: """
        Writes, in --out: config.json (every resolved setting, versions, dataset checksums, the command \
        line), metrics.jsonl (one line per epoch) and checkpoint.safetensors (weights, optimizer state, \
        epoch; written atomically after every epoch). Settings come from the defaults, then --config \
        (JSON or YAML with the flag names as keys), then the flags. The baseline methods (ADP, GAL, \
        DVERGE, TRS, adversarial training), their formulas, defaults and sources: docs/baselines.md.
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

    @Flag(help: "EDLCM/CURE: hold one member's graph at a time (same gradients, less peak memory, about a third more compute).")
    var lowMemory = false

    @Option(help: "On a NaN or infinite loss or gradient: stop (naming the epoch, batch and term; the last good checkpoint stays) or skip the batch (default: \(defaults.onNonFinite.rawValue)).")
    var onNonfinite: NonFinitePolicy?

    @Flag(help: "Data-parallel training over processes started by torchrun or `edlcm launch` (reads RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); --batch-size is the global batch.")
    var distributed = false

    @Option(help: "ADP: weight α of the ensemble entropy (default: \(defaults.adpAlpha)).")
    var adpAlpha: Double?

    @Option(help: "ADP: weight β of the log-determinant of the non-true-class predictions (default: \(defaults.adpBeta)).")
    var adpBeta: Double?

    @Option(help: "GAL: weight λ of the log-sum-exp of pairwise input-gradient cosines (default: \(defaults.galLambda)).")
    var galLambda: Double?

    @Option(help: "TRS: weight λ_a of the mean pairwise |cos| of input gradients (default: \(perDataset(\.trsLambdaA))).")
    var trsLambdaA: Double?

    @Option(help: "TRS: weight λ_b of the mean squared input-gradient norm (default: \(perDataset(\.trsLambdaB))).")
    var trsLambdaB: Double?

    @Option(help: "TRS: L∞ radius δ₀ of the smoothness search in the first epoch (default: \(perDataset(\.trsDeltaStart))).")
    var trsDeltaStart: Double?

    @Option(help: "TRS: radius δ_M that δ ramps towards, linearly per epoch (default: \(perDataset(\.trsDeltaEnd))).")
    var trsDeltaEnd: Double?

    @Option(help: "TRS: steps (of δ/3) of the smoothness search (default: \(defaults.trsSteps)).")
    var trsSteps: Int?

    @Option(help: "DVERGE: L∞ radius of the feature distillation (default: \(perDataset(\.dvergeEps))).")
    var dvergeEps: Double?

    @Option(help: "DVERGE: step of the distillation (default: \(short(cifar.dvergeStep / cifar.dvergeEps)) × --dverge-eps).")
    var dvergeStep: Double?

    @Option(help: "DVERGE: steps of the distillation (default: \(defaults.dvergeSteps)).")
    var dvergeSteps: Int?

    @Option(help: "DVERGE: distil at this block (0-based: 0...\(Architecture.cnn.featureLayerCount - 1) for cnn, 0...\(Architecture.resnet20.featureLayerCount - 1) for resnet20) in every epoch (default: a seeded random block per epoch).")
    var dvergeLayer: Int?

    @Option(help: "DVERGE: momentum of the distillation's L1-normalised gradient, 0 for plain signed steps (default: \(defaults.dvergeMomentum)).")
    var dvergeMomentum: Double?

    @Option(help: "Adversarial training on top of the method: none or pgd (PGD examples of the ensemble replace the batch) (default: \(defaults.adversarial.rawValue)).")
    var adversarial: AdversarialTrainingMode?

    @Option(help: "Adversarial training: L∞ radius ε (default: \(short(cifar.advEps * 255))/255 for CIFAR-10/100 and Tiny ImageNet, \(short(mnist.advEps)) for MNIST, \(short(fashion.advEps)) for Fashion-MNIST).")
    var advEps: Double?

    @Option(help: "Adversarial training: PGD step (default: ε/\(short(cifar.advEps / cifar.advStep)), ε/\(short(mnist.advEps / mnist.advStep)) for MNIST).")
    var advStep: Double?

    @Option(help: "Adversarial training: PGD steps (default: \(cifar.advSteps), \(mnist.advSteps) for MNIST).")
    var advSteps: Int?

    @Option(help: "Adversarial training: fraction of each batch replaced by adversarial examples (default: \(defaults.advFraction)).")
    var advFraction: Double?

    @Option(help: "Start from the weights (not the optimizer state) of this run folder or checkpoint.safetensors, same architecture and members (default: fresh weights).")
    var from: String?

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
        if lowMemory { c.lowMemory = true }
        if let onNonfinite { c.onNonFinite = onNonfinite }
        if let adpAlpha { c.adpAlpha = adpAlpha }
        if let adpBeta { c.adpBeta = adpBeta }
        if let galLambda { c.galLambda = galLambda }
        if let trsLambdaA { c.trsLambdaA = trsLambdaA }
        if let trsLambdaB { c.trsLambdaB = trsLambdaB }
        if let trsDeltaStart { c.trsDeltaStart = trsDeltaStart }
        if let trsDeltaEnd { c.trsDeltaEnd = trsDeltaEnd }
        if let trsSteps { c.trsSteps = trsSteps }
        if let dvergeEps { c.dvergeEps = dvergeEps }
        if let dvergeStep { c.dvergeStep = dvergeStep }
        if let dvergeSteps { c.dvergeSteps = dvergeSteps }
        if let dvergeLayer { c.dvergeLayer = dvergeLayer }
        if let dvergeMomentum { c.dvergeMomentum = dvergeMomentum }
        if let adversarial { c.adversarial = adversarial }
        if let advEps { c.advEps = advEps }
        if let advStep { c.advStep = advStep }
        if let advSteps { c.advSteps = advSteps }
        if let advFraction { c.advFraction = advFraction }
        if let from { c.from = from }
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
        let epochs: [EpochMetrics]
        do {
            epochs = try trainer.train(shouldStop: { stopRequested.load(ordering: .relaxed) }) { progress.handle($0) }
        } catch let stopped as TrainingStopped {
            FileHandle.standardError.write(Data("\nedlcm: \(stopped.description)\n".utf8))
            Foundation.exit(130)
        }
        guard trainer.isWriter else { return }
        // The last epoch measured the final weights already; a resumed run with nothing left to train measures them here.
        let accuracy = epochs.last.map { (ensemble: $0.testAccuracy, members: $0.memberTestAccuracy) }
            ?? { let measured = trainer.ensemble.cleanAccuracy(on: trainer.testLoader); return (measured.ensemble, measured.members) }()
        let members = accuracy.members.enumerated().map { "member\($0.offset) \(percent($0.element))" }.joined(separator: ", ")
        print("clean test accuracy on \(trainer.testLoader.count) images: ensemble \(percent(accuracy.ensemble)) (\(members))")
        if trainer.skippedBatches > 0 { print("skipped \(trainer.skippedBatches) batches with a non-finite loss or gradient") }
        let method = config.method.rawValue + (config.adversarial == .pgd ? " and PGD adversarial training" : "")
        print("trained \(config.members) × \(config.architecture.rawValue) with \(method) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; run folder: \(trainer.run.url.path)")
    }
}

func percent(_ value: Double) -> String {
    String(format: "%.2f%%", value * 100)
}
