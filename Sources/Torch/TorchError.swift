/// The one error type of the engine layer: loading, saving, configuration and device errors.
///
/// The message says what went wrong and where (a file path, a tensor name, a flag), in one line,
/// so that the command-line tool can print it as it is.
public struct TorchError: Error, CustomStringConvertible, Equatable, Sendable {
    /// What went wrong and where, in one line.
    public let message: String

    /// Creates an error with a one-line message.
    public init(_ message: String) {
        self.message = message
    }

    public var description: String { message }
}
