import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Logging
import Torch

/// What a training run starts from: its settings as resolved, its data, model, optimizer and
/// objective, its run folder (created, or opened and restored from its checkpoint), and where in
/// the run it stands. ``prepare(config:output:resume:command:distributed:objective:)`` does this
/// setup; ``Trainer`` runs the epochs.
public struct TrainingSetup {
    public let config: TrainingConfig
    public let run: RunDirectory
    public let ensemble: Ensemble
    public let optimizer: any Optimizer
    public let objective: any EnsembleObjective
    public let trainLoader: DataLoader
    public let testLoader: DataLoader
    /// The validation images, when the run holds some out.
    public let validationLoader: DataLoader?
    public let distributed: ProcessGroup?
    /// Where the ensemble and its batches live (``RuntimeSettings/device`` resolved).
    public let device: Device
    /// Epochs already completed, and the progress of an interrupted epoch (from the checkpoint).
    public let completedEpochs: Int
    let partial: EpochProgress?
    /// The epochs after `completedEpochs` that `metrics.jsonl` already records: their weights are
    /// not in the checkpoint (results kept without weights, or a stop between an epoch's line and
    /// its checkpoint). They are trained again and each must give its recorded numbers; the lines
    /// stay as they were.
    let recordedEpochs: [EpochMetrics]
    /// The machine of the run's last command before this one, when the run records it.
    let recordedHost: HostRecord?

    /// Sets up a new run, or resumes the one in `output` when `resume` is true.
    ///
    /// A new run with `from` set starts from that checkpoint's weights (not its optimizer state);
    /// a resumed run continues from its own checkpoint (a run stopped before its first checkpoint,
    /// which has `config.json` only, starts again from `from` or fresh weights).
    ///
    /// - Parameters:
    ///   - config: the settings; the run keeps (and records) them ``TrainingConfig/resolved``.
    ///   - output: the run folder.
    ///   - resume: continue the run in `output` from its checkpoint.
    ///   - command: the command line, recorded in `config.json`.
    ///   - distributed: the process group for data-parallel training: each rank trains on its
    ///     shard of every global batch and gradients are averaged; rank 0 writes the run folder.
    ///   - objective: a custom loss instead of the one `config.method` names (an extension point).
    /// - Throws: ``EDLCMError`` for invalid settings, unreadable data, a folder that already holds a
    ///   run (without `resume`), or a checkpoint (the run's or `from`'s) that does not match the settings.
    public static func prepare(
        config: Validated<TrainingConfig>, output: URL, resume: Bool, command: [String], distributed: ProcessGroup? = nil,
        objective: (any EnsembleObjective)? = nil
    ) throws -> TrainingSetup {
        let config = config.settings.resolved
        if let distributed, config.batchSize % distributed.size != 0 {
            throw EDLCMError(
                "--batch-size \(config.batchSize) must be divisible by the \(distributed.size) processes (it is the global batch)"
            )
        }
        let device = try config.runtime.apply(localRank: distributed == nil ? 0 : try ProcessGroup.localRank())
        let data = try TrainingData(config)
        Runtime.seed(config.seeding.seed)
        // Initialised on the CPU (the seeded draws are the same on every device), then moved.
        let ensemble = Ensemble(spec: config.modelSpec, count: config.members, output: config.ensembleOutput)
        ensemble.move(to: device)
        let optimizer = makeOptimizer(config, parameters: ensemble.parameters)
        let isWriter = (distributed?.rank ?? 0) == 0
        let run = RunDirectory(url: output)
        var completed = 0
        var partial: EpochProgress?
        var recordedEpochs: [EpochMetrics] = []
        var recordedHost: HostRecord?

        if resume {
            guard var record = try run.readRecordIfPresent() else {
                throw EDLCMError("--resume: \(output.path) holds no run to resume (no config.json)")
            }
            let conflicts = record.config.resumeConflicts(with: config)
            guard conflicts.isEmpty else {
                throw EDLCMError(
                    "--resume: the settings differ from the run in \(output.path): \(conflicts.joined(separator: ", ")); only --epochs, --threads and --data-dir may change"
                )
            }
            if run.hasCheckpoint {
                let checkpoint = try run.readCheckpoint()
                try checkpoint.loadWeights(into: ensemble, spec: config.modelSpec)
                try checkpoint.restoreTrainingState(optimizer: optimizer)
                completed = checkpoint.metadata.epoch
                partial = checkpoint.metadata.progress
            } else if let from = config.from {
                _ = try loadInitialWeights(from: from, into: ensemble, config: config)
            }
            recordedHost = record.hosts?.last
            if isWriter {
                let kept = max(completed, config.epochs)
                recordedEpochs = try run.readMetrics().filter { $0.epoch > completed && $0.epoch <= kept }
                try run.truncateMetrics(toEpoch: kept)
                record.config = config
                record.commands.append(command)
                record.hosts?.append(.current)
                try run.writeRecord(record)
            }
            let check =
                recordedEpochs.last.map {
                    "; epochs \(completed + 1)–\($0.epoch) are recorded and will be checked against their lines"
                } ?? ""
            Logger(label: "edlcm.train").info(
                "resuming \(output.path) after epoch \(completed)\(partial.map { ", batch \($0.step)" } ?? "")\(check)")
        } else if isWriter {
            let initialWeights = try config.from.map { try loadInitialWeights(from: $0, into: ensemble, config: config) }
            try RunDirectory.create(output).writeRecord(
                RunRecord(
                    config: config, model: config.modelSpec, edlcmVersion: edlcmVersion, libtorchVersion: Runtime.libtorchVersion,
                    threads: Runtime.threadCount, commands: [command], created: ISO8601DateFormatter().string(from: Date()),
                    dataset: try DatasetRecord(
                        name: config.dataset, directory: data.directory, trainCount: data.train.count, testCount: data.test.count,
                        validationCount: data.validation?.count),
                    initialWeights: initialWeights, hosts: [.current]))
        }
        return TrainingSetup(
            config: config, run: run, ensemble: ensemble, optimizer: optimizer, objective: objective ?? makeObjective(config),
            trainLoader: DataLoader(
                data.train, batchSize: config.batchSize, augment: config.augmentationEnabled, seed: config.seeding.seed,
                device: device),
            testLoader: DataLoader(data.test, batchSize: 500, device: device),
            validationLoader: data.validation.map { DataLoader($0, batchSize: 500, device: device) },
            distributed: distributed, device: device, completedEpochs: completed,
            partial: partial, recordedEpochs: recordedEpochs, recordedHost: recordedHost)
    }

