import Foundation

/// A struct of ``Setting``s (and nested groups, whose settings sit beside its own): the settings of
/// one concern, shared by every command and config that needs them. The group is `Codable` as one
/// flat object keyed by the settings' keys (nested groups flattened into it), so that a `--config`
/// file, `config.json` and the flags use the same keys; it validates every setting's check and
/// then ``validateTogether()``; its help lines come from the declarations.
///
/// A conforming type declares its settings as `@Setting` properties (and nested groups as plain
/// properties) and an empty `init()`; it writes no coding keys, decoder, validation messages or
/// help by hand.
public protocol SettingsGroup: Codable, Sendable, Equatable {
    /// Every setting at its default.
    init()
    /// Rules that involve several settings (a setting's own rule belongs in its ``Check``).
    ///
    /// - Throws: ``EDLCMError`` naming the flags at fault.
    func validateTogether() throws
    /// For a group with a preset among its settings: `base` with the chosen preset's values, which
    /// a file and flags then override (``resolve(file:arguments:over:)`` starts from it); nil for a
    /// group without presets.
    func presetBase(over base: Self) -> Self?
}

/// A group of settings that cannot change a result: how many threads run, where the data are read
/// from. Resuming a run, an evaluation's fingerprint and a study's check of its finished runs ignore
/// them (``SettingsGroup/resultDeciding``), declared here once by conforming the group.
public protocol ResultNeutralSettings: SettingsGroup {}

extension SettingsGroup {
    /// The keys of the settings inside nested ``ResultNeutralSettings`` groups.
    public static var resultNeutralKeys: Set<String> {
        var keys = Set<String>()
        func collect(_ value: Any, neutral: Bool) {
            for child in Mirror(reflecting: value).children {
                if let setting = child.value as? any AnySetting, neutral {
                    let label = child.label.map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 } ?? ""
                    keys.insert(setting.declaredKey ?? kebabCase(label))
                } else if child.value is any SettingsGroup {
                    collect(child.value, neutral: neutral || child.value is any ResultNeutralSettings)
                }
            }
        }
        collect(Self(), neutral: Self.self is any ResultNeutralSettings.Type)
        return keys
    }

    /// The flat object without the settings that cannot change a result.
    public var resultDeciding: [String: JSONValue] { flattened.filter { !Self.resultNeutralKeys.contains($0.key) } }
}

extension SettingsGroup {
    public func validateTogether() throws {}
    public func presetBase(over base: Self) -> Self? { nil }

    /// The settings of this group and its nested groups, in declaration order, keyed by flag.
    var settings: [(key: String, setting: any AnySetting)] {
        var result: [(key: String, setting: any AnySetting)] = []
        func collect(_ value: Any) {
            for child in Mirror(reflecting: value).children {
                if let setting = child.value as? any AnySetting {
                    let label = child.label.map { $0.hasPrefix("_") ? String($0.dropFirst()) : $0 } ?? ""
                    result.append((setting.declaredKey ?? kebabCase(label), setting))
                } else if child.value is any SettingsGroup {
                    collect(child.value)
                }
            }
        }
        collect(self)
        return result
    }

    /// The settings as one flat JSON object; unset optional settings are left out.
    public var flattened: [String: JSONValue] {
        var object: [String: JSONValue] = [:]
        for (key, setting) in settings {
            let value = setting.current
            if value != .null { object[key] = value }
        }
        return object
    }

    /// Checks every setting against its rule, then ``validateTogether()``.
    ///
    /// - Throws: ``EDLCMError`` "--KEY must …, got VALUE" for the first setting at fault.
    public func validate() throws {
        for (key, setting) in settings {
            if let problem = setting.problem {
                let value = setting.currentArgument
                throw EDLCMError("--\(key) \(problem), got \(value.isEmpty ? "\"\"" : value)")
            }
        }
        try validateTogether()
    }

    /// These settings with `values` (keyed by flag) put over them.
    ///
    /// - Parameter place: where a key was written (its line in a file), for error messages.
    /// - Throws: ``EDLCMError`` "unknown key 'K' (did you mean 'L'?)" or "wrong type at 'K': …".
    public func merging(_ values: [String: JSONValue], place: (String) -> String = { _ in "" }) throws -> Self {
        let result = Self()
        let own = settings
        let fresh = Dictionary(uniqueKeysWithValues: result.settings.map { ($0.key, $0.setting) })
        for (key, setting) in own { fresh[key]!.copyValue(from: setting) }
        for key in values.keys.sorted() {
            guard let setting = fresh[key] else {
                throw EDLCMError("\(place(key))unknown key '\(key)'\(suggestion(for: key, among: own.map(\.key)))")
            }
            do { try setting.assign(values[key]!) } catch {
                let expected = setting.choices.map { "one of \($0.joined(separator: ", "))" } ?? "\(setting.valueHelp)"
                throw EDLCMError("\(place(key))wrong type at '\(key)': expected \(expected), got \(values[key]!.compactText)")
            }
        }
        return result
    }

