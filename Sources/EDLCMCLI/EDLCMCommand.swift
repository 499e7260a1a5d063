import ArgumentParser
import EDLCMCore
import Foundation
import Logging
import Torch

/// The `edlcm` command line: thin subcommands that parse flags into configs and call the library.
@main
struct EDLCMCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "edlcm",
        abstract: "Train adversarially robust ensembles (EDLCM and baselines) and evaluate them honestly.",
        version: edlcmVersion,
        subcommands: [
            Train.self, Evaluate.self, Analyze.self, Report.self, Study.self, Launch.self, Bench.self, DeviceCheck.self,
        ]
    )

    /// Parses, runs, and turns every error into one line on standard error with a non-zero exit.
    static func main() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel =
                ProcessInfo.processInfo.environment["EDLCM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
        Runtime.retainFreedMemory()
        // Past a file-size limit (a full quota) writes must fail with EFBIG and a message, not kill us.
        signal(SIGXFSZ, SIG_IGN)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let error as EDLCMError {
            fail(error.message)
        } catch let error as TorchError {
            fail(error.message)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is CleanExit { exit(withError: error) }
            fail(oneLine(message(for: error)), code: code.rawValue)
        }
    }

    /// The first line of an argument parser's message, with a bulleted list of valid values that
    /// follows it (as for an enum option with six or more values) folded into that line.
    static func oneLine(_ message: String) -> String {
        let lines = message.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
        guard let first = lines.first else { return message }
        let rest = lines.dropFirst().map { $0.trimmingCharacters(in: .whitespaces) }
        guard !rest.isEmpty, rest.allSatisfy({ $0.hasPrefix("- ") }) else { return first }
        return first + " " + rest.map { String($0.dropFirst(2)) }.joined(separator: ", ")
    }

    static func fail(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("edlcm: error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}
