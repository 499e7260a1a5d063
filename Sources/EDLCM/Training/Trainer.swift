import Foundation
import Logging
import Torch

/// What the trainer reports while it runs, for progress bars and logs.
public enum TrainingEvent {
    /// A batch finished: running means over the epoch so far.
    case batch(epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, accuracy: Double, imagesPerSecond: Double)
    /// An epoch finished and was checkpointed.
    case epoch(EpochMetrics, epochs: Int)
}

/// Trains an ensemble with a method's objective, writing the run folder as it goes.
///
/// At the end of every epoch the trainer evaluates clean test accuracy, appends a line to
/// `metrics.jsonl` and writes `checkpoint.safetensors` atomically (weights, optimizer state,
/// libtorch's generator state, epoch). A resumed run continues from the last checkpoint and gives
/// the same weights as an uninterrupted run with the same seed: every epoch's data order and
/// augmentation is seeded by (seed, epoch), and libtorch's generator state is restored.
public final class Trainer {
    public let config: TrainingConfig
    public let run: RunDirectory
    public let ensemble: Ensemble
    public let optimizer: any Optimizer
    public let objective: any EnsembleObjective
    public let trainLoader: DataLoader
    public let testLoader: DataLoader
    /// Epochs already completed (from the checkpoint when resuming).
    public private(set) var completedEpochs = 0
    private let logger = Logger(label: "edlcm.train")

    /// Sets up a new run, or resumes the one in `run` when `resume` is true.
    ///
    /// A new run with `from` set starts from that checkpoint's weights (not its optimizer state);
    /// a resumed run continues from its own checkpoint and ignores `from`.
    ///
    /// - Parameters:
    ///   - config: the settings; the trainer keeps (and records) them ``TrainingConfig/resolved``.
    ///   - output: the run folder.
    ///   - resume: continue the run in `output` from its checkpoint.
    ///   - command: the command line, recorded in `config.json`.
    /// - Throws: ``EDLCMError`` for invalid settings, unreadable data, a folder that already holds a
    ///   run (without `resume`), or a checkpoint (the run's or `from`'s) that does not match the settings.
    public init(config: TrainingConfig, output: URL, resume: Bool, command: [String]) throws {
        try config.validate()
        let config = config.resolved
        try Runtime.setThreadCount(config.threads ?? Runtime.availableCores)
        let directory = URL(fileURLWithPath: config.dataDirectory ?? config.dataset.defaultDirectory ?? "")
        if config.dataDirectory == nil && config.dataset.defaultDirectory == nil {
            throw EDLCMError("--dataset \(config.dataset.rawValue) needs --data-dir (the folder holding its files)")
        }
        let train = try DatasetReader.load(config.dataset, split: .train, directory: directory)
        let test = try DatasetReader.load(config.dataset, split: .test, directory: directory)
        let trainSet = config.trainLimit.map { train.subset(stratifiedSubset(labels: train.labels, classCount: train.classCount, limit: $0, seed: config.seed)) } ?? train
        let testSet = config.testLimit.map { test.subset(stratifiedSubset(labels: test.labels, classCount: test.classCount, limit: $0, seed: config.seed &+ 1)) } ?? test

        self.config = config
        trainLoader = DataLoader(trainSet, batchSize: config.batchSize, augment: config.augmentationEnabled, seed: config.seed)
        testLoader = DataLoader(testSet, batchSize: 500)
        Runtime.seed(config.seed)
        ensemble = Ensemble(spec: config.modelSpec, count: config.members, output: config.ensembleOutput)
        optimizer = Self.makeOptimizer(config, parameters: ensemble.parameters)
        objective = Self.makeObjective(config)

        if resume {
            run = try RunDirectory.existing(output)
            var record = try run.readRecord()
            guard record.config.resumable(as: config) else {
                throw EDLCMError("--resume: the settings differ from the run in \(output.path) (only --epochs and --threads may change)")
            }
            try loadCheckpoint()
            try run.truncateMetrics(toEpoch: completedEpochs)
            record.config = config
            record.commands.append(command)
            try run.writeRecord(record)
            logger.info("resuming \(output.path) after epoch \(completedEpochs)")
        } else {
            var initialWeights: InitialWeightsRecord?
            if let from = config.from { initialWeights = try Self.loadInitialWeights(from: from, into: ensemble, config: config) }
            run = try RunDirectory.create(output)
            let record = RunRecord(
                config: config, model: config.modelSpec, edlcmVersion: edlcmVersion, libtorchVersion: Runtime.libtorchVersion,
                threads: Runtime.threadCount, commands: [command], created: ISO8601DateFormatter().string(from: Date()),
                dataset: try DatasetRecord(name: config.dataset, directory: directory, trainCount: trainSet.count, testCount: testSet.count),
                initialWeights: initialWeights)
            try run.writeRecord(record)
        }
    }