    /// Decodes the flat object; keys that are absent keep their defaults.
    public init(from decoder: any Decoder) throws {
        let object = try [String: JSONValue](from: decoder)
        self = try Self().merging(object)
    }

    /// Encodes the flat object, with an explicit null for an unset optional whose default is set
    /// (`--samples all` where the default is 500): left out, it would read back as its default.
    public func encode(to encoder: any Encoder) throws {
        var object = flattened
        let defaults = Dictionary(uniqueKeysWithValues: Self().settings.map { ($0.key, $0.setting.current) })
        for (key, setting) in settings where setting.current == .null && defaults[key] != .null { object[key] = .null }
        try object.encode(to: encoder)
    }

    public static func == (lhs: Self, rhs: Self) -> Bool {
        lhs.flattened == rhs.flattened
    }

    /// Help for every setting: "--key <value>" and, indented and wrapped to `width` columns, its
    /// help and default.
    public static func helpText(width: Int = 79) -> String {
        Self().settings.map { key, setting in
            let name = setting.isBoolean ? "--[no-]\(key)" : "--\(key) \(setting.valueHelp)"
            let shown = setting.defaultText ?? (setting.current == .null ? nil : setting.currentArgument)
            let sentence = setting.help.hasSuffix(".") ? String(setting.help.dropLast()) : setting.help
            let text = sentence + (shown.map { " (default: \($0))" } ?? "") + "."
            return "  \(name)\n" + wrapped(text, width: width, indent: 6)
        }.joined(separator: "\n")
    }
}

/// `text` broken into lines of at most `width` columns at spaces, each indented by `indent`.
func wrapped(_ text: String, width: Int, indent: Int) -> String {
    let margin = String(repeating: " ", count: indent)
    var lines: [String] = []
    var line = ""
    for word in text.split(separator: " ") {
        if !line.isEmpty, margin.count + line.count + 1 + word.count > width {
            lines.append(margin + line)
            line = ""
        }
        line += (line.isEmpty ? "" : " ") + word
    }
    if !line.isEmpty { lines.append(margin + line) }
    return lines.joined(separator: "\n")
}

/// " (did you mean 'PREFIX K'?)" when a known key K is within two edits of `key`.
package func suggestion(for key: String, among known: [String], prefix: String = "") -> String {
    let closest = known.min { editDistance($0, key) < editDistance($1, key) }
    return closest.flatMap { editDistance($0, key) <= 2 ? " (did you mean '\(prefix)\($0)'?)" : nil } ?? ""
}

/// `camelCase` as `kebab-case` (`trsLambdaA` → `trs-lambda-a`).
func kebabCase(_ name: String) -> String {
    var result = ""
    for character in name {
        if character.isUppercase {
            result += "-" + character.lowercased()
        } else {
            result.append(character)
        }
    }
    return result
}

/// The Levenshtein distance, for "did you mean" suggestions.
func editDistance(_ a: String, _ b: String) -> Int {
    let a = Array(a), b = Array(b)
    var previous = Array(0...b.count)
    for i in 1...max(a.count, 1) where !a.isEmpty {
        var current = [i] + Array(repeating: 0, count: b.count)
        for j in 1...max(b.count, 1) where !b.isEmpty {
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1))
        }
        previous = current
    }
    return previous[b.count]
}

/// Settings that passed their checks. The only ways to get one are ``SettingsGroup/validated()``
/// and ``SettingsGroup/resolve(file:arguments:over:)``, so code that takes one does not check again:
/// every setting is validated once, where it enters (flags, a file, or a library caller).
@dynamicMemberLookup
public struct Validated<Settings: SettingsGroup>: Sendable, Equatable {
    public let settings: Settings

    public subscript<Value>(dynamicMember keyPath: KeyPath<Settings, Value>) -> Value {
        settings[keyPath: keyPath]
    }

    /// Wraps settings derived from validated ones by rules that keep them valid (within the module only).
    package init(derived settings: Settings) {
        self.settings = settings
    }
}

extension SettingsGroup {
    /// These settings, checked (``validate()``).
    ///
    /// - Throws: ``EDLCMError`` naming the first setting at fault.
    public func validated() throws -> Validated<Self> {
        try validate()
        return Validated(derived: self)
    }
}
