import CZlib
import EDLCMCore

/// gzip decompression and compression through zlib.
enum Gzip {
    /// Whether `bytes` starts with the gzip magic number 1f 8b.
    static func hasMagic(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b
    }

    /// Inflates gzip data (one or more concatenated members).
    ///
    /// - Parameters:
    ///   - name: the file the data came from, for error messages.
    ///   - maxBytes: the most bytes the data may inflate to (a small "gzip bomb" can inflate
    ///     to terabytes); inflating stops with an error as soon as the output passes it.
    /// - Throws: `EDLCMError` naming `name` when the data is empty, not gzip, corrupt,
    ///   truncated, followed by bytes that are not another gzip member, or inflates past `maxBytes`.
    static func decompress(_ input: [UInt8], name: String, maxBytes: Int = FileBytes.maxDatasetFileBytes) throws -> [UInt8] {
        guard !input.isEmpty else { throw EDLCMError("\(name): empty file, expected gzip data") }
        guard hasMagic(input) else {
            throw EDLCMError("\(name): not gzip data (no 1f 8b header)")
        }
        var stream = z_stream()
        guard czlib_inflate_init_gzip(&stream) == Z_OK else {
            throw EDLCMError("\(name): zlib could not start inflating")
        }
        defer { inflateEnd(&stream) }

        var output = [UInt8]()
        // The trailer's ISIZE (uncompressed size mod 2^32) is a hint only; cap what it reserves.
        if input.count >= 18 {
            let n = input.count
            let isize =
                Int(input[n - 4]) | Int(input[n - 3]) << 8 | Int(input[n - 2]) << 16
                | Int(input[n - 1]) << 24
            let cap = min(1 << 30, checkedProduct([input.count, 1032]) ?? (1 << 30))
            output.reserveCapacity(min(isize, cap))
        }
        let chunkSize = 1 << 18
        var chunk = [UInt8](repeating: 0, count: chunkSize)

        try input.withUnsafeBufferPointer { inputBuffer in
            guard let base = inputBuffer.baseAddress else { return }
            var fed = 0  // bytes handed to zlib so far
            while true {
                let (status, produced) = advance(
                    &stream, feeding: UnsafeMutablePointer(mutating: base), count: inputBuffer.count, fed: &fed,
                    into: &chunk
                ) { stream, _ in inflate(&stream, Z_NO_FLUSH) }
                guard output.count + produced <= maxBytes else {
                    throw EDLCMError("\(name): gzip data inflates to more than \(maxBytes) bytes, the limit for a dataset file")
                }
                output.append(contentsOf: chunk[0..<produced])
                let consumed = fed - Int(stream.avail_in)
                switch status {
                case Z_OK:
                    continue
                case Z_STREAM_END:
                    let remaining = inputBuffer.count - consumed
                    if remaining == 0 { return }
                    // Another member must follow (as gzip itself allows), or it is an error.
                    if remaining >= 2 && base[consumed] == 0x1f && base[consumed + 1] == 0x8b {
                        guard inflateReset(&stream) == Z_OK else {
                            throw EDLCMError("\(name): zlib could not restart inflating")
                        }
                        continue
                    }
                    throw EDLCMError(
                        "\(name): corrupt gzip data: \(remaining) stray bytes after the gzip stream")
                case Z_BUF_ERROR:
                    if stream.avail_in == 0 && fed == inputBuffer.count {
                        throw EDLCMError(
                            "\(name): truncated gzip data (stream ends after \(input.count) bytes "
                                + "without its end marker)")
                    }
                    throw EDLCMError("\(name): corrupt gzip data: inflate made no progress")
                case Z_MEM_ERROR:
                    throw EDLCMError("\(name): out of memory while inflating gzip data")
                default:
                    let detail = stream.msg.map { String(cString: $0) } ?? "zlib error \(status)"
                    throw EDLCMError("\(name): corrupt gzip data: \(detail)")
                }
            }
        }
        return output
    }

    /// Deflates `input` into a single gzip member (used to write fixtures).
    static func compress(_ input: [UInt8], level: Int32 = Z_DEFAULT_COMPRESSION) throws -> [UInt8] {
        var stream = z_stream()
        guard czlib_deflate_init_gzip(&stream, level) == Z_OK else {
            throw EDLCMError("gzip: zlib could not start deflating")
        }
        defer { deflateEnd(&stream) }
        var output = [UInt8]()
        let chunkSize = 1 << 16
        var chunk = [UInt8](repeating: 0, count: chunkSize)
        var storage = input
        if storage.isEmpty { storage = [0] }  // a valid pointer; avail_in stays 0 below
        let inputCount = input.count
        try storage.withUnsafeMutableBufferPointer { inputBuffer in
            guard let base = inputBuffer.baseAddress else { return }
            var fed = 0
            while true {
                let (status, produced) = advance(&stream, feeding: base, count: inputCount, fed: &fed, into: &chunk) {
                    stream, allFed in deflate(&stream, allFed ? Z_FINISH : Z_NO_FLUSH)
                }
                output.append(contentsOf: chunk[0..<produced])
                switch status {
                case Z_STREAM_END: return
                case Z_OK, Z_BUF_ERROR: continue
                default: throw EDLCMError("gzip: zlib deflate failed with status \(status)")
                }
            }
        }
        return output
    }

    /// One call of zlib's `inflate` or `deflate` (`call`, told whether the whole input has been
    /// handed over): hands zlib the next slice of the input (at most 4 GiB) once it has taken the
    /// last, lets it fill `chunk`, and returns its status and how many bytes of `chunk` it wrote.
    private static func advance(
        _ stream: inout z_stream, feeding base: UnsafeMutablePointer<UInt8>, count: Int, fed: inout Int,
        into chunk: inout [UInt8], _ call: (inout z_stream, _ allFed: Bool) -> Int32
    ) -> (status: Int32, produced: Int) {
        if stream.avail_in == 0 && fed < count {
            let n = min(count - fed, Int(UInt32.max))
            stream.next_in = base + fed
            stream.avail_in = UInt32(n)
            fed += n
        }
        let allFed = fed == count
        let status = chunk.withUnsafeMutableBufferPointer { buffer -> Int32 in
            stream.next_out = buffer.baseAddress
            stream.avail_out = UInt32(buffer.count)
            let status = call(&stream, allFed)
            stream.next_out = nil
            return status
        }
        return (status, chunk.count - Int(stream.avail_out))
    }
}
