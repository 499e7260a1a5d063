import ArgumentParser
import EDLCM
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
        subcommands: [Train.self, Evaluate.self, Analyze.self, Report.self, Launch.self, Bench.self]
    )

    /// Parses, runs, and turns every error into one line on standard error with a non-zero exit.
    static func main() {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = ProcessInfo.processInfo.environment["EDLCM_LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
            return handler
        }
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
            fail(message(for: error).split(separator: "\n").first.map(String.init) ?? "\(error)", code: code.rawValue)
        }
    }

    static func fail(_ message: String, code: Int32 = 1) -> Never {
        FileHandle.standardError.write(Data("edlcm: error: \(message)\n".utf8))
        Foundation.exit(code)
    }
}
