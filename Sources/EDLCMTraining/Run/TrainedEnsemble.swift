import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

/// A trained ensemble rebuilt from a run folder's checkpoint, with what it was trained with.
public struct TrainedEnsemble {
    public let ensemble: Ensemble
    public let metadata: CheckpointMetadata
    public let run: RunDirectory

    /// Rebuilds the ensemble from `checkpoint.safetensors` in a run folder (no flags needed: the
    /// checkpoint's metadata records the architecture) and puts it in evaluation mode.
    ///
    /// - Throws: ``EDLCMError`` naming the file when the folder, the checkpoint or its metadata is
    ///   missing or malformed, or when the tensors do not fit the recorded architecture.
    public init(runFolder url: URL) throws {
        run = try RunDirectory.existing(url)
        let checkpoint = try run.readCheckpoint()
        metadata = checkpoint.metadata
        ensemble = try checkpoint.makeEnsemble()
    }

    /// The test split the run evaluated on (the same stratified subset when it used --test-limit).
    ///
    /// - Parameter dataDirectory: overrides the folder recorded in the run.
    public func testSet(dataDirectory: String? = nil) throws -> ImageSet {
        let config = metadata.config
        let directory = dataDirectory ?? config.data.directory ?? config.dataset.defaultDirectory
        guard let directory else {
            throw EDLCMError("--data-dir is needed: the run does not record where \(config.dataset.displayName) is")
        }
        return try DatasetReader.load(config.dataset, split: .test, directory: URL(fileURLWithPath: directory))
    }
}
