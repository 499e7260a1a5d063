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

/// Reads a `--config` file: JSON (`.json`) or YAML (anything else), with the same keys as the flags,
/// within ``DocumentLimits/settings``.
enum ConfigFile {
    static func load<Config: Decodable>(_ type: Config.Type, from path: String) throws -> Config {
        try Document.read(type, from: URL(fileURLWithPath: path), limits: .settings, label: "--config \(path)")
    }
}
