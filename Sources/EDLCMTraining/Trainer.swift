import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Logging
import Torch

/// Trains an ensemble with a method's objective, writing the run folder as it goes.
///
/// At the end of every epoch the trainer evaluates clean test accuracy, appends a line to
/// `metrics.jsonl` and writes `checkpoint.safetensors` atomically (weights, optimizer state,
/// libtorch's generator state, epoch). A resumed run continues from the last checkpoint and gives
/// the same weights as an uninterrupted run with the same seed: every epoch's data order and
/// augmentation is seeded by (seed, epoch), and libtorch's generator state is restored.
@dynamicMemberLookup
public final class Trainer {
    /// The run as prepared: settings, data, model, optimizer, objective and run folder, read
    /// through the trainer too (`trainer.config`, `trainer.ensemble`, …).
    public let setup: TrainingSetup
    /// Epochs already completed (from the checkpoint when resuming).
    public private(set) var completedEpochs: Int
    /// The state of an epoch interrupted by a stop request (from the checkpoint when resuming).
    private var partial: EpochProgress?
    /// Whether this process writes the run folder (rank 0, or the only process).
    public var isWriter: Bool { (setup.distributed?.rank ?? 0) == 0 }
    /// Batches skipped because of a non-finite loss or gradient (with `--on-nonfinite skip`).
    public private(set) var skippedBatches = 0
    private let logger = Logger(label: "edlcm.train")

    /// A trainer for a prepared run.
    public init(_ setup: TrainingSetup) {
        self.setup = setup
        (completedEpochs, partial) = (setup.completedEpochs, setup.partial)
    }

    public subscript<Value>(dynamicMember keyPath: KeyPath<TrainingSetup, Value>) -> Value {
        setup[keyPath: keyPath]
    }

    /// Sets up the run (``TrainingSetup/prepare(config:output:resume:command:distributed:objective:)``) and a trainer for it.
    public convenience init(
        config: Validated<TrainingConfig>, output: URL, resume: Bool, command: [String], distributed: ProcessGroup? = nil,
        objective: (any EnsembleObjective)? = nil
    ) throws {
        self.init(
            try TrainingSetup.prepare(
                config: config, output: output, resume: resume, command: command, distributed: distributed,
                objective: objective))
    }

    /// Checks the settings, then sets up the run and a trainer for it (for library callers).
    ///
    /// - Throws: ``EDLCMError`` for invalid settings, and what ``TrainingSetup/prepare(config:output:resume:command:distributed:objective:)`` throws.
    public convenience init(
        config: TrainingConfig, output: URL, resume: Bool, command: [String], distributed: ProcessGroup? = nil,
        objective: (any EnsembleObjective)? = nil
    ) throws {
        try self.init(
            config: config.validated(), output: output, resume: resume, command: command, distributed: distributed,
            objective: objective)
    }

    /// Runs the remaining epochs.
    ///
    /// - Parameters:
    ///   - shouldStop: polled after every batch (for SIGINT/SIGTERM); when it returns true the
    ///     trainer finishes the step, writes a checkpoint that `--resume` continues from exactly,
    ///     and throws ``TrainingStopped``.
    ///   - progress: called after every batch and every epoch.
    /// - Returns: the metrics of every epoch run by this call.
    /// - Throws: ``EDLCMError`` when the run folder cannot be written, a loss or gradient is not
    ///   finite (with `--on-nonfinite stop`), or a distributed peer fails; ``TrainingStopped``.
    @discardableResult
    public func train(shouldStop: () -> Bool = { false }, progress: (TrainingEvent) -> Void = { _ in }) throws -> [EpochMetrics] {
        if let distributed = setup.distributed {
            try collective { try distributed.broadcast(setup.ensemble.stateTensors().map(\.tensor), from: 0) }
        }
        var results: [EpochMetrics] = []
        while completedEpochs < setup.config.epochs {
            guard let metrics = try runEpoch(completedEpochs, shouldStop: shouldStop, progress: progress) else {
                try saveCheckpoint()
                throw TrainingStopped(epoch: completedEpochs + 1, step: partial?.step ?? 0, run: setup.run.url.path)
            }
            if let recorded = setup.recordedEpochs.first(where: { $0.epoch == metrics.epoch }) {
                try check(metrics, against: recorded)
            } else if isWriter {
                try setup.run.appendMetrics(metrics)
            }
            completedEpochs += 1
            partial = nil
            try saveCheckpoint()
            results.append(metrics)
            progress(.epoch(metrics, epochs: setup.config.epochs))
        }
        return results
    }