    /// Copies the weights of the checkpoint at `path` (a run folder or its checkpoint.safetensors)
    /// into `ensemble`; its optimizer state and generator state are not used.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it is missing, unreadable, not an EDLCM
    ///   checkpoint, or holds another architecture or member count than `config` asks for.
    static func loadInitialWeights(from path: String, into ensemble: Ensemble, config: TrainingConfig) throws -> InitialWeightsRecord {
        var url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
            url = RunDirectory(url: url).checkpointURL
        }
        guard FileManager.default.fileExists(atPath: url.path) else { throw EDLCMError("--from \(url.path): no such checkpoint") }
        let loaded: (tensors: [String: Tensor], metadata: [String: String])
        do { loaded = try Checkpoint.load(from: url) } catch let error as TorchError { throw EDLCMError("--from \(error.message)") }
        let metadata = try CheckpointMetadata(decoding: loaded.metadata, source: "--from \(url.path)")
        func describe(_ members: Int, _ spec: ModelSpec) -> String {
            "\(members) × \(spec.architecture.rawValue) (width \(spec.widthMultiplier), \(spec.channels)×\(spec.height)×\(spec.width) inputs, \(spec.classCount) classes)"
        }
        guard metadata.spec == config.modelSpec, metadata.members == config.members else {
            throw EDLCMError("--from \(url.path): the checkpoint holds \(describe(metadata.members, metadata.spec)), this run needs \(describe(config.members, config.modelSpec))")
        }
        let modelTensors = ensembleTensors(of: loaded.tensors)
        do { try ensemble.loadState(modelTensors, source: "--from \(url.path)") } catch let error as TorchError { throw EDLCMError(error.message) }
        return InitialWeightsRecord(path: url.path, sha256: try sha256Hex(of: url), method: metadata.method, epoch: metadata.epoch)
    }

    static func makeOptimizer(_ config: TrainingConfig, parameters: [Tensor]) -> any Optimizer {
        switch config.optimizer {
        case .sgd: SGD(parameters: parameters, learningRate: config.learningRate, momentum: config.momentum, weightDecay: config.weightDecay)
        case .adam: Adam(parameters: parameters, learningRate: config.learningRate, weightDecay: config.weightDecay)
        case .adamw: Adam(parameters: parameters, learningRate: config.learningRate, weightDecay: config.weightDecay, decoupled: true)
        }
    }

    /// The method's objective, wrapped in adversarial training when the settings ask for it.
    static func makeObjective(_ config: TrainingConfig) -> any EnsembleObjective {
        let objective: any EnsembleObjective = switch config.method {
        case .baseline: BaselineObjective()
        case .edlcm, .cure: EDLCMObjective(options: config.edlcmOptions)
        case .adp: ADPObjective(options: config.adpOptions)
        case .gal: GALObjective(lambda: config.galLambda)
        case .dverge: DVERGEObjective(options: config.dvergeOptions)
        case .trs: TRSObjective(options: config.trsOptions)
        }
        switch config.adversarial {
        case .disabled: return objective
        case .pgd: return AdversarialTraining(wrapping: objective, options: config.adversarialOptions)
        }
    }

    /// Runs the remaining epochs.
    ///
    /// - Parameter progress: called after every batch and every epoch.
    /// - Returns: the metrics of every epoch run by this call.
    /// - Throws: ``EDLCMError`` when the run folder cannot be written.
    @discardableResult
    public func train(progress: (TrainingEvent) -> Void = { _ in }) throws -> [EpochMetrics] {
        var results: [EpochMetrics] = []
        while completedEpochs < config.epochs {
            let metrics = runEpoch(completedEpochs, progress: progress)
            try run.appendMetrics(metrics)
            completedEpochs += 1
            try saveCheckpoint()
            results.append(metrics)
            progress(.epoch(metrics, epochs: config.epochs))
        }
        return results
    }

    private func runEpoch(_ epoch: Int, progress: (TrainingEvent) -> Void) -> EpochMetrics {
        let start = Date()
        let learningRate = config.learningRateSchedule.learningRate(base: config.learningRate, epoch: epoch)
        optimizer.learningRate = learningRate
        ensemble.train()
        var batches = trainLoader.trainingBatches(epoch: epoch)
        if objective.needsPairedImages {
            let paired = trainLoader.trainingBatches(epoch: epoch, stream: 1)
            batches = zip(batches, paired).map { Batch(images: $0.images, labels: $0.labels, pairedImages: $1.images) }
        }
        let settings = objective.epochSettings(epoch: epoch, totalEpochs: config.epochs, ensemble: ensemble)
        var sums: [String: Double] = [:]
        var weights: [String: Double] = [:]
        var totalSum = 0.0, correct = 0.0, seen = 0
        for (index, batch) in batches.enumerated() {
            let context = TrainingContext(epoch: epoch, totalEpochs: config.epochs, step: index, stepsPerEpoch: batches.count)
            let output = objective.loss(ensemble: ensemble, batch: batch, context: context)
            let total = output.total
            optimizer.zeroGrad()
            total.backward()
            optimizer.step()
            for term in output.terms {
                sums[term.name, default: 0] += term.value.item()
                weights[term.name] = term.weight
            }
            totalSum += total.item()
            correct += withoutGradients { correctCount(ensemble.combine(output.memberLogits.map { $0.detached() }), batch.labels) }
            seen += batch.count
            let elapsed = Date().timeIntervalSince(start)
            progress(.batch(epoch: epoch + 1, epochs: config.epochs, batch: index + 1, batches: batches.count,
                            loss: totalSum / Double(index + 1), accuracy: correct / Double(seen), imagesPerSecond: Double(seen) / Swift.max(elapsed, 1e-9)))
        }
        let trainSeconds = Date().timeIntervalSince(start)
        let accuracy = ensemble.cleanAccuracy(on: testLoader)
        var losses = sums.mapValues { $0 / Double(batches.count) }
        losses["total"] = totalSum / Double(batches.count)
        return EpochMetrics(epoch: epoch + 1, learningRate: learningRate, losses: losses, weights: weights,
                            trainAccuracy: correct / Double(seen), testAccuracy: accuracy.ensemble, memberTestAccuracy: accuracy.members,
                            seconds: Date().timeIntervalSince(start), imagesPerSecond: Double(seen) / trainSeconds,
                            settings: settings.isEmpty ? nil : settings)
    }

    // MARK: - Checkpoints

    private func saveCheckpoint() throws {
        let tensors = ensemble.stateTensors()
            + optimizer.stateTensors().map { ("optimizer.\($0.name)", $0.tensor) }
            + [("rng.torch", Runtime.randomState())]
        let metadata = try CheckpointMetadata(
            spec: config.modelSpec, members: config.members, output: config.ensembleOutput, method: config.method,
            epoch: completedEpochs, config: config).encoded()
        do {
            try Checkpoint.save(tensors, metadata: metadata, to: run.checkpointURL)
        } catch let error as TorchError {
            throw EDLCMError(error.message)
        }
    }

    private func loadCheckpoint() throws {
        let path = run.checkpointURL.path
        let loaded: (tensors: [String: Tensor], metadata: [String: String])
        do { loaded = try Checkpoint.load(from: run.checkpointURL) } catch let error as TorchError { throw EDLCMError(error.message) }
        let metadata = try CheckpointMetadata(decoding: loaded.metadata, source: path)
        guard metadata.spec == config.modelSpec, metadata.members == config.members else {
            throw EDLCMError("\(path): the checkpoint holds \(metadata.members) × \(metadata.spec.architecture.rawValue), the settings ask for \(config.members) × \(config.architecture.rawValue)")
        }
        do {
            let modelTensors = ensembleTensors(of: loaded.tensors)
            try ensemble.loadState(modelTensors, source: path)
            let optimizerTensors = Dictionary(uniqueKeysWithValues: loaded.tensors.compactMap { key, value in
                key.hasPrefix("optimizer.") ? (String(key.dropFirst("optimizer.".count)), value) : nil
            })
            try optimizer.loadState(optimizerTensors, source: path)
            if let state = loaded.tensors["rng.torch"] { try Runtime.setRandomState(state) }
        } catch let error as TorchError {
            throw EDLCMError(error.message)
        }
        completedEpochs = metadata.epoch
    }
}

extension TrainingConfig {
    /// Whether a run made with these settings can be resumed with `other` (only the epoch count
    /// and the thread count may change; settings are compared as resolved for the dataset).
    func resumable(as other: TrainingConfig) -> Bool {
        var a = resolved, b = other.resolved
        a.epochs = 0; b.epochs = 0
        a.threads = nil; b.threads = nil
        return a == b
    }
}
