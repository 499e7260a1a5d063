import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

/// Crash-safe file replacement, shared by checkpoints and every other file the tools write.
public enum AtomicFile {
    /// Writes `bytes` to a temporary file next to `path`, fsyncs it, renames it over `path` and
    /// fsyncs the directory, so that `path` holds its old contents or the new ones, never a torn
    /// file; removes the temporary on any failure.
    ///
    /// - Parameters:
    ///   - label: how messages name the destination (for example `safetensors "PATH"`).
    /// - Throws: ``TorchError`` "`label`: cannot write: `step`: `strerror` (errno N)".
    public static func write(_ bytes: [UInt8], to path: String, label: String) throws {
        func failure(_ step: String, _ code: Int32) -> TorchError {
            TorchError("\(label): cannot write: \(step): \(String(cString: strerror(code))) (errno \(code))")
        }

        // Split into directory and file name.
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw TorchError("\(label): cannot write: the destination does not name a file")
        }
        let directory: String
        let fileName: String
        if let slash = path.lastIndex(of: "/") {
            let parent = String(path[..<slash])
            directory = parent.isEmpty ? "/" : parent
            fileName = String(path[path.index(after: slash)...])
        } else {
            directory = "."
            fileName = path
        }

        // A hidden, unique temporary name in the same directory; the destination's
        // name is shortened so the temporary name stays within NAME_MAX (255 bytes).
        var stem = ""
        for scalar in fileName.unicodeScalars {
            guard stem.utf8.count + String(scalar).utf8.count <= 160 else { break }
            stem.unicodeScalars.append(scalar)
        }
        let suffix = String(UInt32.random(in: 0...UInt32.max), radix: 16)
        let temporaryName = ".\(stem).tmp-\(getpid())-\(suffix)"
        let temporaryPath =
            directory == "/"
            ? "/" + temporaryName
            : (path.contains("/") ? directory + "/" + temporaryName : temporaryName)

        var fd: Int32
        repeat {
            fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            throw failure("creating temporary file \(SafeTensors.quoted(temporaryPath))", errno)
        }

        var fdIsOpen = true
        do {
            var written = 0
            try bytes.withUnsafeBytes { buffer in
                guard let base = buffer.baseAddress else { return }
                while written < buffer.count {
                    let n = posixWrite(fd, base + written, min(buffer.count - written, 1 << 30))
                    if n < 0 {
                        if errno == EINTR { continue }
                        throw failure(
                            "writing temporary file \(SafeTensors.quoted(temporaryPath)) at byte \(written) of \(buffer.count)",
                            errno)
                    }
                    if n == 0 {
                        throw failure(
                            "writing temporary file \(SafeTensors.quoted(temporaryPath)) at byte \(written) of \(buffer.count)",
                            EIO)
                    }
                    written += n
                }
            }
            guard fsync(fd) == 0 else {
                throw failure("fsync of temporary file \(SafeTensors.quoted(temporaryPath))", errno)
            }
            fdIsOpen = false
            guard close(fd) == 0 else {
                throw failure("closing temporary file \(SafeTensors.quoted(temporaryPath))", errno)
            }
            guard rename(temporaryPath, path) == 0 else {
                throw failure("renaming temporary file \(SafeTensors.quoted(temporaryPath)) over the destination", errno)
            }
        } catch {
            if fdIsOpen { _ = close(fd) }
            _ = unlink(temporaryPath)
            throw error
        }

        // Make the rename itself durable.
        var directoryFD: Int32
        repeat {
            directoryFD = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        } while directoryFD < 0 && errno == EINTR
        guard directoryFD >= 0 else {
            throw failure("file replaced, but opening directory \(SafeTensors.quoted(directory)) to fsync it failed", errno)
        }
        defer { _ = close(directoryFD) }
        if fsync(directoryFD) != 0 {
            let code = errno
            // Some file systems cannot fsync a directory; that is not a failure of ours.
            if code != EINVAL && code != ENOTSUP {
                throw failure("file replaced, but fsync of directory \(SafeTensors.quoted(directory)) failed", code)
            }
        }
    }
}
