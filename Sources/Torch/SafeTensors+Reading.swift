import Foundation

#if canImport(Glibc)
    import Glibc
#elseif canImport(Musl)
    import Musl
#elseif canImport(Darwin)
    import Darwin
#endif

extension SafeTensors {
    /// Parses a complete safetensors file held in memory.
    ///
    /// The input is validated the way the reference (Rust) implementation does:
    /// the header must be a UTF-8 JSON object whose entries are well formed, every
    /// tensor's byte range must match its shape and dtype, and the ranges, sorted by
    /// offset, must tile the byte buffer exactly (no overlap, no gap, no trailing
    /// bytes). Unlike the reference, a key repeated in a JSON object is rejected
    /// rather than silently resolved to its last occurrence. Malformed input of
    /// any kind throws; it never traps.
    ///
    /// - Parameters:
    ///   - bytes: The whole file: length prefix, header and byte buffer.
    ///   - source: The path (or other label) used to identify the input in error messages.
    /// - Returns: The tensors and metadata stored in `bytes`.
    /// - Throws: ``TorchError`` naming `source`, the offending tensor and byte offsets
    ///   when the input is not a valid safetensors file.
    public static func decode(_ bytes: [UInt8], source: String) throws -> Archive {
        func fail(_ problem: String) -> TorchError {
            TorchError("safetensors \(quoted(source)): \(problem)")
        }

        // Length prefix.
        guard bytes.count >= 8 else {
            throw fail("file is \(bytes.count) bytes, shorter than the 8-byte header length prefix")
        }
        var rawLength: UInt64 = 0
        for index in 0..<8 {
            rawLength |= UInt64(bytes[index]) << (8 * UInt64(index))
        }
        guard rawLength != 0 else {
            throw fail("header length is 0 (file bytes 0..<8); the header must hold at least a JSON object")
        }
        guard rawLength <= UInt64(maxHeaderLength) else {
            throw fail("header length \(rawLength) (file bytes 0..<8) exceeds the \(maxHeaderLength)-byte limit")
        }
        let headerLength = Int(rawLength)
        guard headerLength <= bytes.count - 8 else {
            throw fail(
                "header length \(headerLength) (file bytes 0..<8) is larger than the \(bytes.count - 8) bytes after the prefix (file is \(bytes.count) bytes)"
            )
        }
        let headerEnd = 8 + headerLength
        let bufferLength = bytes.count - headerEnd

        // Header text.
        if let bad = firstInvalidUTF8Offset(in: bytes, from: 8, to: headerEnd) {
            throw fail(
                "header is not valid UTF-8: invalid byte 0x\(hexByte(bytes[bad])) at file offset \(bad) (header spans file bytes 8..<\(headerEnd))"
            )
        }
        var parser = HeaderJSONParser(bytes: bytes, start: 8, end: headerEnd)
        let root: HeaderJSON
        do {
            root = try parser.parseDocument()
        } catch let error as HeaderJSONParser.SyntaxError {
            throw fail(
                "header is not valid JSON: \(error.problem) at file offset \(error.offset) (header spans file bytes 8..<\(headerEnd))"
            )
        }
        guard case .object(let members) = root else {
            throw fail("header JSON is not an object (found \(root.kindName) at file offset \(parser.firstValueOffset))")
        }

        // Header entries.
        struct Located {
            var name: String
            var keyOffset: Int
            var begin: Int
            var end: Int
        }
        var archive = Archive()
        var seen = Set<String>()
        var located: [Located] = []
        located.reserveCapacity(members.count)

        for member in members {
            let name = member.key
            guard seen.insert(name).inserted else {
                throw fail("duplicate key \(quoted(name)) in header JSON at file offset \(member.keyOffset)")
            }

            if name == metadataKey {
                switch member.value {
                case .null:
                    continue  // The reference reads `null` as "no metadata".
                case .object(let pairs):
                    var seenMetadata = Set<String>()
                    for pair in pairs {
                        guard seenMetadata.insert(pair.key).inserted else {
                            throw fail("duplicate key \(quoted(pair.key)) in \(metadataKey) at file offset \(pair.keyOffset)")
                        }
                        guard case .string(let value) = pair.value else {
                            throw fail(
                                "\(metadataKey) value for key \(quoted(pair.key)) is not a string (found \(pair.value.kindName) after file offset \(pair.keyOffset))"
                            )
                        }
                        archive.metadata[pair.key] = value
                    }
                    continue
                default:
                    throw fail(
                        "\(metadataKey) is not an object of strings (found \(member.value.kindName) after file offset \(member.keyOffset))"
                    )
                }
            }

            func failTensor(_ problem: String) -> TorchError {
                fail("tensor \(quoted(name)) (header key at file offset \(member.keyOffset)): \(problem)")
            }

            guard case .object(let fields) = member.value else {
                throw failTensor("entry is not a JSON object (found \(member.value.kindName))")
            }
            // Unknown fields are ignored, as in the reference implementation.
            var dtypeValue: HeaderJSON?
            var shapeValue: HeaderJSON?
            var offsetsValue: HeaderJSON?
            var seenFields = Set<String>()
            for field in fields {
                guard seenFields.insert(field.key).inserted else {
                    throw failTensor("duplicate field \(quoted(field.key)) at file offset \(field.keyOffset)")
                }
                switch field.key {
                case "dtype": dtypeValue = field.value
                case "shape": shapeValue = field.value
                case "data_offsets": offsetsValue = field.value
                default: break
                }
            }

            // dtype
            guard let dtypeValue else { throw failTensor("missing field \"dtype\"") }
            guard case .string(let dtypeName) = dtypeValue else {
                throw failTensor("field \"dtype\" must be a string (found \(dtypeValue.kindName))")
            }
            guard let dtype = DType(rawValue: dtypeName) else {
                let supported = DType.allCases.map(\.rawValue).joined(separator: ", ")
                throw failTensor("unknown dtype \(quoted(dtypeName)) (supported: \(supported))")
            }

            // shape
            guard let shapeValue else { throw failTensor("missing field \"shape\"") }
            guard case .array(let dimValues) = shapeValue else {
                throw failTensor("field \"shape\" must be an array of integers (found \(shapeValue.kindName))")
            }
            var shape: [Int] = []
            shape.reserveCapacity(dimValues.count)
            for (axis, dimValue) in dimValues.enumerated() {
                guard case .number(let literal, let isInteger) = dimValue else {
                    throw failTensor("field \"shape\" must be an array of integers (element \(axis) is \(dimValue.kindName))")
                }
                guard isInteger else {
                    throw failTensor("field \"shape\" must be an array of integers (element \(axis) is \(literal))")
                }
                guard let dim = Int(literal) else {
                    throw failTensor("dimension \(literal) at index \(axis) of \"shape\" is out of range")
                }
                guard dim >= 0 else {
                    throw failTensor("negative dimension \(dim) at index \(axis) of \"shape\"")
                }
                shape.append(dim)
            }
            guard let count = elementCount(of: shape) else {
                throw failTensor("element count of shape \(describe(shape: shape)) overflows")
            }
            let (byteCount, byteOverflow) = count.multipliedReportingOverflow(by: dtype.byteSize)
            guard !byteOverflow else {
                throw failTensor("byte size of shape \(describe(shape: shape)) × \(dtype.rawValue) overflows")
            }

            // data_offsets
            guard let offsetsValue else { throw failTensor("missing field \"data_offsets\"") }
            guard case .array(let offsetValues) = offsetsValue, offsetValues.count == 2 else {
                throw failTensor("field \"data_offsets\" must be an array of two integers (found \(offsetsValue.kindName))")
            }
            var offsets: [Int] = []
            for offsetValue in offsetValues {
                guard case .number(let literal, let isInteger) = offsetValue, isInteger else {
                    throw failTensor("field \"data_offsets\" must be an array of two integers (found \(offsetValue.kindName))")
                }
                guard let offset = Int(literal), offset >= 0 else {
                    throw failTensor("data offset \(literal) is negative or out of range")
                }
                offsets.append(offset)
            }
            let begin = offsets[0]
            let end = offsets[1]
            guard begin <= end else {
                throw failTensor("data_offsets [\(begin), \(end)] have begin > end")
            }
            guard end <= bufferLength else {
                throw failTensor(
                    "data_offsets [\(begin), \(end)] end beyond the \(bufferLength)-byte data buffer (file bytes \(headerEnd)..<\(bytes.count))"
                )
            }
            guard end - begin == byteCount else {
                throw failTensor(
                    "data_offsets [\(begin), \(end)] hold \(end - begin) bytes but shape \(describe(shape: shape)) of \(dtype.rawValue) needs \(count) × \(dtype.byteSize) = \(byteCount) bytes"
                )
            }

            let data = Array(bytes[(headerEnd + begin)..<(headerEnd + end)])
            archive.tensors[name] = Entry(dtype: dtype, shape: shape, data: data)
            located.append(Located(name: name, keyOffset: member.keyOffset, begin: begin, end: end))
        }

        // The ranges, sorted by (begin, end), must tile the buffer exactly, as the
        // reference requires: each tensor starts where the previous one ended and the
        // last one ends at the end of the file.
        located.sort { lhs, rhs in
            if lhs.begin != rhs.begin { return lhs.begin < rhs.begin }
            if lhs.end != rhs.end { return lhs.end < rhs.end }
            return utf8Precedes(lhs.name, rhs.name)
        }
        var covered = 0
        var previous: Located?
        for item in located {
            if item.begin < covered, let previous {
                throw fail(
                    "tensors \(quoted(previous.name)) data_offsets [\(previous.begin), \(previous.end)] and \(quoted(item.name)) data_offsets [\(item.begin), \(item.end)] overlap (file bytes \(headerEnd + item.begin)..<\(headerEnd + covered))"
                )
            }
            if item.begin > covered {
                throw fail(
                    "data buffer bytes \(covered)..<\(item.begin) (file bytes \(headerEnd + covered)..<\(headerEnd + item.begin)) are not covered by any tensor (gap before tensor \(quoted(item.name)))"
                )
            }
            covered = item.end
            previous = item
        }
        guard covered == bufferLength else {
            throw fail(
                "data buffer bytes \(covered)..<\(bufferLength) (file bytes \(headerEnd + covered)..<\(bytes.count)) are not covered by any tensor (trailing bytes after the last tensor)"
            )
        }
        return archive
    }

