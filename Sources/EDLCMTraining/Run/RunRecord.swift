import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

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
    /// The machine each command ran on, one per command (absent in runs recorded before 2026-12-07).
    public var hosts: [HostRecord]? = nil

    enum CodingKeys: String, CodingKey {
        case config, model, threads, commands, created, dataset, hosts
        case edlcmVersion = "edlcm_version", libtorchVersion = "libtorch_version", initialWeights = "initial_weights"
    }
}

/// The machine a command ran on, as far as it decides whether float results reproduce bit for bit:
/// the vector instructions of libtorch's CPU kernels (AVX2 and AVX-512 sum in other orders) and its
/// thread count.
public struct HostRecord: Codable, Equatable, Sendable {
    /// The processor's model name, when it can be read.
    public var cpu: String?
    /// ``Runtime/vectorExtensions``: "AVX-512", "AVX2", … (absent in records made before
    /// commit 36e4d03 of 2026-12-07, which recorded only ``cpuCapability``).
    public var vectorExtensions: String? = nil
    /// ``Runtime/cpuCapability``: "AVX2", "AVX512", "DEFAULT".
    public var cpuCapability: String?
    public var threads: Int

    /// This process's machine.
    public static var current: HostRecord {
        HostRecord(
            cpu: Runtime.cpuModel, vectorExtensions: Runtime.vectorExtensions, cpuCapability: Runtime.cpuCapability,
            threads: Runtime.threadCount)
    }

    /// "AMD EPYC, AVX-512, CPU capability AVX2": the processor, its vector instructions and the
    /// kernels ATen chose for it.
    public var processor: String {
        let extensions = vectorExtensions.map { "\($0), " } ?? ""
        return "\(cpu ?? "an unnamed CPU"), \(extensions)CPU capability \(cpuCapability ?? "unknown")"
    }

    /// "AMD EPYC, AVX-512, CPU capability AVX2, 2 threads".
    public var summary: String {
        "\(processor), \(threads) thread\(threads == 1 ? "" : "s")"
    }

    enum CodingKeys: String, CodingKey {
        case cpu, threads
        case vectorExtensions = "vector_extensions", cpuCapability = "cpu_capability"
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

    /// The first number (all but `seconds` and `imagesPerSecond`) in which `self` and `other`
    /// differ, as "loss ce 0.52, recorded 0.51"; nil when every one is equal bit for bit.
    public func numbersDiffer(from other: EpochMetrics) -> String? {
        func differ(_ name: String, _ value: Double?, _ recorded: Double?) -> String? {
            value?.bitPattern == recorded?.bitPattern
                ? nil : "\(name) \(value.map { "\($0)" } ?? "none"), recorded \(recorded.map { "\($0)" } ?? "none")"
        }
        func differ(_ name: String, _ value: [String: Double]?, _ recorded: [String: Double]?) -> String? {
            let keys = Set((value ?? [:]).keys).union((recorded ?? [:]).keys).sorted()
            return keys.lazy.compactMap { differ("\(name) \($0)", value?[$0], recorded?[$0]) }.first
        }
        let members = (0..<max(memberTestAccuracy.count, other.memberTestAccuracy.count)).map {
            differ(
                "member \($0) test accuracy", memberTestAccuracy.indices.contains($0) ? memberTestAccuracy[$0] : nil,
                other.memberTestAccuracy.indices.contains($0) ? other.memberTestAccuracy[$0] : nil)
        }
        let differences =
            [
                differ("epoch", Double(epoch), Double(other.epoch)), differ("lr", learningRate, other.learningRate),
                differ("loss", losses, other.losses), differ("weight", weights, other.weights),
                differ("train accuracy", trainAccuracy, other.trainAccuracy),
                differ("validation accuracy", validationAccuracy, other.validationAccuracy),
                differ("test accuracy", testAccuracy, other.testAccuracy),
            ] + members + [differ("setting", settings, other.settings)]
        return differences.lazy.compactMap { $0 }.first
    }

    enum CodingKeys: String, CodingKey {
        case epoch, losses, weights, seconds, settings
        case learningRate = "lr", trainAccuracy = "train_accuracy", testAccuracy = "test_accuracy"
        case validationAccuracy = "validation_accuracy"
        case memberTestAccuracy = "member_test_accuracy", imagesPerSecond = "images_per_second"
    }
}
