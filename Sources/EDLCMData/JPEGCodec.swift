import CJPEG
import EDLCMCore

/// JPEG decoding and encoding through the CJPEG wrapper around libjpeg-turbo.
enum JPEGCodec {
    /// A decoded JPEG: `height` rows of `width` pixels, `channels` (1 or 3) samples interleaved.
    struct Image: Equatable {
        let width: Int
        let height: Int
        let channels: Int
        let pixels: [UInt8]
    }

    private static let errorCapacity = 512

    /// Decodes JPEG data.
    ///
    /// - Parameter name: the file the data came from, for error messages.
    /// - Throws: `EDLCMError` naming `name` when libjpeg cannot decode the data.
    static func decode(_ data: [UInt8], name: String) throws -> Image {
        var message = [CChar](repeating: 0, count: errorCapacity)
        var output: UnsafeMutablePointer<UInt8>?
        var width: Int32 = 0
        var height: Int32 = 0
        var channels: Int32 = 0
        let status = data.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                cjpeg_decode(
                    input.baseAddress, input.count, &output, &width, &height, &channels,
                    text.baseAddress, text.count)
            }
        }
        defer { cjpeg_free(output) }
        guard status == 0, let output else {
            throw EDLCMError("\(name): cannot decode JPEG: \(text(message))")
        }
        guard width > 0, height > 0, channels == 1 || channels == 3,
            let size = checkedProduct([Int(width), Int(height), Int(channels)])
        else {
            throw EDLCMError("\(name): cannot decode JPEG: unexpected decoder output")
        }
        let pixels = [UInt8](UnsafeBufferPointer(start: output, count: size))
        return Image(width: Int(width), height: Int(height), channels: Int(channels), pixels: pixels)
    }

    /// Encodes interleaved pixels (1 or 3 channels, rows top to bottom) as a JPEG.
    static func encode(_ pixels: [UInt8], width: Int, height: Int, channels: Int, quality: Int = 95)
        throws -> [UInt8]
    {
        guard let size = checkedProduct([width, height, channels]), size == pixels.count,
            let width32 = Int32(exactly: width), let height32 = Int32(exactly: height),
            let channels32 = Int32(exactly: channels), let quality32 = Int32(exactly: quality)
        else {
            throw EDLCMError(
                "JPEG encoder: \(pixels.count) bytes do not make a \(width)×\(height)×\(channels) image")
        }
        var message = [CChar](repeating: 0, count: errorCapacity)
        var output: UnsafeMutablePointer<UInt8>?
        var outputSize = 0
        let status = pixels.withUnsafeBufferPointer { input in
            message.withUnsafeMutableBufferPointer { text in
                cjpeg_encode(
                    input.baseAddress, width32, height32, channels32, quality32, &output,
                    &outputSize, text.baseAddress, text.count)
            }
        }
        defer { cjpeg_free(output) }
        guard status == 0, let output else {
            throw EDLCMError("JPEG encoder: \(text(message))")
        }
        return [UInt8](UnsafeBufferPointer(start: output, count: outputSize))
    }

    private static func text(_ message: [CChar]) -> String {
        let bytes = message.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        let string = String(decoding: bytes, as: UTF8.self)
        return string.isEmpty ? "unknown libjpeg error" : string
    }
}