    /// Reads and parses the safetensors file at `url`.
    ///
    /// - Parameter url: A `file:` URL naming the file to read.
    /// - Returns: The tensors and metadata stored in the file.
    /// - Throws: ``TorchError`` naming the path and the OS error (`strerror`) when
    ///   the file cannot be read, or naming the path and the problem when its
    ///   content is not a valid safetensors file (see ``decode(_:source:)``).
    public static func read(from url: URL) throws -> Archive {
        let path = url.path
        guard url.isFileURL else {
            throw TorchError("safetensors \(quoted(url.absoluteString)): cannot read, not a file URL")
        }
        let bytes = try readAllBytes(path: path)
        return try decode(bytes, source: path)
    }

    /// Reads the whole regular file at `path` with POSIX calls.
    static func readAllBytes(path: String) throws -> [UInt8] {
        func osFailure(_ action: String, _ code: Int32) -> TorchError {
            TorchError("safetensors \(quoted(path)): cannot \(action): \(String(cString: strerror(code))) (errno \(code))")
        }
        var fd: Int32
        repeat {
            fd = open(path, O_RDONLY | O_CLOEXEC)
        } while fd < 0 && errno == EINTR
        guard fd >= 0 else { throw osFailure("open for reading", errno) }
        defer { _ = close(fd) }

        var info = stat()
        guard fstat(fd, &info) == 0 else { throw osFailure("stat", errno) }
        guard (info.st_mode & S_IFMT) == S_IFREG else {
            throw TorchError("safetensors \(quoted(path)): cannot read, not a regular file")
        }

        /// Reads into `buffer` until it is full or end of file; returns the byte count.
        func fill(_ buffer: UnsafeMutableRawBufferPointer) throws -> Int {
            guard let base = buffer.baseAddress else { return 0 }
            var total = 0
            while total < buffer.count {
                let n = posixRead(fd, base + total, buffer.count - total)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw osFailure("read", errno)
                }
                if n == 0 { break }
                total += n
            }
            return total
        }

