import Foundation
import Torch

/// Writes data to a temporary file beside `url`, fsyncs it, renames it over `url` and fsyncs the
/// folder, so that `url` holds either its old contents or the new ones, never a torn file.
///
/// - Throws: ``EDLCMError`` naming `url`, the step that failed and the system's reason.
public func writeFileAtomically(_ data: Data, to url: URL) throws {
    try rethrowingTorchErrors { try AtomicFile.write([UInt8](data), to: url.path, label: url.path) }
}

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
