import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

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
        try AtomicFile.write(bytes, to: path, label: "safetensors \(quoted(path))")
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
                throw failTensor(
                    "data is \(entry.data.count) bytes but shape \(describe(shape: entry.shape)) of \(entry.dtype.rawValue) needs \(count) × \(entry.dtype.byteSize) = \(needed) bytes"
                )
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
            throw TorchError(
                "\(context): header would be \(header.count) bytes, over the \(maxHeaderLength)-byte limit readers accept")
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
}