        let expected = max(0, Int(clamping: info.st_size))
        var result = try [UInt8](unsafeUninitializedCapacity: expected) { buffer, initialized in
            initialized = try fill(UnsafeMutableRawBufferPointer(buffer))
        }
        guard result.count == expected else { return result }  // The file shrank: keep what is there.
        // The file may have grown since fstat: read until end of file.
        var chunk = [UInt8](repeating: 0, count: 1 << 16)
        while true {
            let got = try chunk.withUnsafeMutableBytes { try fill($0) }
            if got == 0 { return result }
            result.append(contentsOf: chunk[0..<got])
        }
    }

    /// Returns the file offset of the first byte in `bytes[from..<to]` that is not
    /// part of a well-formed UTF-8 sequence, or `nil` if the range is valid UTF-8.
    static func firstInvalidUTF8Offset(in bytes: [UInt8], from start: Int, to end: Int) -> Int? {
        var index = start
        while index < end {
            let lead = bytes[index]
            if lead < 0x80 {
                index += 1
                continue
            }
            let trailing: Int
            var low: UInt8 = 0x80
            var high: UInt8 = 0xBF
            switch lead {
            case 0xC2...0xDF: trailing = 1
            case 0xE0:
                trailing = 2
                low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: trailing = 2
            case 0xED:
                trailing = 2
                high = 0x9F
            case 0xF0:
                trailing = 3
                low = 0x90
            case 0xF1...0xF3: trailing = 3
            case 0xF4:
                trailing = 3
                high = 0x8F
            default: return index
            }
            for step in 1...trailing {
                let at = index + step
                guard at < end else { return index }  // Truncated sequence.
                let byte = bytes[at]
                let (lo, hi) = step == 1 ? (low, high) : (0x80, 0xBF)
                guard byte >= lo && byte <= hi else { return at }
            }
            index += trailing + 1
        }
        return nil
    }

    /// Returns `byte` as two uppercase hex digits.
    static func hexByte(_ byte: UInt8) -> String {
        let digits = Array("0123456789ABCDEF")
        return String([digits[Int(byte >> 4)], digits[Int(byte & 0x0F)]])
    }
}

