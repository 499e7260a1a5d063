import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Logging
import Torch

/// A held-out ensemble that transfer attacks are crafted on.
public struct Surrogate {
    /// A short name for results (the run folder's name: "plain-m1-seed0").
    public let name: String
    public let ensemble: Ensemble
    /// The run folder (empty for an in-memory surrogate).
    public let run: String
    /// Identifies the weights, so cached adversarial examples are only reused for the same ones.
    public let checkpointSHA256: String
    public let trainingSeed: UInt64
    /// Whether the evaluation trained it itself.
    public let trainedHere: Bool
    /// Where crafted examples are cached; nil disables caching.
    public let cacheDirectory: URL?

    public init(
        name: String, ensemble: Ensemble, run: String = "", checkpointSHA256: String, trainingSeed: UInt64,
        trainedHere: Bool = false, cacheDirectory: URL? = nil
    ) {
        self.name = name
        self.ensemble = ensemble
        self.run = run
        self.checkpointSHA256 = checkpointSHA256
        self.trainingSeed = trainingSeed
        self.trainedHere = trainedHere
        self.cacheDirectory = cacheDirectory
    }

    /// Loads a surrogate from a run folder; examples crafted on it are cached in its
    /// `transfer-cache/` subfolder.
    ///
    /// - Throws: ``EDLCMError`` naming the folder when it holds no readable run.
    public static func load(runFolder url: URL, trainedHere: Bool = false) throws -> Surrogate {
        let trained = try TrainedEnsemble(runFolder: url)
        return Surrogate(
            name: url.standardizedFileURL.lastPathComponent, ensemble: trained.ensemble, run: url.path,
            checkpointSHA256: try sha256Hex(of: trained.run.checkpointURL), trainingSeed: trained.metadata.config.seeding.seed,
            trainedHere: trainedHere, cacheDirectory: url.appendingPathComponent("transfer-cache", isDirectory: true))
    }
}

/// Trains the plain surrogate ensembles that `--train-surrogates` asks for.
public enum SurrogateTrainer {
    /// The seed of a self-trained surrogate of `members` members: the target's seed + 1000 +
    /// members, so that it never shares the target's initialisation or data order.
    public static func seed(forMembers members: Int, targetSeed: UInt64) -> UInt64 {
        targetSeed &+ 1000 &+ UInt64(members)
    }

    /// The folder name of the surrogate of `members` members trained for a target of seed
    /// `targetSeed` ("plain-m1-seed0"): one name for `evaluate --train-surrogates` and studies.
    public static func folderName(members: Int, targetSeed: UInt64) -> String {
        "plain-m\(members)-seed\(targetSeed)"
    }

    /// Trains a plain ensemble (baseline method) of `members` members with the target's data,
    /// architecture and schedule but its own seed, into the run folder `folder`, through the same
    /// training loop as every run (so it logs its epochs and resumes after an interruption); a
    /// folder that holds such a finished run is used as it is.
    ///
    /// - Parameters:
    ///   - base: the target's training settings.
    ///   - epochs: overrides the target's epoch count.
    ///   - command: the command line that asked for the surrogate, recorded in its `config.json`.
    ///   - shouldStop: polled after every batch; true stops with the progress saved (``TrainingStopped``).
    ///   - progress: called after every epoch with (epoch, epochs).
    /// - Returns: the run folder.
    /// - Throws: ``EDLCMError`` when the data cannot be read, or `folder` holds a run with other settings.
    @discardableResult
    public static func train(
        members: Int, like base: TrainingConfig, epochs: Int?, into folder: URL, command: [String] = [],
        shouldStop: () -> Bool = { false }, progress: (Int, Int) -> Void = { _, _ in }
    ) throws -> URL {
        var config = base
        config.members = members
        config.method = .baseline
        config.adversarial = .disabled
        config.from = nil
        config.seeding.seed = seed(forMembers: members, targetSeed: base.seeding.seed)
        if let epochs { config.epochs = epochs }
        let run = RunDirectory(url: folder)
        let started = try run.readRecordIfPresent()
        if let started, !started.config.resumeConflicts(with: config).isEmpty || started.config.epochs != config.resolved.epochs {
            throw EDLCMError("\(folder.path): holds a surrogate trained with other settings; delete it to retrain")
        }
        // A surrogate may be a single model: every rule of `train` applies but "an ensemble has at
        // least 2 members".
        var checked = config
        checked.members = max(members, 2)
        try checked.validate()
        let trainer = try Trainer(config: Validated(derived: config), output: folder, resume: started != nil, command: command)
        try trainer.train(
            shouldStop: shouldStop,
            progress: { event in
                if case let .epoch(metrics, epochs) = event { progress(metrics.epoch, epochs) }
            })
        return folder
    }
}

/// Adversarial examples crafted on a surrogate, stored as safetensors under a key that hashes
/// everything they depend on (surrogate weights, attack and its settings, ε, norm, seed, goal,
/// the evaluated images), so they are reused exactly when they would be recomputed identically.
struct TransferCache {
    let directory: URL
    let key: String
    let settings: JSONValue

    init(directory: URL, settings: JSONValue) {
        self.directory = directory
        self.settings = settings
        key = sha256Hex(of: Data(settings.compactText.utf8))
    }

    var url: URL { directory.appendingPathComponent("\(key.prefix(24)).safetensors") }

    /// The cached examples, or nil when there are none for this key (or the file is unusable).
    func load(expectedShape: [Int]) -> Tensor? {
        guard FileManager.default.fileExists(atPath: url.path),
            let loaded = try? Checkpoint.load(from: url),
            loaded.metadata["edlcm.transfer.key"] == key,
            let tensor = loaded.tensors["adversarial"], tensor.shape == expectedShape, tensor.dtype == .float32
        else { return nil }
        return tensor
    }

    /// Stores the examples with their settings; a failure is logged and the evaluation goes on.
    func save(_ adversarial: Tensor, logger: Logger) {
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            try Checkpoint.save(
                [("adversarial", adversarial.contiguous())],
                metadata: ["format": "pt", "edlcm.transfer.key": key, "edlcm.transfer.settings": settings.compactText], to: url)
        } catch {
            logger.warning("cannot cache transfer examples in \(directory.path): \(describe(error))")
        }
    }
}
