import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

/// A checkpoint read back from disk: what it records (``CheckpointMetadata``) and its tensors (the
/// members' weights and buffers, the optimizer state under `optimizer.`, libtorch's generator state
/// under `rng.`). Every checkpoint the tool loads, for resuming, for `--from`, for evaluation and
/// for surrogates, is read and applied here.
public struct StoredCheckpoint {
    public let url: URL
    public let metadata: CheckpointMetadata
    let tensors: [String: Tensor]
    /// How errors name the checkpoint (its path, or "--from PATH").
    let label: String

    /// Reads an EDLCM checkpoint file.
    ///
    /// - Parameter role: the flag that named the file ("--from"), which then prefixes errors.
    /// - Throws: ``EDLCMError`` naming the file when it is missing, not safetensors, or not an EDLCM checkpoint.
    public init(reading url: URL, role: String? = nil) throws {
        let label = role.map { "\($0) \(url.path)" } ?? url.path
        guard FileManager.default.fileExists(atPath: url.path) else { throw EDLCMError("\(label): no such checkpoint") }
        let loaded = try rethrowingTorchErrors(prefix: role) { try Checkpoint.load(from: url) }
        self.url = url
        self.label = label
        metadata = try CheckpointMetadata(decoding: loaded.metadata, source: label)
        tensors = loaded.tensors
    }

    /// "2 × cnn (width 1, 1×28×28 inputs, 10 classes)".
    static func describe(_ members: Int, _ spec: ModelSpec) -> String {
        "\(members) × \(spec.architecture.rawValue) (width \(spec.widthMultiplier), \(spec.channels)×\(spec.height)×\(spec.width) inputs, \(spec.classCount) classes)"
    }

    /// Copies the members' weights and buffers into `ensemble`, which must have the recorded
    /// architecture and member count.
    ///
    /// - Throws: ``EDLCMError`` naming the checkpoint when it holds another model, or a tensor
    ///   whose name or shape does not fit.
    public func loadWeights(into ensemble: Ensemble, spec: ModelSpec) throws {
        guard metadata.spec == spec, metadata.members == ensemble.members.count else {
            throw EDLCMError(
                "\(label): the checkpoint holds \(Self.describe(metadata.members, metadata.spec)), this run needs \(Self.describe(ensemble.members.count, spec))"
            )
        }
        let model = tensors.filter { !$0.key.hasPrefix("optimizer.") && !$0.key.hasPrefix("rng.") }
        try rethrowingTorchErrors { try ensemble.loadState(model, source: label) }
    }

    /// A new ensemble of the recorded architecture with these weights, in evaluation mode.
    public func makeEnsemble() throws -> Ensemble {
        let ensemble = Ensemble(spec: metadata.spec, count: metadata.members, output: metadata.output)
        try loadWeights(into: ensemble, spec: metadata.spec)
        ensemble.eval()
        return ensemble
    }

    /// Restores the optimizer's state and libtorch's generator state (for resuming).
    public func restoreTrainingState(optimizer: any Optimizer) throws {
        let state = Dictionary(
            uniqueKeysWithValues: tensors.compactMap { key, value in
                key.hasPrefix("optimizer.") ? (String(key.dropFirst("optimizer.".count)), value) : nil
            })
        try rethrowingTorchErrors {
            try optimizer.loadState(state, source: label)
            if let random = tensors["rng.torch"] { try Runtime.setRandomState(random) }
        }
    }
}

extension RunDirectory {
    /// Whether the folder holds a checkpoint.
    public var hasCheckpoint: Bool { FileManager.default.fileExists(atPath: checkpointURL.path) }

    /// Reads the run's `checkpoint.safetensors`.
    ///
    /// - Throws: ``EDLCMError`` naming the file (see ``StoredCheckpoint/init(reading:role:)``).
    public func readCheckpoint() throws -> StoredCheckpoint {
        try StoredCheckpoint(reading: checkpointURL)
    }

    /// Writes `checkpoint.safetensors` atomically: the ensemble's weights and buffers, the
    /// optimizer's state and libtorch's generator state, with `metadata`.
    ///
    /// - Throws: ``EDLCMError`` naming the file and the system's reason.
    public func writeCheckpoint(_ ensemble: Ensemble, optimizer: any Optimizer, metadata: CheckpointMetadata) throws {
        let tensors =
            ensemble.stateTensors() + optimizer.stateTensors().map { ("optimizer.\($0.name)", $0.tensor) }
            + [("rng.torch", Runtime.randomState())]
        let encoded = try metadata.encoded()
        try rethrowingTorchErrors { try Checkpoint.save(tensors, metadata: encoded, to: checkpointURL) }
    }
}
