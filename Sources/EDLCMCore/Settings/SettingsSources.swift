import Foundation
import Yams

/// A settings file (`--config`, or a study file's parts): a flat object of settings keyed by
/// flag, with the line each key was written on.
public struct SettingsFile: Sendable {
    /// The keys and their values.
    public var values: [String: JSONValue]
    /// The 1-based line of each top-level key.
    public var lines: [String: Int]
    /// How errors name the file ("--config PATH").
    public var label: String

    /// "LABEL: line N: " for a key (the label alone when the line is unknown).
    public func place(_ key: String) -> String {
        lines[key].map { "\(label): line \($0): " } ?? "\(label): "
    }

    /// Reads a JSON (`.json`) or YAML file within ``DocumentLimits/settings``.
    ///
    /// - Throws: ``EDLCMError`` naming the file (and the line) when it cannot be read, exceeds a
    ///   limit, is not JSON/YAML, or is not an object of settings.
    public init(path: String, label: String? = nil) throws {
        let label = label ?? path
        let url = URL(fileURLWithPath: path)
        let format = DocumentFormat(path: path)
        let data = try readFile(url, label: label, maxBytes: DocumentLimits.settings.maxBytes)
        try self.init(data: data, format: format, label: label)
    }

    /// Parses settings held in memory (see ``init(path:label:)``).
    public init(data: Data, format: DocumentFormat, label: String) throws {
        self.label = label
        let value = try Document.value(from: data, format: format, limits: .settings, label: label)
        guard case let .object(object) = value else {
            throw EDLCMError("\(label): expected an object of settings (key: value lines), got \(value.compactText.prefix(40))")
        }
        values = object
        lines = Document.topLevelKeyLines(data, format: format)
    }
}

extension SettingsGroup {
    /// The settings a command runs with: `base` (the defaults, or what a run recorded), then the
    /// file (if any), then the flags, validated.
    ///
    /// - Parameters:
    ///   - file: a `--config` file's path.
    ///   - arguments: the setting flags as given (`--epochs 3 --eps 0.1 0.2 --no-checks`).
    /// - Throws: ``EDLCMError`` for an unreadable file, an unknown key or flag, a value of the
    ///   wrong type, or a value its check refuses.
    public static func resolve(file: String?, arguments: [String], over base: Self = Self()) throws -> Validated<Self> {
        let loaded = try file.map { try SettingsFile(path: $0, label: "--config \($0)") }
        func apply(over start: Self) throws -> Self {
            let settings = try loaded.map { try start.merging($0.values, place: $0.place) } ?? start
            return try settings.applying(arguments: arguments)
        }
        var settings = try apply(over: base)
        // A preset chosen in the file or the flags replaces the defaults it covers; the file and
        // the flags then apply over it.
        if let presetBase = settings.presetBase(over: base) { settings = try apply(over: presetBase) }
        return try settings.validated()
    }

    /// These settings with the flags in `arguments` applied in order (a later flag wins).
    ///
    /// A flag is `--key VALUE` or `--key=VALUE`; a true/false setting also `--key` and `--no-key`;
    /// a list setting takes every argument up to the next flag, each possibly comma-separated.
    ///
    /// - Throws: ``EDLCMError`` "unknown option '--K'", "'V' is invalid for '--K': …", "--K needs a value".
    public func applying(arguments: [String]) throws -> Self {
        let declared = Dictionary(uniqueKeysWithValues: settings.map { ($0.key, $0.setting) })
        var values: [String: JSONValue] = [:]
        var index = 0
        while index < arguments.count {
            let token = arguments[index]
            index += 1
            guard token.hasPrefix("--"), token.count > 2 else {
                throw EDLCMError("unexpected argument '\(token)'")
            }
            var name = String(token.dropFirst(2))
            var inline: String?
            if let equals = name.firstIndex(of: "=") {
                inline = String(name[name.index(after: equals)...])
                name = String(name[..<equals])
            }
            var negated = false
            if declared[name] == nil, name.hasPrefix("no-"), declared[String(name.dropFirst(3))]?.isBoolean == true {
                name = String(name.dropFirst(3))
                negated = true
            }
            guard let setting = declared[name] else {
                throw EDLCMError("unknown option '--\(name)'\(suggestion(for: name, among: settings.map(\.key), prefix: "--"))")
            }
            func parsed(_ text: String) throws -> JSONValue {
                guard let value = setting.parse(text) else {
                    let expected = setting.choices.map { "one of \($0.joined(separator: ", "))" } ?? setting.valueHelp
                    throw EDLCMError("the value '\(text)' is invalid for '--\(name)': expected \(expected)")
                }
                return value
            }
            if setting.isBoolean {
                if negated {
                    guard inline == nil else { throw EDLCMError("--no-\(name) takes no value") }
                    values[name] = .bool(false)
                } else if let inline {
                    values[name] = try parsed(inline)
                } else if index < arguments.count, Bool(argument: arguments[index]) != nil {
                    values[name] = try parsed(arguments[index])
                    index += 1
                } else {
                    values[name] = .bool(true)
                }
            } else if setting.isList {
                var texts = inline.map { [$0] } ?? []
                while inline == nil, index < arguments.count, !arguments[index].hasPrefix("--") {
                    texts.append(arguments[index])
                    index += 1
                }
                guard !texts.isEmpty else { throw EDLCMError("--\(name) needs at least one value") }
                var elements: [JSONValue] = []
                for text in texts {
                    guard case let .array(part) = try parsed(text) else { continue }
                    elements += part
                }
                values[name] = .array(elements)
            } else {
                guard let text = inline ?? (index < arguments.count ? arguments[index] : nil) else {
                    throw EDLCMError("--\(name) needs a value")
                }
                if inline == nil { index += 1 }
                values[name] = try parsed(text)
            }
        }
        return try merging(values)
    }
}
