import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// `write(2)`, spelled so that it does not collide with ``SafeTensors/write(_:to:)``.
@inline(__always)
private func posixWrite(_ fd: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, buffer, count)
    #elseif canImport(Musl)
    return Musl.write(fd, buffer, count)
    #else
    return Darwin.write(fd, buffer, count)
    #endif
}

extension SafeTensors {
    /// Serializes an archive to the bytes of a safetensors file.
    ///
    /// The output is deterministic:
    /// - tensor data is laid out by descending dtype alignment (the reference's dtype
    ///   order: I64, F64, F32, I32, BF16, F16, I16, I8, U8, BOOL), then by name in
    ///   UTF-8 byte order, exactly as the reference implementation does, so every
    ///   tensor's data is naturally aligned in the file (the header is padded to a
    ///   multiple of 8 bytes);
    /// - the header is compact JSON: `"__metadata__"` first (only when `metadata` is
    ///   non-empty, with its keys in UTF-8 byte order), then the tensors in UTF-8
    ///   byte order of their names, each as `{"dtype":…,"shape":[…],"data_offsets":[b,e]}`;
    /// - the header is padded with trailing spaces to a multiple of 8 bytes.
    ///
    /// - Parameter archive: The tensors and metadata to serialize.
    /// - Returns: The complete file: length prefix, header and byte buffer.
    /// - Throws: ``TorchError`` naming the tensor when a name is empty or is
    ///   `"__metadata__"`, a dimension is negative, the element count overflows, or
    ///   the data size differs from the element count × dtype size; also when the
    ///   header would exceed ``maxHeaderLength``.
    public static func encode(_ archive: Archive) throws -> [UInt8] {
        try encode(archive, context: "safetensors encode")
    }

    /// Serializes `archive` and atomically replaces the file at `url` with the result.
    ///
    /// The bytes go to a temporary file in the destination's directory
    /// (`.<name>.tmp-<pid>-<random>`), which is fsynced and then renamed over the
    /// destination; the directory is fsynced afterwards. On failure the temporary is
    /// removed and the destination is left as it was, so readers only ever see the
    /// old file or the complete new one. The new file gets mode 0644 (less the
    /// umask); a symbolic link at the destination is replaced, not followed.
    ///
    /// - Parameters:
    ///   - archive: The tensors and metadata to write.
    ///   - url: A `file:` URL naming the destination file.
    /// - Throws: ``TorchError`` naming the destination when `archive` is invalid (see
    ///   ``encode(_:)``) or when a file operation fails (with the OS error from `strerror`).
    public static func write(_ archive: Archive, to url: URL) throws {
        guard url.isFileURL else {
            throw TorchError("safetensors \(quoted(url.absoluteString)): cannot write, not a file URL")
        }
        let path = url.path
        let bytes = try encode(archive, context: "safetensors \(quoted(path)): cannot write")
        try writeAtomically(bytes, to: path)
    }

    // MARK: - Encoding

    /// The reference implementation's dtype order; data is laid out by descending rank.
    static func layoutRank(_ dtype: DType) -> Int {
        switch dtype {
        case .bool: return 0
        case .uint8: return 1
        case .int8: return 2
        case .int16: return 3
        case .float16: return 4
        case .bfloat16: return 5
        case .int32: return 6
        case .float32: return 7
        case .float64: return 8
        case .int64: return 9
        }
    }