    /// Checks that an epoch trained again gives the numbers its line records (all but the timing),
    /// before its checkpoint replaces anything.
    ///
    /// - Throws: ``EDLCMError`` naming the epoch, the first number that differs, this machine and
    ///   the one that trained the run; `metrics.jsonl` is left as it was.
    private func check(_ metrics: EpochMetrics, against recorded: EpochMetrics) throws {
        guard let difference = metrics.numbersDiffer(from: recorded) else { return }
        let trainedOn = setup.recordedHost.map { " (\($0.summary))" } ?? ""
        throw EDLCMError(
            "\(setup.run.url.path): epoch \(metrics.epoch), recorded in metrics.jsonl but not in the checkpoint, came out different when trained again (\(difference)): this machine (\(HostRecord.current.summary)) does not compute as the one that trained it\(trainedOn) did, or --epochs or --threads changed; metrics.jsonl is kept as it was. Train it again where it was trained, or delete the folder to train it afresh"
        )
    }

    /// Runs one epoch from where it stood; nil when a stop request interrupted it.
    private func runEpoch(_ epoch: Int, shouldStop: () -> Bool, progress: (TrainingEvent) -> Void) throws -> EpochMetrics? {
        setup.ensemble.train()
        var batches = setup.trainLoader.trainingBatches(epoch: epoch)
        let learningRate = setup.config.learningRate(epoch: epoch, step: 0, stepsPerEpoch: batches.count)
        if setup.objective.needsPairedImages {
            let paired = setup.trainLoader.trainingBatches(epoch: epoch, stream: 1)
            batches = zip(batches, paired).map { Batch(images: $0.images, labels: $0.labels, pairedImages: $1.images) }
        }
        let settings = setup.objective.epochSettings(epoch: epoch, totalEpochs: setup.config.epochs, ensemble: setup.ensemble)
        var state = partial ?? EpochProgress()
        let resumedSeconds = state.seconds
        let start = Date()
        for index in state.step..<batches.count {
            let batch = shard(batches[index])
            let context = TrainingContext(
                epoch: epoch, totalEpochs: setup.config.epochs, step: index, stepsPerEpoch: batches.count)
            setup.optimizer.learningRate = setup.config.learningRate(epoch: epoch, step: index, stepsPerEpoch: batches.count)
            setup.optimizer.zeroGrad()
            let output = setup.objective.accumulateGradients(ensemble: setup.ensemble, batch: batch, context: context)
            let total = output.total
            var statistics =
                output.terms.map { $0.value.item() } + [
                    total.item(),
                    withoutGradients {
                        correctCount(setup.ensemble.combine(output.memberLogits.map { $0.detached() }), batch.labels)
                    },
                ]
            let finite = statistics.allSatisfy(\.isFinite) && gradientsAreFinite()
            var anyNonFinite = !finite
            if let distributed = setup.distributed {
                // Gradients, statistics and the non-finite flag summed over ranks in one all-reduce;
                // gradients, loss terms and total averaged, the correct count kept as a sum.
                let shared = Tensor(statistics + [finite ? 0 : 1], shape: [statistics.count + 1], on: setup.device)
                try collective {
                    try distributed.allReduceSum(setup.ensemble.parameters.compactMap(\.grad) + [shared])
                }
                let values = shared.scalars(as: Double.self)
                anyNonFinite = values.last! > 0
                statistics = Array(values.dropLast())
                for i in 0...output.terms.count { statistics[i] /= Double(distributed.size) }
                withoutGradients {
                    for gradient in setup.ensemble.parameters.compactMap(\.grad) { gradient.mul_(1 / Double(distributed.size)) }
                }
            }
            if anyNonFinite {
                try handleNonFinite(output, epoch: epoch, step: index, localFinite: finite)
                state.step = index + 1
                continue
            }
            if let maxGradNorm = setup.config.maxGradNorm { clipGradients(toNorm: maxGradNorm) }
            setup.optimizer.step()
            if let distributed = setup.distributed {
                let buffers = setup.ensemble.namedBuffers().map(\.tensor)
                if !buffers.isEmpty { try collective { try distributed.broadcast(buffers, from: 0) } }
            }
            for (term, value) in zip(output.terms, statistics) {
                state.sums[term.name, default: 0] += value
                state.weights[term.name] = term.weight
            }
            state.total += statistics[output.terms.count]
            state.correct += statistics[output.terms.count + 1]
            state.seen += batches[index].count
            state.batches += 1
            state.step = index + 1
            state.seconds = resumedSeconds + Date().timeIntervalSince(start)
            progress(
                .batch(
                    epoch: epoch + 1, epochs: setup.config.epochs, batch: index + 1, batches: batches.count,
                    loss: state.total / Double(max(state.batches, 1)), accuracy: state.correct / Double(max(state.seen, 1)),
                    imagesPerSecond: Double(state.seen) / Swift.max(state.seconds, 1e-9)))
            if index + 1 < batches.count && shouldStop() {
                partial = state
                return nil
            }
        }
        let trainSeconds = resumedSeconds + Date().timeIntervalSince(start)
        let accuracy = setup.ensemble.cleanAccuracy(on: setup.testLoader)
        let validationAccuracy = setup.validationLoader.map { setup.ensemble.cleanAccuracy(on: $0).ensemble }
        let count = Double(max(state.batches, 1))
        var losses = state.sums.mapValues { $0 / count }
        losses["total"] = state.total / count
        return EpochMetrics(
            epoch: epoch + 1, learningRate: learningRate, losses: losses, weights: state.weights,
            trainAccuracy: state.correct / Double(max(state.seen, 1)), validationAccuracy: validationAccuracy,
            testAccuracy: accuracy.ensemble,
            memberTestAccuracy: accuracy.members, seconds: resumedSeconds + Date().timeIntervalSince(start),
            imagesPerSecond: Double(state.seen) / Swift.max(trainSeconds, 1e-9),
            settings: settings.isEmpty ? nil : settings)
    }

