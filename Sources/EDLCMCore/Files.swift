import Foundation
import Torch

/// Writes data to a temporary file beside `url`, fsyncs it, renames it over `url` and fsyncs the
/// folder, so that `url` holds either its old contents or the new ones, never a torn file.
///
/// - Throws: ``EDLCMError`` naming `url`, the step that failed and the system's reason.
public func writeFileAtomically(_ data: Data, to url: URL) throws {
    try rethrowingTorchErrors { try AtomicFile.write([UInt8](data), to: url.path, label: url.path) }
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

/// The product of non-negative factors, or `nil` when it overflows `Int`.
package func checkedProduct(_ factors: [Int]) -> Int? {
    var product = 1
    for factor in factors {
        guard factor >= 0 else { return nil }
        let (result, overflow) = product.multipliedReportingOverflow(by: factor)
        if overflow { return nil }
        product = result
    }
    return product
}

/// The sum of two integers, or `nil` when it overflows `Int`.
package func checkedSum(_ a: Int, _ b: Int) -> Int? {
    let (result, overflow) = a.addingReportingOverflow(b)
    return overflow ? nil : result
}

/// The project's version, recorded with every run.
public let edlcmVersion = "0.1.0"

/// Refuses an output path that is a folder or sits in a missing folder, before any work is done.
public func checkOutputFile(_ url: URL) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue {
        throw EDLCMError("--out \(url.path): is a folder, not a file")
    }
    let parent = url.deletingLastPathComponent()
    guard FileManager.default.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
        throw EDLCMError("--out \(url.path): the folder \(parent.path) does not exist")
    }
    guard FileManager.default.isWritableFile(atPath: parent.path) else {
        throw EDLCMError("--out \(url.path): the folder is not writable")
    }
}

/// Runs `body` holding an exclusive advisory lock (flock) on the file at `url`, created if
/// missing, so that processes sharing a folder (a study's parallel jobs) do one thing at a time;
/// the lock is released when `body` returns or throws, or when the process dies.
///
/// - Throws: ``EDLCMError`` naming the file when it cannot be opened or locked, or what `body` throws.
public func withFileLock<Result>(_ url: URL, _ body: () throws -> Result) throws -> Result {
    try? FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
    let descriptor = open(url.path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
        throw EDLCMError("\(url.path): cannot open the lock file (\(String(cString: strerror(errno))))")
    }
    defer { close(descriptor) }
    while flock(descriptor, LOCK_EX) != 0 {
        guard errno == EINTR else { throw EDLCMError("\(url.path): cannot lock (\(String(cString: strerror(errno))))") }
    }
    defer { flock(descriptor, LOCK_UN) }
    return try body()
}
