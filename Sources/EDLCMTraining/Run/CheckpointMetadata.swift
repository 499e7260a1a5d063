import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

/// The string metadata a checkpoint carries so that `evaluate` can rebuild the model without flags.
public struct CheckpointMetadata: Equatable, Sendable {
    public var spec: ModelSpec
    public var members: Int
    public var output: EnsembleOutput
    public var method: TrainingMethod
    /// Epochs completed when the checkpoint was written.
    public var epoch: Int
    public var config: TrainingConfig
    /// The interrupted epoch's progress, for a checkpoint written on a stop request.
    public var progress: EpochProgress?

    public init(
        spec: ModelSpec, members: Int, output: EnsembleOutput, method: TrainingMethod, epoch: Int, config: TrainingConfig,
        progress: EpochProgress? = nil
    ) {
        self.progress = progress
        self.spec = spec
        self.members = members
        self.output = output
        self.method = method
        self.epoch = epoch
        self.config = config
    }

    /// The metadata as safetensors strings (`edlcm.model` and `edlcm.config` hold JSON).
    public func encoded() throws -> [String: String] {
        let encoder = JSONStyle.line.encoder
        var values = [
            "format": "pt",
            "edlcm.version": edlcmVersion,
            "edlcm.model": String(decoding: try encoder.encode(spec), as: UTF8.self),
            "edlcm.members": String(members),
            "edlcm.ensemble_output": output.rawValue,
            "edlcm.method": method.rawValue,
            "edlcm.epoch": String(epoch),
            "edlcm.config": String(decoding: try encoder.encode(config), as: UTF8.self),
        ]
        if let progress { values["edlcm.epoch_progress"] = String(decoding: try encoder.encode(progress), as: UTF8.self) }
        return values
    }

    /// Reads the metadata back.
    ///
    /// - Throws: ``EDLCMError`` naming the file and the missing or malformed key.
    public init(decoding metadata: [String: String], source: String) throws {
        func value(_ key: String) throws -> String {
            guard let value = metadata[key] else {
                throw EDLCMError("\(source): not an EDLCM checkpoint (no '\(key)' in its metadata)")
            }
            return value
        }
        func decode<T: Decodable>(_ type: T.Type, _ key: String) throws -> T {
            try Document.decode(
                T.self, from: Data(try value(key).utf8), format: .json, limits: .records, label: "\(source): metadata '\(key)'")
        }
        spec = try decode(ModelSpec.self, "edlcm.model")
        try spec.validate()
        guard let members = Int(try value("edlcm.members")), members >= 1 else {
            throw EDLCMError("\(source): metadata 'edlcm.members' is not a positive integer")
        }
        self.members = members
        guard let output = EnsembleOutput(rawValue: try value("edlcm.ensemble_output")) else {
            throw EDLCMError("\(source): metadata 'edlcm.ensemble_output' is unknown")
        }
        self.output = output
        guard let method = TrainingMethod(rawValue: try value("edlcm.method")) else {
            throw EDLCMError("\(source): metadata 'edlcm.method' names an unknown method")
        }
        self.method = method
        guard let epoch = Int(try value("edlcm.epoch")), epoch >= 0 else {
            throw EDLCMError("\(source): metadata 'edlcm.epoch' is not a non-negative integer")
        }
        self.epoch = epoch
        config = try decode(TrainingConfig.self, "edlcm.config")
        progress = metadata["edlcm.epoch_progress"] == nil ? nil : try decode(EpochProgress.self, "edlcm.epoch_progress")
    }
}
