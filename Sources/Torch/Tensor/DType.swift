/// The element type of a tensor; raw values are libtorch's `c10::ScalarType` codes.
public enum DType: Int32, Sendable, CaseIterable, Codable, CustomStringConvertible {
    case uint8 = 0
    case int8 = 1
    case int16 = 2
    case int32 = 3
    case int64 = 4
    case float16 = 5
    case float32 = 6
    case float64 = 7
    case bool = 11
    case bfloat16 = 15

    /// Bytes per element.
    public var byteSize: Int {
        switch self {
        case .uint8, .int8, .bool: 1
        case .int16, .float16, .bfloat16: 2
        case .int32, .float32: 4
        case .int64, .float64: 8
        }
    }

    /// Whether the type holds floating-point values.
    public var isFloatingPoint: Bool {
        switch self {
        case .float16, .float32, .float64, .bfloat16: true
        default: false
        }
    }

    /// The name PyTorch prints (`torch.float32`).
    public var description: String {
        switch self {
        case .uint8: "torch.uint8"
        case .int8: "torch.int8"
        case .int16: "torch.int16"
        case .int32: "torch.int32"
        case .int64: "torch.int64"
        case .float16: "torch.float16"
        case .float32: "torch.float32"
        case .float64: "torch.float64"
        case .bool: "torch.bool"
        case .bfloat16: "torch.bfloat16"
        }
    }
}

/// A Swift scalar type that maps one to one onto a tensor element type.
public protocol TensorScalar: Sendable {
    /// The tensor element type with the same memory layout.
    static var dtype: DType { get }
}

extension Float: TensorScalar { public static var dtype: DType { .float32 } }
extension Double: TensorScalar { public static var dtype: DType { .float64 } }
extension Int64: TensorScalar { public static var dtype: DType { .int64 } }
extension Int: TensorScalar { public static var dtype: DType { .int64 } }
extension Int32: TensorScalar { public static var dtype: DType { .int32 } }
extension Int16: TensorScalar { public static var dtype: DType { .int16 } }
extension Int8: TensorScalar { public static var dtype: DType { .int8 } }
extension UInt8: TensorScalar { public static var dtype: DType { .uint8 } }
extension Bool: TensorScalar { public static var dtype: DType { .bool } }