    static func encode(_ archive: Archive, context: String) throws -> [UInt8] {
        // Validate in name order so the reported error does not depend on hashing.
        let names = archive.tensors.keys.sorted(by: utf8Precedes)
        var totalBytes = 0
        for name in names {
            guard let entry = archive.tensors[name] else { continue }
            func failTensor(_ problem: String) -> TorchError {
                TorchError("\(context): tensor \(quoted(name)): \(problem)")
            }
            guard !name.isEmpty else { throw failTensor("tensor name is empty") }
            guard name != metadataKey else {
                throw failTensor("tensor name \(quoted(metadataKey)) is reserved for metadata")
            }
            for (axis, dim) in entry.shape.enumerated() where dim < 0 {
                throw failTensor("negative dimension \(dim) at index \(axis) of shape \(describe(shape: entry.shape))")
            }
            guard let count = elementCount(of: entry.shape) else {
                throw failTensor("element count of shape \(describe(shape: entry.shape)) overflows")
            }
            let (needed, overflow) = count.multipliedReportingOverflow(by: entry.dtype.byteSize)
            guard !overflow else {
                throw failTensor("byte size of shape \(describe(shape: entry.shape)) × \(entry.dtype.rawValue) overflows")
            }
            guard entry.data.count == needed else {
                throw failTensor("data is \(entry.data.count) bytes but shape \(describe(shape: entry.shape)) of \(entry.dtype.rawValue) needs \(count) × \(entry.dtype.byteSize) = \(needed) bytes")
            }
            totalBytes += needed  // Cannot overflow: every `data` array exists in memory.
        }

        // Data layout: descending dtype rank (hence alignment), then name.
        let layout = names.sorted { lhs, rhs in
            let left = layoutRank(archive.tensors[lhs]?.dtype ?? .bool)
            let right = layoutRank(archive.tensors[rhs]?.dtype ?? .bool)
            if left != right { return left > right }
            return utf8Precedes(lhs, rhs)
        }
        var offsets: [String: (begin: Int, end: Int)] = [:]
        var cursor = 0
        for name in layout {
            let size = archive.tensors[name]?.data.count ?? 0
            offsets[name] = (cursor, cursor + size)
            cursor += size
        }

        // Header JSON.
        var header: [UInt8] = []
        header.append(UInt8(ascii: "{"))
        var first = true
        func separator() {
            if !first { header.append(UInt8(ascii: ",")) }
            first = false
        }
        if !archive.metadata.isEmpty {
            separator()
            appendJSONString(metadataKey, to: &header)
            header.append(contentsOf: Array(":{".utf8))
            var firstPair = true
            for key in archive.metadata.keys.sorted(by: utf8Precedes) {
                if !firstPair { header.append(UInt8(ascii: ",")) }
                firstPair = false
                appendJSONString(key, to: &header)
                header.append(UInt8(ascii: ":"))
                appendJSONString(archive.metadata[key] ?? "", to: &header)
            }
            header.append(UInt8(ascii: "}"))
        }
        for name in names {
            guard let entry = archive.tensors[name], let range = offsets[name] else { continue }
            separator()
            appendJSONString(name, to: &header)
            header.append(contentsOf: Array(":{\"dtype\":".utf8))
            appendJSONString(entry.dtype.rawValue, to: &header)
            header.append(contentsOf: Array(",\"shape\":[".utf8))
            header.append(contentsOf: Array(entry.shape.map(String.init).joined(separator: ",").utf8))
            header.append(contentsOf: Array("],\"data_offsets\":[\(range.begin),\(range.end)]}".utf8))
        }
        header.append(UInt8(ascii: "}"))
        let padding = (8 - header.count % 8) % 8
        header.append(contentsOf: repeatElement(UInt8(ascii: " "), count: padding))
        guard header.count <= maxHeaderLength else {
            throw TorchError("\(context): header would be \(header.count) bytes, over the \(maxHeaderLength)-byte limit readers accept")
        }

        // File bytes.
        var output: [UInt8] = []
        output.reserveCapacity(8 + header.count + totalBytes)
        var length = UInt64(header.count)
        for _ in 0..<8 {
            output.append(UInt8(truncatingIfNeeded: length))
            length >>= 8
        }
        output.append(contentsOf: header)
        for name in layout {
            if let entry = archive.tensors[name] {
                output.append(contentsOf: entry.data)
            }
        }
        return output
    }

    /// Appends `text` as a JSON string literal, escaping like serde_json does.
    static func appendJSONString(_ text: String, to out: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        out.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x08: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "b")])
            case 0x0C: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "f")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0x00..<0x20:
                out.append(contentsOf: Array("\\u00".utf8))
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0F)])
            default:
                out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    // MARK: - Atomic file replacement

    /// Writes `bytes` to a temporary file next to `path`, fsyncs it, renames it over
    /// `path` and fsyncs the directory; removes the temporary on any failure.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        func failure(_ step: String, _ code: Int32) -> TorchError {
            TorchError("safetensors \(quoted(path)): cannot write: \(step): \(String(cString: strerror(code))) (errno \(code))")
        }

        // Split into directory and file name.
        guard !path.isEmpty, !path.hasSuffix("/") else {
            throw TorchError("safetensors \(quoted(path)): cannot write: the destination does not name a file")
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
        let temporaryPath = directory == "/" ? "/" + temporaryName
            : (path.contains("/") ? directory + "/" + temporaryName : temporaryName)

        var fd: Int32
        repeat {
            fd = open(temporaryPath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            throw failure("creating temporary file \(quoted(temporaryPath))", errno)
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
                        throw failure("writing temporary file \(quoted(temporaryPath)) at byte \(written) of \(buffer.count)", errno)
                    }
                    if n == 0 {
                        throw failure("writing temporary file \(quoted(temporaryPath)) at byte \(written) of \(buffer.count)", EIO)
                    }
                    written += n
                }
            }
            guard fsync(fd) == 0 else {
                throw failure("fsync of temporary file \(quoted(temporaryPath))", errno)
            }
            fdIsOpen = false
            guard close(fd) == 0 else {
                throw failure("closing temporary file \(quoted(temporaryPath))", errno)
            }
            guard rename(temporaryPath, path) == 0 else {
                throw failure("renaming temporary file \(quoted(temporaryPath)) over the destination", errno)
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
            throw failure("file replaced, but opening directory \(quoted(directory)) to fsync it failed", errno)
        }
        defer { _ = close(directoryFD) }
        if fsync(directoryFD) != 0 {
            let code = errno
            // Some file systems cannot fsync a directory; that is not a failure of ours.
            if code != EINVAL && code != ENOTSUP {
                throw failure("file replaced, but fsync of directory \(quoted(directory)) failed", code)
            }
        }
    }
}