extension SafeTensors {
    /// A parsed JSON value from a safetensors header.
    ///
    /// Object members keep their order and the file offset of their key so that
    /// duplicates and errors can be reported precisely; numbers keep their literal
    /// text so that integers are read exactly and out-of-range values are detected.
    enum HeaderJSON {
        struct Member {
            var key: String
            var keyOffset: Int
            var value: HeaderJSON
        }

        case object([Member])
        case array([HeaderJSON])
        case string(String)
        case number(literal: String, isInteger: Bool)
        case bool(Bool)
        case null

        /// The JSON kind, for error messages.
        var kindName: String {
            switch self {
            case .object: return "object"
            case .array: return "array"
            case .string: return "string"
            case .number(let literal, _): return "number \(literal)"
            case .bool(let value): return value ? "true" : "false"
            case .null: return "null"
            }
        }
    }

    /// A strict RFC 8259 JSON parser over a byte range that is already known to be valid UTF-8.
    struct HeaderJSONParser {
        struct SyntaxError: Error {
            var problem: String
            var offset: Int
        }

        /// The nesting limit (serde_json's default recursion limit).
        static let maxDepth = 128

        let bytes: [UInt8]
        let end: Int
        var position: Int
        var depth = 0
        /// The file offset of the top-level value (after leading whitespace).
        private(set) var firstValueOffset: Int

        init(bytes: [UInt8], start: Int, end: Int) {
            self.bytes = bytes
            self.end = end
            self.position = start
            self.firstValueOffset = start
        }

        mutating func parseDocument() throws -> HeaderJSON {
            skipWhitespace()
            firstValueOffset = position
            let value = try parseValue()
            skipWhitespace()
            guard position == end else {
                throw SyntaxError(problem: "unexpected \(describeByte(at: position)) after the top-level value", offset: position)
            }
            return value
        }

        private func describeByte(at offset: Int) -> String {
            guard offset < end else { return "end of header" }
            let byte = bytes[offset]
            if byte >= 0x21 && byte < 0x7F {
                return "character '\(Character(Unicode.Scalar(byte)))'"
            }
            return "byte 0x\(SafeTensors.hexByte(byte))"
        }

