import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Logging
import Torch

/// The files of an evaluation: `--out` (JSON) and, beside it, the CSV, the Markdown report, the
/// resumable state and the folder of self-trained surrogates.
public struct EvaluationFiles: Sendable {
    public let json: URL
    public let csv: URL
    public let markdown: URL
    public let state: URL
    public let surrogates: URL

    /// Checks `--out` and prepares its folder.
    ///
    /// - Throws: ``EDLCMError`` when the path does not end in `.json`, is a folder, its folder
    ///   cannot be created, or it names an existing file that is not an evaluation result.
    public init(out path: String) throws {
        guard path.hasSuffix(".json"), path.count > ".json".count else {
            throw EDLCMError("--out \(path): must name a .json file (the .csv, .md and .state.json files go beside it)")
        }
        let url = URL(fileURLWithPath: path)
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard !isDirectory.boolValue else { throw EDLCMError("--out \(path): is a folder; name a .json file") }
            _ = try EvaluationReport.read(from: url)
        }
        let folder = url.deletingLastPathComponent()
        do { try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
            throw EDLCMError("--out \(path): cannot create the folder \(folder.path) (\(describe(error)))")
        }
        let stem = String(url.path.dropLast(".json".count))
        json = url
        csv = URL(fileURLWithPath: stem + ".csv")
        markdown = URL(fileURLWithPath: stem + ".md")
        state = URL(fileURLWithPath: stem + ".state.json")
        surrogates = URL(fileURLWithPath: stem + ".surrogates", isDirectory: true)
    }
}

/// An evaluation of a trained run folder: rebuilds the model from the checkpoint's metadata,
/// draws the seeded test subset, loads (or trains) the surrogates and runs an ``Evaluator``
/// whose results are written as JSON, CSV and Markdown.
public final class EvaluationSession {
    /// The settings with the radii resolved.
    public let config: EvaluationConfig
    public let files: EvaluationFiles
    public let evaluator: Evaluator
    private let logger = Logger(label: "edlcm.evaluate")

    /// Prepares the evaluation of the run in `runFolder`.
    ///
    /// - Parameters:
    ///   - config: the settings (radii resolved from the dataset when unset).
    ///   - runFolder: a folder written by `edlcm train`.
    ///   - out: the JSON result file.
    ///   - command: the command line, recorded with the results.
    ///   - progress: told about surrogate training (members, epoch, epochs).
    /// - Throws: ``EDLCMError`` for invalid settings, a missing or unreadable run, data or
    ///   surrogate, an unusable `--out`, or a state file of another unfinished evaluation.
    public init(
        config validated: Validated<EvaluationConfig>, runFolder: String, out: String, command: [String],
        progress: (_ members: Int, _ epoch: Int, _ epochs: Int) -> Void = { _, _, _ in }
    ) throws {
        let config = validated.settings
        let trained = try TrainedEnsemble(runFolder: URL(fileURLWithPath: runFolder))
        files = try EvaluationFiles(out: out)
        let device = try config.runtime.apply()
        trained.ensemble.move(to: device)
        let training = trained.metadata.config
        var resolved = config
        resolved.epsilons = config.resolvedEpsilons(dataset: training.dataset)
        if resolved.norm == .linf, let bad = resolved.epsilons!.first(where: { $0 > 1 }) {
            throw EDLCMError("--eps \(bad) exceeds 1, the whole [0, 1] range of an L∞ perturbation")
        }
        self.config = resolved

        let test = try trained.evaluationSet(config.split, dataDirectory: config.data.directory)
        let positions =
            config.samples.map {
                stratifiedSubset(labels: test.labels, classCount: test.classCount, limit: $0, seed: config.seeding.seed)
            }
            ?? Array(0..<test.count)
        let loader = DataLoader(test, batchSize: 500, device: device)
        let batch = loader.batch(positions)

        var surrogates: [Surrogate] = []
        for path in config.surrogates {
            let surrogate = try Surrogate.load(runFolder: URL(fileURLWithPath: path))
            if surrogate.trainingSeed == training.seeding.seed {
                logger.warning(
                    "surrogate \(path) was trained with the target's seed \(training.seeding.seed); its members may start from the same weights"
                )
            }
            surrogate.ensemble.move(to: device)
            surrogates.append(surrogate)
        }
        var surrogateBase = training
        if let dataDirectory = config.data.directory { surrogateBase.data.directory = dataDirectory }
        surrogateBase.runtime.device = config.runtime.device
        surrogateBase.runtime.deterministic = config.runtime.deterministic
        for members in config.trainSurrogates {
            let folder = files.surrogates.appendingPathComponent(
                SurrogateTrainer.folderName(members: members, targetSeed: training.seeding.seed), isDirectory: true)
            try SurrogateTrainer.train(
                members: members, like: surrogateBase, epochs: config.surrogateEpochs, into: folder, command: command,
                progress: { progress(members, $0, $1) })
            let trainedSurrogate = try Surrogate.load(runFolder: folder, trainedHere: true)
            trainedSurrogate.ensemble.move(to: device)
            surrogates.append(trainedSurrogate)
        }

        let model = ModelRecord(
            run: trained.run.url.path, checkpointSHA256: try sha256Hex(of: trained.run.checkpointURL),
            members: trained.metadata.members,
            architecture: trained.metadata.spec.architecture.rawValue, output: trained.metadata.output.rawValue,
            method: trained.metadata.method.rawValue, dataset: training.dataset.rawValue, epochs: trained.metadata.epoch,
            trainingSeed: training.seeding.seed)
        let input = EvaluationInput(
            ensemble: trained.ensemble, images: batch.images, labels: batch.labels, sampleIndices: positions,
            surrogates: surrogates, model: model)
        evaluator = try Evaluator(config: Validated(derived: resolved), input: input, stateURL: files.state, command: command)
    }

    /// Runs the evaluation (resuming a matching state) and writes the JSON, CSV and Markdown files.
    ///
    /// - Parameters:
    ///   - progress: see ``Evaluator/run(progress:shouldStop:)``.
    ///   - shouldStop: asked after every batch; true stops with the state saved.
    /// - Throws: ``EDLCMError`` when an attack or a file write fails, or when stopped.
    @discardableResult
    public func run(progress: (EvaluationEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws
        -> EvaluationResult
    {
        let result = try evaluator.run(progress: progress, shouldStop: shouldStop)
        try EvaluationReport.write(result, to: files)
        return result
    }
}
