import EDLCM
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

    /// Runs one input through the target's parsers.
    func run(_ bytes: UnsafeBufferPointer<UInt8>) {
        expectingOnlyToolErrors {
            let array = Array(bytes)
            let data = Data(buffer: bytes)
            switch self {
            case .idx:
                _ = try? IDXFile.parseLabels(array, name: "fuzz", classCount: 10)
                _ = try? IDXFile.parseImages(array, name: "fuzz", rows: 28, columns: 28)
                _ = try IDXFile.parseImages(FileBytes.gunzippedIfNeeded(array, name: "fuzz"), name: "fuzz")
            case .cifar:
                _ = try? CIFARBinary.parse(.cifar100, bytes: array, name: "fuzz")
                _ = try CIFARBinary.parse(.cifar10, bytes: array, name: "fuzz")
            case .jpeg:
                var planes = [UInt8](repeating: 0, count: 3 * TinyImageNet.imageSide * TinyImageNet.imageSide)
                try planes.withUnsafeMutableBufferPointer { try TinyImageNet.decodeImage(array, name: "fuzz", into: $0) }
            case .safetensors:
                let archive = try SafeTensors.decode(array, source: "fuzz")
                _ = try CheckpointMetadata(decoding: archive.metadata, source: "fuzz")
            case .config:
                for format in [DocumentFormat.json, .yaml] {
                    if let config = try? Document.decode(
                        TrainingConfig.self, from: data, format: format, limits: .settings, label: "fuzz")
                    {
                        _ = try? config.validate()
                    }
                    if let config = try? Document.decode(
                        EvaluationConfig.self, from: data, format: format, limits: .settings, label: "fuzz")
                    {
                        _ = try? config.validate()
                    }
                }
            case .records:
                _ = try? Document.decode(RunRecord.self, from: data, format: .json, limits: .records, label: "fuzz")
                _ = try? Document.decode(AnalysisRecord.self, from: data, format: .json, limits: .records, label: "fuzz")
                _ = try? EvaluationState.decode(data, name: "fuzz")
                _ = try? EvaluationReport.decode(data, name: "fuzz")
                _ = try Document.decodeLines(EpochMetrics.self, from: data, limits: .records, name: "fuzz")
            }
        }
    }

    /// Runs `body`, accepting the project's errors and stopping the process on any other error.
    private func expectingOnlyToolErrors(_ body: () throws -> Void) {
        do { try body() } catch is EDLCMError {} catch is TorchError {} catch {
            fatalError("fuzz-\(rawValue): unexpected error type \(type(of: error)): \(error)")
        }
    }
}
