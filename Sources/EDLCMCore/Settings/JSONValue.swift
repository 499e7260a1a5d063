import Foundation

/// Any JSON value: settings on their way between flags, files and their typed values, and settings
/// of different types (each attack's configuration) embedded in one result file.
public enum JSONValue: Codable, Equatable, Sendable {
    case null
    case bool(Bool)
    /// A number written without a fraction or exponent that fits 64 bits (kept exact: seeds).
    case integer(Int64)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int64.self) {
            self = .integer(value)
        } else if let value = try? container.decode(Double.self) {
            self = .number(value)
        } else if let value = try? container.decode(String.self) {
            self = .string(value)
        } else if let value = try? container.decode([JSONValue].self) {
            self = .array(value)
        } else {
            self = .object(try container.decode([String: JSONValue].self))
        }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case let .bool(value): try container.encode(value)
        case let .integer(value): try container.encode(value)
        case let .number(value): try container.encode(value)
        case let .string(value): try container.encode(value)
        case let .array(value): try container.encode(value)
        case let .object(value): try container.encode(value)
        }
    }

    /// A compact one-line rendering with sorted keys, for Markdown reports.
    public var compactText: String {
        (try? JSONStyle.line.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
    }

    /// A value's JSON (non-finite numbers as the strings "inf", "-inf" and "nan").
    public init<Value: Encodable>(encoding value: Value) {
        // Encoding a settings value or a configuration of numbers, strings and arrays cannot fail.
        let data = try! JSONStyle.line.encode(value)
        self = try! JSONDecoder().decode(JSONValue.self, from: data)
    }

    /// This JSON as a value of `type`.
    ///
    /// - Throws: `DecodingError` when it does not hold such a value.
    public func decoded<Value: Decodable>(as type: Value.Type) throws -> Value {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(
            positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(type, from: JSONEncoder().encode(self))
    }
}
