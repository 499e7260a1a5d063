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

    /// The dataset's whole test split.
    ///
    /// - Parameter dataDirectory: overrides the folder recorded in the run.
    public func testSet(dataDirectory: String? = nil) throws -> ImageSet {
        try evaluationSet(.test, dataDirectory: dataDirectory)
    }

    /// The images of a split: the dataset's whole test split, or the validation images the run held
    /// out of its training split (the same ones it logged its validation accuracy on).
    ///
    /// - Parameter dataDirectory: overrides the folder recorded in the run.
    /// - Throws: ``EDLCMError`` when the data cannot be read, or the run held out no validation images.
    public func evaluationSet(_ split: EvaluationSplit, dataDirectory: String? = nil) throws -> ImageSet {
        let config = metadata.config
        let directory = dataDirectory ?? config.data.directory ?? config.dataset.defaultDirectory
        guard let directory else {
            throw EDLCMError("--data-dir is needed: the run does not record where \(config.dataset.displayName) is")
        }
        let url = URL(fileURLWithPath: directory)
        switch split {
        case .test:
            return try DatasetReader.load(config.dataset, split: .test, directory: url)
        case .validation:
            guard config.validation != nil else {
                throw EDLCMError(
                    "--split validation: the run in \(run.url.path) holds out no validation images (train it with --validation N)"
                )
            }
            let train = try DatasetReader.load(config.dataset, split: .train, directory: url)
            return try config.splitTrainingImages(train).validation!
        }
    }
}