    /// This rank's rows of a global batch (all of it without distribution).
    private func shard(_ batch: Batch) -> Batch {
        guard let distributed = setup.distributed else { return batch }
        let size = batch.count / distributed.size
        let range = (distributed.rank * size)..<((distributed.rank + 1) * size)
        return Batch(images: batch.images[range], labels: batch.labels[range], pairedImages: batch.pairedImages?[range])
    }

    /// Scales every gradient by min(1, `maxNorm` / (‖g‖ + 10⁻⁶)), ‖g‖ the L2 norm of all of them
    /// together, as PyTorch's `clip_grad_norm_` does.
    private func clipGradients(toNorm maxNorm: Double) {
        withoutGradients {
            let gradients = setup.ensemble.parameters.compactMap(\.grad)
            guard !gradients.isEmpty else { return }
            let norm = Tensor.stack(gradients.map { $0.squared().sum() }).sum().sqrt().item()
            let scale = maxNorm / (norm + 1e-6)
            if scale < 1 { for gradient in gradients { gradient.mul_(scale) } }
        }
    }

    /// Whether every accumulated gradient is finite (one reduction per parameter, one sync).
    private func gradientsAreFinite() -> Bool {
        let sums = setup.ensemble.parameters.compactMap { $0.grad?.sum() }
        guard !sums.isEmpty else { return true }
        return Tensor.stack(sums).sum().isFinite().item() == 1
    }

    /// Stops with a message naming the epoch, batch and term, or skips the batch.
    private func handleNonFinite(_ output: ObjectiveOutput, epoch: Int, step: Int, localFinite: Bool) throws {
        setup.optimizer.zeroGrad()
        let culprit =
            output.terms.first { !$0.value.item().isFinite }.map { "loss term '\($0.name)' is \($0.value.item())" }
            ?? (localFinite ? "a gradient on another rank is not finite" : "a gradient is not finite")
        switch setup.config.onNonFinite {
        case .skip:
            skippedBatches += 1
            logger.warning("epoch \(epoch + 1), batch \(step + 1): \(culprit); batch skipped")
        case .stop:
            let kept =
                completedEpochs > 0
                ? "the last good checkpoint (epoch \(completedEpochs)) is kept in \(setup.run.url.path)"
                : "no checkpoint was written yet"
            throw EDLCMError(
                "epoch \(epoch + 1), batch \(step + 1): \(culprit); \(kept) (lower --lr, or pass --on-nonfinite skip to skip such batches)"
            )
        }
    }

    /// Runs a collective, turning a failure into one line that names this rank.
    private func collective(_ body: () throws -> Void) throws {
        do { try body() } catch let error as TorchError {
            throw EDLCMError(
                "\(error.message) (rank \(setup.distributed?.rank ?? 0) of \(setup.distributed?.size ?? 1); a peer stopped or timed out)"
            )
        }
    }

    // MARK: - Checkpoints

    private func saveCheckpoint() throws {
        guard isWriter else { return }
        try setup.run.writeCheckpoint(
            setup.ensemble, optimizer: setup.optimizer,
            metadata: CheckpointMetadata(
                spec: setup.config.modelSpec, members: setup.config.members, output: setup.config.ensembleOutput,
                method: setup.config.method,
                epoch: completedEpochs, config: setup.config, progress: partial))
    }
}

extension TrainingConfig {
    /// The settings (as resolved for the dataset) in which a run made with these settings and a
    /// resumption with `other` differ, beyond those a resumption may change (the epoch count, the
    /// result-neutral settings: threads and the data folder, and the non-finite policy):
    /// "--lr (0.05 recorded, 0.3 given)".
    package func resumeConflicts(with other: TrainingConfig) -> [String] {
        var recorded = resolved, given = other.resolved
        recorded.epochs = 0
        given.epochs = 0
        recorded.onNonFinite = .stop
        given.onNonFinite = .stop
        let a = recorded.resultDeciding, b = given.resultDeciding
        return Set(a.keys).union(b.keys).sorted().compactMap { key in
            a[key] == b[key]
                ? nil : "--\(key) (\(a[key]?.compactText ?? "unset") recorded, \(b[key]?.compactText ?? "unset") given)"
        }
    }
}
