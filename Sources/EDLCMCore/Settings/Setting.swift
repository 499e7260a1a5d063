import Foundation

/// A value a setting can hold: written as a flag's argument, and stored in JSON and YAML files.
public protocol SettingValue: Codable, Sendable, Equatable {
    /// Parses a command-line argument ("8/255", "edlcm", "true"); nil when the text is not a value.
    init?(argument: String)
    /// The argument as a person writes it (the inverse of ``init(argument:)``), for help texts.
    var argument: String { get }
    /// What help shows in place of the value: "<n>", "<x>" or the list of choices.
    static var valueHelp: String { get }
    /// The values a person may write, when there is a short list of them (for error messages).
    static var choices: [String]? { get }
}

extension SettingValue {
    public static var choices: [String]? { nil }
}

/// A rule a setting's value must follow, with the words that say what is wrong.
public struct Check<Value>: Sendable {
    /// The problem with `value` ("must be at least 1"), or nil when it is fine.
    public let problem: @Sendable (Value) -> String?

    public init(_ problem: @escaping @Sendable (Value) -> String?) {
        self.problem = problem
    }
}

extension Check where Value: Comparable & Sendable {
    /// value ≥ `minimum`.
    public static func atLeast(_ minimum: Value) -> Check {
        Check { $0 >= minimum ? nil : "must be at least \(minimum)" }
    }

    /// value in `range`.
    public static func within(_ range: ClosedRange<Value>) -> Check {
        Check { range.contains($0) ? nil : "must be in \(range.lowerBound)...\(range.upperBound)" }
    }
}

extension Check where Value == Double {
    /// A finite value > 0.
    public static let positive = Check { $0 > 0 && $0.isFinite ? nil : "must be a positive number" }
    /// A finite value ≥ 0.
    public static let nonNegative = Check { $0 >= 0 && $0.isFinite ? nil : "must be ≥ 0" }
    /// A value in (0, 1].
    public static let unitInterval = Check { $0 > 0 && $0 <= 1 ? nil : "must be in (0, 1]" }
    /// A value in [0, 1] (a probability, a momentum, a mixing weight).
    public static let probability = Check { $0 >= 0 && $0 <= 1 ? nil : "must be in [0, 1]" }
    /// A value in [0, 1).
    public static let fraction = Check { $0 >= 0 && $0 < 1 ? nil : "must be in [0, 1)" }
}

extension Check {
    /// The check of the wrapped value, passing nil (an unset optional setting).
    public static func ifSet<Wrapped>(_ check: Check<Wrapped>) -> Check<Wrapped?> where Value == Wrapped? {
        Check<Wrapped?> { value in value.flatMap(check.problem) }
    }

    /// The check of every element of an array.
    public static func each<Element>(_ check: Check<Element>) -> Check<[Element]> where Value == [Element] {
        Check<[Element]> { values in values.lazy.compactMap(check.problem).first }
    }
}

/// One setting of a ``SettingsGroup``, declared once: its flag and file key (the property name in
/// kebab case unless `key` names another), its default (the property's initial value), its help
/// and its check. Everything else (the flag, the config-file key, the value in `config.json`, the
/// help line, the validation message) is derived from this declaration.
///
///     @Setting("Epochs to train.", .atLeast(1)) public var epochs = 10
@propertyWrapper
public struct Setting<Value: SettingValue>: @unchecked Sendable {
    /// The value, in a box that copies on write, so that a settings group decoded by
    /// ``SettingsGroup`` can fill a fresh instance's boxes and still behave as a value.
    private var box: Box
    let declaration: Declaration

    final class Box {
        var value: Value
        init(_ value: Value) { self.value = value }
    }

    struct Declaration {
        let key: String?
        let help: String
        let defaultText: String?
        let check: Check<Value>?
    }

    /// - Parameters:
    ///   - help: one sentence for `--help`, without the default.
    ///   - check: the rule the value must follow (nil: any value of the type).
    ///   - key: the flag and file key, when it is not the property name in kebab case.
    ///   - defaultText: what help says for the default, when the value itself would not say it
    ///     (an optional setting's "all" or "the dataset's").
    public init(wrappedValue: Value, _ help: String, _ check: Check<Value>? = nil, key: String? = nil, defaultText: String? = nil)
    {
        box = Box(wrappedValue)
        declaration = Declaration(key: key, help: help, defaultText: defaultText, check: check)
    }

    public var wrappedValue: Value {
        get { box.value }
        set {
            if !isKnownUniquelyReferenced(&box) { box = Box(newValue) } else { box.value = newValue }
        }
    }
}

/// What ``SettingsGroup`` needs of a ``Setting`` without knowing its value type.
protocol AnySetting {
    var declaredKey: String? { get }
    var help: String { get }
    var defaultText: String? { get }
    var valueHelp: String { get }
    var choices: [String]? { get }
    var isBoolean: Bool { get }
    var isList: Bool { get }
    var current: JSONValue { get }
    var currentArgument: String { get }
    var problem: String? { get }
    /// Replaces the value in place (in the shared box: only on a fresh instance being decoded).
    func assign(_ value: JSONValue) throws
    /// Replaces the value in place with `other`'s, a setting of the same type.
    func copyValue(from other: any AnySetting)
    /// Parses a flag's argument into the JSON of a value; nil when the text is not a value.
    func parse(_ argument: String) -> JSONValue?
}

