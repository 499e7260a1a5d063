import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation

/// What `config.json` records about a run: every resolved setting, the versions, the data and the
/// exact command line, so that every number the run produces can be traced and reproduced.
public struct RunRecord: Codable, Equatable, Sendable {
    public var config: TrainingConfig
    public var model: ModelSpec
    public var edlcmVersion: String
    public var libtorchVersion: String
    public var threads: Int
    /// The command lines that made this run (the first, then one per resume).
    public var commands: [[String]]
    public var created: String
    public var dataset: DatasetRecord
    /// The checkpoint whose weights started the run (`--from`), if any.
    public var initialWeights: InitialWeightsRecord?

    enum CodingKeys: String, CodingKey {
        case config, model, threads, commands, created, dataset
        case edlcmVersion = "edlcm_version", libtorchVersion = "libtorch_version", initialWeights = "initial_weights"
    }
}

/// The checkpoint a run started from: where it was, its SHA-256, and what it held.
public struct InitialWeightsRecord: Codable, Equatable, Sendable {
    public var path: String
    public var sha256: String
    /// The method that trained it and the epochs it had completed.
    public var method: TrainingMethod
    public var epoch: Int
}

/// The data a run read: where, how many examples, and the files with their SHA-256.
public struct DatasetRecord: Codable, Equatable, Sendable {
    public struct File: Codable, Equatable, Sendable {
        public var path: String
        public var bytes: Int
        public var sha256: String
    }

    public var name: DatasetName
    public var directory: String
    public var trainCount: Int
    public var testCount: Int
    /// Training images held out as the validation split (absent without `--validation`).
    public var validationCount: Int?
    public var files: [File]

    enum CodingKeys: String, CodingKey {
        case name, directory, files
        case trainCount = "train_count", testCount = "test_count", validationCount = "validation_count"
    }
}

/// One line of `metrics.jsonl`: an epoch's losses by term, accuracies, learning rate and speed.
public struct EpochMetrics: Codable, Equatable, Sendable {
    /// 1-based epoch number.
    public var epoch: Int
    /// The learning rate of the epoch's first batch (the schedule may advance per batch).
    public var learningRate: Double
    /// Each loss term's mean over the epoch's batches (unweighted), plus `total` (weighted sum).
    public var losses: [String: Double]
    /// Each term's weight in the total.
    public var weights: [String: Double]
    public var trainAccuracy: Double
    /// Clean accuracy on the validation split after the epoch (absent without `--validation`).
    public var validationAccuracy: Double?
    public var testAccuracy: Double
    public var memberTestAccuracy: [Double]
    public var seconds: Double
    public var imagesPerSecond: Double
    /// What the objective chose for this epoch (DVERGE's `dverge_layer`, TRS's `trs_delta`); nil
    /// when it chooses nothing.
    public var settings: [String: Double]?

    enum CodingKeys: String, CodingKey {
        case epoch, losses, weights, seconds, settings
        case learningRate = "lr", trainAccuracy = "train_accuracy", testAccuracy = "test_accuracy"
        case validationAccuracy = "validation_accuracy"
        case memberTestAccuracy = "member_test_accuracy", imagesPerSecond = "images_per_second"
    }
}