        private mutating func skipWhitespace() {
            while position < end {
                switch bytes[position] {
                case 0x20, 0x09, 0x0A, 0x0D: position += 1
                default: return
                }
            }
        }

        private mutating func parseValue() throws -> HeaderJSON {
            guard position < end else {
                throw SyntaxError(problem: "expected a value but found end of header", offset: position)
            }
            switch bytes[position] {
            case UInt8(ascii: "{"): return try parseObject()
            case UInt8(ascii: "["): return try parseArray()
            case UInt8(ascii: "\""): return .string(try parseString())
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
            case UInt8(ascii: "t"):
                try expectLiteral("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expectLiteral("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expectLiteral("null")
                return .null
            default:
                throw SyntaxError(problem: "expected a value but found \(describeByte(at: position))", offset: position)
            }
        }

        private mutating func expectLiteral(_ literal: StaticString) throws {
            let start = position
            let count = literal.utf8CodeUnitCount
            let matches = literal.withUTF8Buffer { expected -> Bool in
                guard end - start >= count else { return false }
                for index in 0..<count where bytes[start + index] != expected[index] {
                    return false
                }
                return true
            }
            guard matches else {
                throw SyntaxError(problem: "invalid literal (expected '\(literal)')", offset: start)
            }
            position += count
        }

        private mutating func enter() throws {
            depth += 1
            guard depth <= Self.maxDepth else {
                throw SyntaxError(problem: "nesting deeper than \(Self.maxDepth) levels", offset: position)
            }
        }

        private mutating func parseObject() throws -> HeaderJSON {
            try enter()
            defer { depth -= 1 }
            position += 1  // '{'
            var members: [HeaderJSON.Member] = []
            skipWhitespace()
            if position < end && bytes[position] == UInt8(ascii: "}") {
                position += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard position < end, bytes[position] == UInt8(ascii: "\"") else {
                    throw SyntaxError(problem: "expected a string key but found \(describeByte(at: position))", offset: position)
                }
                let keyOffset = position
                let key = try parseString()
                skipWhitespace()
                guard position < end, bytes[position] == UInt8(ascii: ":") else {
                    throw SyntaxError(problem: "expected ':' but found \(describeByte(at: position))", offset: position)
                }
                position += 1
                skipWhitespace()
                let value = try parseValue()
                members.append(HeaderJSON.Member(key: key, keyOffset: keyOffset, value: value))
                skipWhitespace()
                guard position < end else {
                    throw SyntaxError(problem: "expected ',' or '}' but found end of header", offset: position)
                }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "}"):
                    position += 1
                    return .object(members)
                default:
                    throw SyntaxError(problem: "expected ',' or '}' but found \(describeByte(at: position))", offset: position)
                }
            }
        }

        private mutating func parseArray() throws -> HeaderJSON {
            try enter()
            defer { depth -= 1 }
            position += 1  // '['
            var elements: [HeaderJSON] = []
            skipWhitespace()
            if position < end && bytes[position] == UInt8(ascii: "]") {
                position += 1
                return .array(elements)
            }
            while true {
                skipWhitespace()
                elements.append(try parseValue())
                skipWhitespace()
                guard position < end else {
                    throw SyntaxError(problem: "expected ',' or ']' but found end of header", offset: position)
                }
                switch bytes[position] {
                case UInt8(ascii: ","): position += 1
                case UInt8(ascii: "]"):
                    position += 1
                    return .array(elements)
                default:
                    throw SyntaxError(problem: "expected ',' or ']' but found \(describeByte(at: position))", offset: position)
                }
            }
        }

