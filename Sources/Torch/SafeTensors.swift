import Foundation

/// Reads and writes the Hugging Face safetensors format as raw bytes.
///
/// A safetensors file is laid out as:
///
/// 1. 8 bytes: little-endian `UInt64` `N`, the header length;
/// 2. `N` bytes: a UTF-8 JSON object mapping each tensor name to
///    `{"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}`
///    (offsets relative to the start of the byte buffer, `end` exclusive), plus an
///    optional `"__metadata__"` key mapping strings to strings;
/// 3. the byte buffer, holding every tensor's data little-endian and row-major.
///
/// This layer deals in bytes only: an ``Entry`` carries its element type, shape and
/// raw little-endian data; converting to and from tensors happens elsewhere.
/// Every failure is reported as a ``TorchError`` whose one-line message names the
/// file (or the `source` given to ``decode(_:source:)``), the tensor and the byte
/// offsets involved.
public enum SafeTensors {
    /// The largest header length accepted, in bytes (the reference implementation's limit).
    public static let maxHeaderLength = 100_000_000

    /// The reserved header key under which free-form string metadata is stored.
    public static let metadataKey = "__metadata__"

    /// An element type that can be stored in a safetensors file.
    ///
    /// The raw value is the spelling used in the file's `"dtype"` field.
    public enum DType: String, Sendable, CaseIterable {
        /// IEEE 754 binary64.
        case float64 = "F64"
        /// IEEE 754 binary32.
        case float32 = "F32"
        /// IEEE 754 binary16.
        case float16 = "F16"
        /// bfloat16 (the upper 16 bits of a binary32).
        case bfloat16 = "BF16"
        /// Signed 64-bit integer.
        case int64 = "I64"
        /// Signed 32-bit integer.
        case int32 = "I32"
        /// Signed 16-bit integer.
        case int16 = "I16"
        /// Signed 8-bit integer.
        case int8 = "I8"
        /// Unsigned 8-bit integer.
        case uint8 = "U8"
        /// Boolean stored as one byte (0 or 1).
        case bool = "BOOL"

        /// The size of one element of this type, in bytes.
        public var byteSize: Int {
            switch self {
            case .float64, .int64: return 8
            case .float32, .int32: return 4
            case .float16, .bfloat16, .int16: return 2
            case .int8, .uint8, .bool: return 1
            }
        }
    }

    /// One tensor: its element type, shape and raw little-endian, row-major bytes.
    public struct Entry: Sendable, Equatable {
        /// The element type.
        public var dtype: DType
        /// The dimensions, outermost first; `[]` is a scalar (one element).
        public var shape: [Int]
        /// The raw bytes: exactly `shape.reduce(1, *) * dtype.byteSize` of them.
        public var data: [UInt8]

        /// Creates an entry from its element type, shape and raw bytes.
        ///
        /// The entry is not validated here; ``SafeTensors/encode(_:)`` checks that
        /// `data` holds exactly `shape.reduce(1, *) * dtype.byteSize` bytes.
        ///
        /// - Parameters:
        ///   - dtype: The element type.
        ///   - shape: The dimensions, outermost first; `[]` for a scalar.
        ///   - data: The little-endian, row-major element bytes.
        public init(dtype: DType, shape: [Int], data: [UInt8]) {
            self.dtype = dtype
            self.shape = shape
            self.data = data
        }

        /// The number of elements implied by ``shape``, or `nil` if a dimension is
        /// negative or the product overflows `Int`.
        public var elementCount: Int? {
            SafeTensors.elementCount(of: shape)
        }
    }

    /// The whole content of a safetensors file: named tensors plus string metadata.
    public struct Archive: Sendable, Equatable {
        /// The tensors, keyed by name.
        public var tensors: [String: Entry]
        /// The `"__metadata__"` map; empty when the file has none.
        public var metadata: [String: String]

        /// Creates an archive from tensors and metadata.
        ///
        /// - Parameters:
        ///   - tensors: The tensors, keyed by name.
        ///   - metadata: Free-form string metadata; written only when non-empty.
        public init(tensors: [String: Entry] = [:], metadata: [String: String] = [:]) {
            self.tensors = tensors
            self.metadata = metadata
        }
    }

    // MARK: - Shared helpers

    /// Returns the product of `shape`, or `nil` if a dimension is negative or it overflows.
    static func elementCount(of shape: [Int]) -> Int? {
        var count = 1
        for dim in shape {
            guard dim >= 0 else { return nil }
            let (product, overflow) = count.multipliedReportingOverflow(by: dim)
            guard !overflow else { return nil }
            count = product
        }
        return count
    }

    /// Returns `shape` spelled like the JSON header, e.g. `[2, 3]`.
    static func describe(shape: [Int]) -> String {
        "[" + shape.map(String.init).joined(separator: ", ") + "]"
    }

    /// Returns `text` in double quotes with control characters escaped, so messages stay one line.
    static func quoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 || scalar.value == 0x7F
                    || scalar.value == 0x2028 || scalar.value == 0x2029
                {
                    out += "\\u{" + String(scalar.value, radix: 16) + "}"
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    /// Orders strings by their UTF-8 bytes, which is stable across platforms and locales.
    static func utf8Precedes(_ lhs: String, _ rhs: String) -> Bool {
        lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
    }
}
