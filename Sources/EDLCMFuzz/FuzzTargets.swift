import EDLCMAttacks
import EDLCMBenchmark
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMEvaluation
import EDLCMModels
import EDLCMReport
import EDLCMTraining
import Foundation
import Torch

/// The fuzz targets: each parses arbitrary bytes with one of the parsers that read files a user or
/// another machine may hand the tool, and must either succeed or throw the project's error types;
/// anything else (a trap, a stack overflow, a hang, an ASan report) is a bug.
enum FuzzTarget: String, CaseIterable {
    /// IDX images and labels (MNIST, Fashion-MNIST), raw and gzipped.
    case idx
    /// CIFAR-10 and CIFAR-100 binary batches.
    case cifar
    /// Tiny ImageNet's JPEG images.
    case jpeg
    /// safetensors archives and, when one decodes, its EDLCM checkpoint metadata.
    case safetensors
    /// `--config` files for train and evaluate, as JSON and as YAML.
    case config
    /// What a run folder holds and `report`/resume read back: config.json, metrics.jsonl,
    /// evaluation results and state files, analysis records.
    case records

    /// Runs one input through the target's parsers; each parse may succeed or throw the project's
    /// error types, and any other error stops the process (a finding).
    func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        let array = Array(bytes)
        let data = Data(buffer: bytes)
        switch self {
        case .idx:
            attempt { _ = try IDXFile.parseLabels(array, name: "fuzz", classCount: 10) }
            attempt { _ = try IDXFile.parseImages(array, name: "fuzz", rows: 28, columns: 28) }
            attempt { _ = try IDXFile.parseImages(FileBytes.gunzippedIfNeeded(array, name: "fuzz"), name: "fuzz") }
        case .cifar:
            attempt { _ = try CIFARBinary.parse(.cifar100, bytes: array, name: "fuzz") }
            attempt { _ = try CIFARBinary.parse(.cifar10, bytes: array, name: "fuzz") }
        case .jpeg:
            var planes = [UInt8](repeating: 0, count: 3 * TinyImageNet.imageSide * TinyImageNet.imageSide)
            attempt { try planes.withUnsafeMutableBufferPointer { try TinyImageNet.decodeImage(array, name: "fuzz", into: $0) } }
        case .safetensors:
            attempt {
                let archive = try SafeTensors.decode(array, source: "fuzz")
                _ = try CheckpointMetadata(decoding: archive.metadata, source: "fuzz")
            }
        case .config:
            // As `--config` files reach the commands (SettingsFile, then each group's merge and
            // checks), and as Decodable settings (config.json's and checkpoints' embedded copies).
            for format in [DocumentFormat.json, .yaml] {
                attempt {
                    let file = try SettingsFile(data: data, format: format, label: "fuzz")
                    attempt { try TrainingConfig().merging(file.values, place: file.place).validate() }
                    attempt { try EvaluationConfig().merging(file.values, place: file.place).validate() }
                    attempt { try AnalysisConfig().merging(file.values, place: file.place).validate() }
                }
                attempt {
                    _ = try Document.decode(TrainingConfig.self, from: data, format: format, limits: .settings, label: "fuzz")
                }
            }
        case .records:
            attempt { _ = try Document.decode(RunRecord.self, from: data, format: .json, limits: .records, label: "fuzz") }
            attempt { _ = try Document.decode(AnalysisRecord.self, from: data, format: .json, limits: .records, label: "fuzz") }
            attempt { _ = try EvaluationState.decode(data, name: "fuzz") }
            attempt { _ = try EvaluationReport.decode(data, name: "fuzz") }
            attempt { _ = try Document.decodeLines(EpochMetrics.self, from: data, limits: .records, name: "fuzz") }
        }
    }

    /// Runs one parse, accepting the project's errors and stopping the process on any other error.
    private func attempt(_ body: () throws -> Void) {
        do { try body() } catch is EDLCMError {} catch is TorchError {} catch {
            fatalError("edlcm-fuzz \(rawValue): unexpected error type \(type(of: error)): \(error)")
        }
    }
}
