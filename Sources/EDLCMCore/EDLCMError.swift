/// The one error type of the product layer: datasets, configurations, runs and reports.
///
/// The message says what went wrong and where (a file path, a flag, a key), in one line,
/// so that the command-line tool can print it as it is.
public struct EDLCMError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong and where, in one line.
    public let message: String

    /// Creates an error with a one-line message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