extension Setting: AnySetting {
    var declaredKey: String? { declaration.key }
    var help: String { declaration.help }
    var defaultText: String? { declaration.defaultText }
    var valueHelp: String { Value.valueHelp }
    var choices: [String]? { Value.choices }
    var isBoolean: Bool { Value.self == Bool.self }
    var isList: Bool { Value.self is any ListSettingValue.Type }
    var current: JSONValue { JSONValue(encoding: box.value) }
    var currentArgument: String { box.value.argument }
    var problem: String? { declaration.check?.problem(box.value) }

    func assign(_ value: JSONValue) throws {
        do {
            box.value = try value.decoded(as: Value.self)
        } catch {
            // A file may write a value as its flag argument would be written ("8/255", "all"), or a
            // list with such elements ([0.05, 8/255]): parsed as the flag's comma-separated argument.
            let text: String?
            switch value {
            case let .string(string): text = string
            case let .array(elements):
                let parts = elements.map { element -> String? in
                    switch element {
                    case let .string(string): string.contains(",") ? nil : string
                    case let .number(number): "\(number)"
                    case let .integer(integer): "\(integer)"
                    default: nil
                    }
                }
                text = parts.contains(nil) ? nil : parts.map { $0! }.joined(separator: ",")
            default: text = nil
            }
            guard let text, let parsed = Value(argument: text) else { throw error }
            box.value = parsed
        }
    }

    func parse(_ argument: String) -> JSONValue? {
        Value(argument: argument).map { JSONValue(encoding: $0) }
    }

    func copyValue(from other: any AnySetting) {
        box.value = (other as! Setting<Value>).box.value
    }
}

// MARK: - Value types

extension Int: SettingValue {
    public init?(argument: String) { self.init(argument.trimmingCharacters(in: .whitespaces)) }
    public var argument: String { String(self) }
    public static var valueHelp: String { "<n>" }
}

extension UInt64: SettingValue {
    public init?(argument: String) { self.init(argument.trimmingCharacters(in: .whitespaces)) }
    public var argument: String { String(self) }
    public static var valueHelp: String { "<n>" }
}

extension Double: SettingValue {
    /// A decimal number or a fraction like 8/255.
    public init?(argument: String) {
        let parts = argument.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let numerator = Double(parts[0]), let denominator = Double(parts[1]), denominator != 0 {
            self = numerator / denominator
        } else if parts.count == 1, let value = Double(argument) {
            self = value
        } else {
            return nil
        }
    }

    public var argument: String { String(format: "%g", self) }
    public static var valueHelp: String { "<x>" }
}

extension String: SettingValue {
    public init?(argument: String) { self = argument }
    public var argument: String { self }
    public static var valueHelp: String { "<text>" }
}

extension Bool: SettingValue {
    public init?(argument: String) {
        switch argument.lowercased() {
        case "true", "yes", "on": self = true
        case "false", "no", "off": self = false
        default: return nil
        }
    }

    public var argument: String { self ? "true" : "false" }
    public static var valueHelp: String { "true|false" }
    public static var choices: [String]? { ["true", "false"] }
}

extension Optional: SettingValue where Wrapped: SettingValue {
    /// "default" (or "all") for nil, else the wrapped value.
    public init?(argument: String) {
        if argument == "default" || argument == "all" {
            self = .none
        } else if let value = Wrapped(argument: argument) {
            self = .some(value)
        } else {
            return nil
        }
    }

    public var argument: String { map(\.argument) ?? "default" }
    public static var valueHelp: String { Wrapped.valueHelp }
    public static var choices: [String]? { Wrapped.choices }
}

/// An array setting: several arguments after its flag, or one comma-separated argument.
protocol ListSettingValue {}

extension Array: ListSettingValue where Element: SettingValue {}
extension Optional: ListSettingValue where Wrapped: ListSettingValue {}

extension Array: SettingValue where Element: SettingValue {
    /// Comma-separated values; empty parts are skipped.
    public init?(argument: String) {
        var values: [Element] = []
        for part in argument.split(separator: ",") {
            let text = part.trimmingCharacters(in: .whitespaces)
            guard !text.isEmpty else { continue }
            guard let value = Element(argument: text) else { return nil }
            values.append(value)
        }
        self = values
    }

    public var argument: String { map(\.argument).joined(separator: ",") }
    public static var valueHelp: String { Element.valueHelp + " …" }
    public static var choices: [String]? { Element.choices }
}

/// An enumeration whose raw values are what a person writes.
public protocol SettingChoice: SettingValue, RawRepresentable, CaseIterable where RawValue == String {}

extension SettingChoice {
    public init?(argument: String) { self.init(rawValue: argument.lowercased()) }
    public var argument: String { rawValue }
    public static var valueHelp: String { "<" + allCases.map(\.rawValue).joined(separator: "|") + ">" }
    public static var choices: [String]? { allCases.map(\.rawValue) }
}