        private mutating func parseNumber() throws -> HeaderJSON {
            let start = position
            var isInteger = true
            if bytes[position] == UInt8(ascii: "-") { position += 1 }
            func isDigit(_ offset: Int) -> Bool {
                offset < end && bytes[offset] >= UInt8(ascii: "0") && bytes[offset] <= UInt8(ascii: "9")
            }
            guard isDigit(position) else {
                throw SyntaxError(problem: "invalid number (expected a digit)", offset: position)
            }
            if bytes[position] == UInt8(ascii: "0") {
                position += 1
                if isDigit(position) {
                    throw SyntaxError(problem: "invalid number (leading zero)", offset: start)
                }
            } else {
                while isDigit(position) { position += 1 }
            }
            if position < end && bytes[position] == UInt8(ascii: ".") {
                isInteger = false
                position += 1
                guard isDigit(position) else {
                    throw SyntaxError(problem: "invalid number (expected a digit after '.')", offset: position)
                }
                while isDigit(position) { position += 1 }
            }
            if position < end && (bytes[position] == UInt8(ascii: "e") || bytes[position] == UInt8(ascii: "E")) {
                isInteger = false
                position += 1
                if position < end && (bytes[position] == UInt8(ascii: "+") || bytes[position] == UInt8(ascii: "-")) {
                    position += 1
                }
                guard isDigit(position) else {
                    throw SyntaxError(problem: "invalid number (expected a digit in the exponent)", offset: position)
                }
                while isDigit(position) { position += 1 }
            }
            let literal = String(decoding: bytes[start..<position], as: UTF8.self)
            return .number(literal: literal, isInteger: isInteger)
        }

        private mutating func parseHex4() throws -> UInt32 {
            guard end - position >= 4 else {
                throw SyntaxError(problem: "truncated \\u escape", offset: position)
            }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[position]
                let digit: UInt32
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
                default:
                    throw SyntaxError(problem: "invalid hex digit in \\u escape", offset: position)
                }
                value = value << 4 | digit
                position += 1
            }
            return value
        }

        private mutating func parseString() throws -> String {
            let open = position
            position += 1  // '"'
            var scratch: [UInt8] = []
            var runStart = position
            while true {
                guard position < end else {
                    throw SyntaxError(problem: "unterminated string (opened at file offset \(open))", offset: position)
                }
                let byte = bytes[position]
                if byte == UInt8(ascii: "\"") {
                    if scratch.isEmpty {
                        let text = String(decoding: bytes[runStart..<position], as: UTF8.self)
                        position += 1
                        return text
                    }
                    scratch.append(contentsOf: bytes[runStart..<position])
                    position += 1
                    return String(decoding: scratch, as: UTF8.self)
                }
                if byte < 0x20 {
                    throw SyntaxError(
                        problem: "unescaped control character 0x\(SafeTensors.hexByte(byte)) in string", offset: position)
                }
                if byte != UInt8(ascii: "\\") {
                    position += 1
                    continue
                }
                // Escape sequence.
                scratch.append(contentsOf: bytes[runStart..<position])
                let escapeStart = position
                position += 1
                guard position < end else {
                    throw SyntaxError(problem: "unterminated escape sequence", offset: escapeStart)
                }
                let kind = bytes[position]
                position += 1
                switch kind {
                case UInt8(ascii: "\""): scratch.append(UInt8(ascii: "\""))
                case UInt8(ascii: "\\"): scratch.append(UInt8(ascii: "\\"))
                case UInt8(ascii: "/"): scratch.append(UInt8(ascii: "/"))
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800...0xDBFF).contains(code) {
                        guard end - position >= 2,
                            bytes[position] == UInt8(ascii: "\\"),
                            bytes[position + 1] == UInt8(ascii: "u")
                        else {
                            throw SyntaxError(problem: "lone leading surrogate in \\u escape", offset: escapeStart)
                        }
                        position += 2
                        let low = try parseHex4()
                        guard (0xDC00...0xDFFF).contains(low) else {
                            throw SyntaxError(problem: "invalid trailing surrogate in \\u escape", offset: escapeStart)
                        }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00...0xDFFF).contains(code) {
                        throw SyntaxError(problem: "lone trailing surrogate in \\u escape", offset: escapeStart)
                    }
                    guard let scalar = Unicode.Scalar(code) else {
                        throw SyntaxError(problem: "invalid code point in \\u escape", offset: escapeStart)
                    }
                    scratch.append(contentsOf: Array(String(scalar).utf8))
                default:
                    throw SyntaxError(problem: "invalid escape sequence", offset: escapeStart)
                }
                runStart = position
            }
        }
    }
}