    /// Copies the weights of the checkpoint at `path` (a run folder or its checkpoint.safetensors)
    /// into `ensemble`; its optimizer state and generator state are not used.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it is missing, unreadable, not an EDLCM
    ///   checkpoint, or holds another architecture or member count than `config` asks for.
    static func loadInitialWeights(from path: String, into ensemble: Ensemble, config: TrainingConfig) throws
        -> InitialWeightsRecord
    {
        var url = URL(fileURLWithPath: path)
        if FileBytes.isDirectory(url) { url = RunDirectory(url: url).checkpointURL }
        let checkpoint = try StoredCheckpoint(reading: url, role: "--from")
        try checkpoint.loadWeights(into: ensemble, spec: config.modelSpec)
        return InitialWeightsRecord(
            path: url.path, sha256: try sha256Hex(of: url), method: checkpoint.metadata.method, epoch: checkpoint.metadata.epoch)
    }

    static func makeOptimizer(_ config: TrainingConfig, parameters: [Tensor]) -> any Optimizer {
        switch config.optimizer {
        case .sgd:
            SGD(
                parameters: parameters, learningRate: config.learningRate, momentum: config.momentum,
                weightDecay: config.weightDecay)
        case .adam: Adam(parameters: parameters, learningRate: config.learningRate, weightDecay: config.weightDecay)
        case .adamw:
            Adam(parameters: parameters, learningRate: config.learningRate, weightDecay: config.weightDecay, decoupled: true)
        }
    }

    /// The method's objective, wrapped in adversarial training when the settings ask for it.
    public static func makeObjective(_ config: TrainingConfig) -> any EnsembleObjective {
        let objective: any EnsembleObjective =
            switch config.method {
            case .baseline: BaselineObjective()
            case .edlcm, .cure: EDLCMObjective(options: config.edlcmOptions, lowMemory: config.memory.lowMemory)
            case .adp: ADPObjective(options: config.adpOptions)
            case .gal:
                GALObjective(lambda: config.galLambda, crossEntropy: config.galCrossEntropy, gradients: config.galGradients)
            case .dverge: DVERGEObjective(options: config.dvergeOptions)
            case .trs: TRSObjective(options: config.trsOptions)
            }
        switch config.adversarial {
        case .disabled: return objective
        case .pgd: return AdversarialTraining(wrapping: objective, options: config.adversarialOptions)
        }
    }
}

/// A run's training, validation and test images: the splits (or their seeded stratified subsets)
/// of the dataset, the validation images held out of the training split.
struct TrainingData {
    let directory: URL
    let train: ImageSet
    /// The held-out validation images (`--validation`), if any.
    let validation: ImageSet?
    let test: ImageSet

    init(_ config: TrainingConfig) throws {
        guard let path = config.data.directory ?? config.dataset.defaultDirectory else {
            throw EDLCMError("--dataset \(config.dataset.rawValue) needs --data-dir (the folder holding its files)")
        }
        directory = URL(fileURLWithPath: path)
        let seed = config.seeding.seed
        let train = try DatasetReader.load(config.dataset, split: .train, directory: directory)
        let test = try DatasetReader.load(config.dataset, split: .test, directory: directory)
        (self.train, self.validation) = try config.splitTrainingImages(train)
        self.test =
            config.testLimit.map {
                test.subset(stratifiedSubset(labels: test.labels, classCount: test.classCount, limit: $0, seed: seed &+ 1))
            } ?? test
    }
}

extension ProcessGroup {
    /// Joins the data-parallel job that torchrun or `edlcm launch` started (their environment), its
    /// collectives on the device `config` trains this rank on: NCCL between GPUs (one per rank, by
    /// `LOCAL_RANK`), Gloo on the CPU, unless `EDLCM_DISTRIBUTED_BACKEND` says otherwise.
    ///
    /// - Throws: ``EDLCMError`` for a device this rank cannot use; ``TorchError`` for a malformed
    ///   environment or a failed rendezvous.
    public static func joining(_ config: Validated<TrainingConfig>, timeout: Duration) throws -> ProcessGroup {
        let device = try config.settings.resolved.runtime.device.resolved(localRank: try localRank())
        return try ProcessGroup(timeout: timeout, device: device)
    }
}
