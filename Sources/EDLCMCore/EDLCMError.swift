import Foundation
import Torch

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

/// A one-line description of a file-system error.
package func describe(_ error: any Error) -> String {
    if let error = error as? EDLCMError { return error.message }
    if let error = error as? TorchError { return error.message }
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
        return String(cString: strerror(Int32(underlying.code)))
    }
    return nsError.localizedDescription
}

/// A one-line description of a JSON or YAML decoding error, with the key path.
public func describeDecoding(_ error: any Error) -> String {
    func path(_ context: DecodingError.Context) -> String {
        let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        return keys.isEmpty ? "" : " at '\(keys)'"
    }
    switch error {
    case let error as EDLCMError: return error.message
    case let DecodingError.typeMismatch(type, context): return "wrong type\(path(context)): expected \(type)"
    case let DecodingError.valueNotFound(type, context): return "missing value\(path(context)): expected \(type)"
    case let DecodingError.keyNotFound(key, context): return "missing key '\(key.stringValue)'\(path(context))"
    case let DecodingError.dataCorrupted(context):
        if let inner = context.underlyingError as? EDLCMError { return inner.message }
        let detail = (context.underlyingError as NSError?)?.userInfo["NSDebugDescription"] as? String ?? context.debugDescription
        return "invalid value\(path(context)): \(detail)"
    default: return "\(error)"
    }
}

/// Runs `body`, turning a ``TorchError`` (the engine's error type) into an ``EDLCMError`` with the
/// same message (after `prefix`, if given): the one place where the product layer's file and
/// checkpoint operations cross into the engine's error type.
package func rethrowingTorchErrors<Result>(prefix: String? = nil, _ body: () throws -> Result) throws -> Result {
    do { return try body() } catch let error as TorchError {
        throw EDLCMError(prefix.map { "\($0) \(error.message)" } ?? error.message)
    }
}
