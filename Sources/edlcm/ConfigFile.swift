import EDLCM
import Foundation
import Yams

/// Reads a `--config` file: JSON (`.json`) or YAML (anything else), with the same keys as the flags.
enum ConfigFile {
    static func load<Config: Decodable>(_ type: Config.Type, from path: String) throws -> Config {
        let url = URL(fileURLWithPath: path)
        let data = try readFile(url, context: "--config")
        guard !data.isEmpty else { throw EDLCMError("--config \(path): the file is empty") }
        do {
            if url.pathExtension.lowercased() == "json" {
                return try JSONDecoder().decode(Config.self, from: data)
            }
            guard let text = String(data: data, encoding: .utf8) else { throw EDLCMError("not UTF-8 text") }
            return try YAMLDecoder().decode(Config.self, from: text)
        } catch let error as EDLCMError {
            throw EDLCMError("--config \(path): \(error.message)")
        } catch let error as DecodingError {
            throw EDLCMError("--config \(path): \(describeDecoding(error))")
        } catch {
            let text = "\(error)".split(separator: "\n").joined(separator: " ")
            throw EDLCMError("--config \(path): not valid \(url.pathExtension.lowercased() == "json" ? "JSON" : "YAML"): \(text)")
        }
    }
}
