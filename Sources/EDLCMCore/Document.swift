import CYaml
import Foundation
import Yams

/// Bounds on a structured text file (JSON, JSON Lines, YAML), checked before the file is parsed,
/// so that a hostile or broken file is one line of error, not a stack overflow or an exhausted
/// machine. The limits are far above any file the tool writes or a person writes by hand
/// (docs/reliability.md gives the sizes they were chosen against).
public struct DocumentLimits: Sendable, Equatable {
    /// The largest file, in bytes.
    public var maxBytes: Int
    /// The deepest nesting of arrays and objects (sequences and mappings).
    public var maxDepth: Int
    /// The most values (scalars, arrays, objects), YAML aliases counted as the values they expand to.
    public var maxValues: Int

    public init(maxBytes: Int, maxDepth: Int, maxValues: Int) {
        self.maxBytes = maxBytes
        self.maxDepth = maxDepth
        self.maxValues = maxValues
    }

    /// Files a person writes: `--config` files and study files (a real one is a few hundred bytes
    /// deep 3 and holds under 200 values). 10 000 values, not more: the fuzzer found that a file of
    /// 66 000 alias-expanded values takes seconds to decode (fuzz/regressions/config/).
    public static let settings = DocumentLimits(maxBytes: 4 << 20, maxDepth: 64, maxValues: 10_000)
    /// Files the tool writes and reads back: a run's `config.json` and `metrics.jsonl`, evaluation
    /// results and state files, analysis records (an evaluation of the 10 000 CIFAR test images
    /// with every attack is about 20 MB and 2 million values, nested 8 deep).
    public static let records = DocumentLimits(maxBytes: 1 << 30, maxDepth: 64, maxValues: 50_000_000)
}

/// The syntax of a structured text file.
public enum DocumentFormat: String, Sendable {
    case json = "JSON"
    case yaml = "YAML"

    /// JSON for a `.json` or `.jsonl` name, YAML for anything else (YAML is a superset of JSON).
    public init(path: String) {
        let suffix = URL(fileURLWithPath: path).pathExtension.lowercased()
        self = suffix == "json" || suffix == "jsonl" ? .json : .yaml
    }
}

/// Reading and decoding structured text files within ``DocumentLimits``: the one way the tool
/// parses JSON and YAML that it did not build itself in memory.
public enum Document {
    /// Reads the file at `url` within `limits.maxBytes` and decodes it.
    ///
    /// - Parameters:
    ///   - label: how errors name the file (for example "--config /path"); the path by default.
    ///   - configure: adjusts the JSON decoder (float strategies, for example).
    /// - Throws: ``EDLCMError`` "`label`: …" when the file cannot be read, exceeds a limit, is not
    ///   valid JSON/YAML, or does not decode (naming the key path).
    public static func read<Value: Decodable>(
        _ type: Value.Type, from url: URL, format: DocumentFormat? = nil, limits: DocumentLimits,
        label: String? = nil, configure: (JSONDecoder) -> Void = { _ in }
    ) throws -> Value {
        let label = label ?? url.path
        let data = try readFile(url, label: label, maxBytes: limits.maxBytes)
        return try decode(
            type, from: data, format: format ?? DocumentFormat(path: url.path), limits: limits,
            label: label, configure: configure)
    }

    /// Decodes `data` after checking it against `limits`.
    ///
    /// - Throws: ``EDLCMError`` "`label`: …" (see ``read(_:from:format:limits:label:configure:)``).
    public static func decode<Value: Decodable>(
        _ type: Value.Type, from data: Data, format: DocumentFormat, limits: DocumentLimits, label: String,
        configure: (JSONDecoder) -> Void = { _ in }
    ) throws -> Value {
        try labelled(label, format) {
            switch format {
            case .json:
                try checkJSON(checkedSize(data, limits), limits: limits)
                let decoder = JSONDecoder()
                configure(decoder)
                return try decoder.decode(type, from: data)
            case .yaml:
                // Through the same node-to-JSON conversion as settings files: Yams's own decoder
                // traps on overflowing base-60 integers (a fuzz finding, fuzz/regressions/config/).
                let text = try yamlText(checkedSize(data, limits), limits: limits)
                guard let node = try Yams.compose(yaml: text) else { throw EDLCMError("the file holds no value") }
                let decoder = JSONDecoder()
                configure(decoder)
                return try decoder.decode(type, from: JSONEncoder().encode(jsonValue(of: node)))
            }
        }
    }

    /// The JSON value of JSON or YAML text checked against `limits`. YAML scalars take the type
    /// YAML's own rules give them (an unquoted 3 is a number, "3" a string, yes a Boolean).
    ///
    /// - Throws: ``EDLCMError`` "`label`: …".
    public static func value(from data: Data, format: DocumentFormat, limits: DocumentLimits, label: String) throws -> JSONValue {
        switch format {
        case .json: return try decode(JSONValue.self, from: data, format: .json, limits: limits, label: label)
        case .yaml:
            return try labelled(label, format) {
                let text = try yamlText(checkedSize(data, limits), limits: limits)
                guard let node = try Yams.compose(yaml: text) else { throw EDLCMError("the file holds no value") }
                return try jsonValue(of: node)
            }
        }
    }

    private static func labelled<Result>(_ label: String, _ format: DocumentFormat, _ body: () throws -> Result) throws -> Result
    {
        do {
            return try body()
        } catch let error as DecodingError {
            throw EDLCMError("\(label): \(describeDecoding(error))")
        } catch let error as EDLCMError {
            throw EDLCMError("\(label): \(error.message)")
        } catch {
            let text = "\(error)".split(separator: "\n").joined(separator: " ")
            throw EDLCMError("\(label): not valid \(format.rawValue): \(text)")
        }
    }

    private static func checkedSize(_ data: Data, _ limits: DocumentLimits) throws -> Data {
        guard data.count <= limits.maxBytes else {
            throw EDLCMError("\(data.count) bytes, more than the limit of \(limits.maxBytes)")
        }
        guard !data.isEmpty else { throw EDLCMError("the file is empty") }
        return data
    }

    private static func yamlText(_ data: Data, limits: DocumentLimits) throws -> String {
        guard let text = String(data: data, encoding: .utf8) else { throw EDLCMError("not UTF-8 text") }
        try checkYAML(text, limits: limits)
        return text
    }

    /// A YAML node (within the limits already, so the recursion is bounded) as JSON.
    private static func jsonValue(of node: Node) throws -> JSONValue {
        switch node {
        case let .scalar(scalar):
            switch Tag.Name(rawValue: node.tag.description) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return yamlInteger(scalar.string).map(JSONValue.integer) ?? .string(scalar.string)
            case .float: return node.float.map(JSONValue.number) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case let .sequence(sequence):
            return .array(try sequence.map(jsonValue(of:)))
        case let .mapping(mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping {
                guard case let .scalar(name) = key else {
                    throw EDLCMError("line \((key.mark?.line).map { $0 } ?? 0): a key must be plain text")
                }
                guard object[name.string] == nil else {
                    throw EDLCMError("line \((key.mark?.line).map { $0 } ?? 0): the key '\(name.string)' is written twice")
                }
                object[name.string] = try jsonValue(of: value)
            }
            return .object(object)
        }
    }

    /// A YAML 1.1 integer (decimal, 0x hexadecimal, 0o or leading-0 octal, 0b binary, base 60 like
    /// 1:30, with `_` separators) as Int64; nil when it does not fit, so that the caller keeps the
    /// text. Yams's own conversion multiplies base-60 digits without overflow checks and traps.
    static func yamlInteger(_ text: String) -> Int64? {
        var digits = text.replacingOccurrences(of: "_", with: "")
        var negative = false
        if let sign = digits.first, sign == "-" || sign == "+" {
            negative = sign == "-"
            digits.removeFirst()
        }
        func signed(_ magnitude: Int64?) -> Int64? {
            guard let magnitude else { return nil }
            return negative ? (magnitude == Int64.min ? nil : -magnitude) : magnitude
        }
        if digits.contains(":") {
            var total: Int64 = 0
            for part in digits.split(separator: ":", omittingEmptySubsequences: false) {
                guard let value = Int64(part), value >= 0 else { return nil }
                let (shifted, overflowA) = total.multipliedReportingOverflow(by: 60)
                let (sum, overflowB) = shifted.addingReportingOverflow(value)
                if overflowA || overflowB { return nil }
                total = sum
            }
            return signed(total)
        }
        for (prefix, radix) in [("0x", 16), ("0o", 8), ("0b", 2)] where digits.hasPrefix(prefix) {
            return signed(Int64(digits.dropFirst(2), radix: radix))
        }
        if digits.count > 1, digits.hasPrefix("0") { return signed(Int64(digits.dropFirst(), radix: 8)) }
        return signed(Int64(digits))
    }

    /// The 1-based line of each key of the top-level object (empty when the text is not an object).
    public static func topLevelKeyLines(_ data: Data, format: DocumentFormat) -> [String: Int] {
        var lines: [String: Int] = [:]
        switch format {
        case .yaml:
            guard let text = String(data: data, encoding: .utf8), case let .mapping(mapping)? = try? Yams.compose(yaml: text)
            else { return [:] }
            for key in mapping.keys {
                if case let .scalar(name) = key, let mark = key.mark, lines[name.string] == nil { lines[name.string] = mark.line }
            }
        case .json:
            // Strings at depth 1 followed by ':' are the top-level keys.
            let bytes = [UInt8](data)
            var depth = 0, line = 1, index = 0
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") { line += 1 }
                if byte == UInt8(ascii: "{") || byte == UInt8(ascii: "[") { depth += 1 }
                if byte == UInt8(ascii: "}") || byte == UInt8(ascii: "]") { depth -= 1 }
                if byte == UInt8(ascii: "\"") {
                    let start = index + 1
                    var end = start, escaped = false
                    while end < bytes.count, escaped || bytes[end] != UInt8(ascii: "\"") {
                        escaped = !escaped && bytes[end] == UInt8(ascii: "\\")
                        if bytes[end] == UInt8(ascii: "\n") { line += 1 }
                        end += 1
                    }
                    var next = end + 1
                    while next < bytes.count, bytes[next] == UInt8(ascii: " ") || bytes[next] == UInt8(ascii: "\t") { next += 1 }
                    if depth == 1, next < bytes.count, bytes[next] == UInt8(ascii: ":"),
                        let key = try? JSONDecoder().decode(String.self, from: Data(bytes[(start - 1)...end])), lines[key] == nil
                    {
                        lines[key] = line
                    }
                    index = end
                }
                index += 1
            }
        }
        return lines
    }

    /// The 1-based line of every object key and array element, by path: "training", "training.epochs",
    /// "methods.1" (the second element), "methods.1.alpha". Call it on text that passed
    /// ``value(from:format:limits:label:)``: the walk's depth is bounded by those limits.
    public static func keyLines(_ data: Data, format: DocumentFormat) -> [String: Int] {
        func join(_ path: String, _ component: String) -> String { path.isEmpty ? component : "\(path).\(component)" }
        var lines: [String: Int] = [:]
        switch format {
        case .yaml:
            guard let text = String(data: data, encoding: .utf8), let root = try? Yams.compose(yaml: text) else { return [:] }
            func walk(_ node: Node, _ path: String) {
                switch node {
                case let .mapping(mapping):
                    for (key, value) in mapping {
                        guard case let .scalar(name) = key else { continue }
                        let keyPath = join(path, name.string)
                        if let mark = key.mark, lines[keyPath] == nil { lines[keyPath] = mark.line }
                        walk(value, keyPath)
                    }
                case let .sequence(sequence):
                    for (index, element) in sequence.enumerated() {
                        let elementPath = join(path, String(index))
                        if let mark = element.mark { lines[elementPath] = mark.line }
                        walk(element, elementPath)
                    }
                case .scalar: break
                }
            }
            walk(root, "")
        case .json:
            struct Frame {
                var isObject: Bool
                var path: String
                var index = 0
                var key: String?
            }
            let bytes = [UInt8](data)
            var stack: [Frame] = []
            var line = 1, index = 0
            var expectingElement = false
            func valuePath() -> String {
                guard let top = stack.last else { return "" }
                return top.isObject ? join(top.path, top.key ?? "") : join(top.path, String(top.index))
            }
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\n") { line += 1 }
                let isSpace = byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\n") || byte == UInt8(ascii: "\t") || byte == 13
                if expectingElement, !isSpace, byte != UInt8(ascii: "]") {
                    lines[valuePath()] = line
                    expectingElement = false
                }
                switch byte {
                case UInt8(ascii: "{"):
                    stack.append(Frame(isObject: true, path: valuePath()))
                case UInt8(ascii: "["):
                    stack.append(Frame(isObject: false, path: valuePath()))
                    expectingElement = true
                case UInt8(ascii: "}"), UInt8(ascii: "]"):
                    if !stack.isEmpty { stack.removeLast() }
                    expectingElement = false
                case UInt8(ascii: ","):
                    if let top = stack.last {
                        if top.isObject {
                            stack[stack.count - 1].key = nil
                        } else {
                            stack[stack.count - 1].index += 1
                            expectingElement = true
                        }
                    }
                case UInt8(ascii: "\""):
                    let start = index
                    var end = index + 1, escaped = false
                    while end < bytes.count, escaped || bytes[end] != UInt8(ascii: "\"") {
                        escaped = !escaped && bytes[end] == UInt8(ascii: "\\")
                        if bytes[end] == UInt8(ascii: "\n") { line += 1 }
                        end += 1
                    }
                    var next = end + 1
                    while next < bytes.count, [UInt8(ascii: " "), UInt8(ascii: "\t"), 13].contains(bytes[next]) { next += 1 }
                    if let top = stack.last, top.isObject, top.key == nil, next < bytes.count, bytes[next] == UInt8(ascii: ":"),
                        end < bytes.count, let key = try? JSONDecoder().decode(String.self, from: Data(bytes[start...end]))
                    {
                        stack[stack.count - 1].key = key
                        let keyPath = join(top.path, key)
                        if lines[keyPath] == nil { lines[keyPath] = line }
                    }
                    index = end
                default: break
                }
                index += 1
            }
        }
        return lines
    }

    /// Decodes every line of a JSON Lines file within `limits` (the file as a whole; each line on
    /// its own). Blank lines are skipped.
    ///
    /// - Throws: ``EDLCMError`` "`path`: line N: …".
    public static func readLines<Value: Decodable>(_ type: Value.Type, from url: URL, limits: DocumentLimits) throws -> [Value] {
        try decodeLines(type, from: readFile(url, maxBytes: limits.maxBytes), limits: limits, name: url.path)
    }

    /// Decodes JSON Lines held in memory; `name` names the file in errors.
    ///
    /// - Throws: ``EDLCMError`` "`name`: line N: …".
    public static func decodeLines<Value: Decodable>(_ type: Value.Type, from data: Data, limits: DocumentLimits, name: String)
        throws -> [Value]
    {
        guard data.count <= limits.maxBytes else {
            throw EDLCMError("\(name): \(data.count) bytes, more than the limit of \(limits.maxBytes)")
        }
        var values: [Value] = []
        for (index, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated()
        where !line.allSatisfy({ $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "\r") }) {
            values.append(try decode(type, from: Data(line), format: .json, limits: limits, label: "\(name): line \(index + 1)"))
            guard values.count <= limits.maxValues else {
                throw EDLCMError("\(name): more than \(limits.maxValues) lines, the limit")
            }
        }
        return values
    }

    // MARK: - Checks before parsing

    /// Walks JSON text once without recursion, counting nesting and values outside strings.
    ///
    /// - Throws: ``EDLCMError`` naming the limit and, in a text of several lines, the line where it
    ///   was passed.
    static func checkJSON(_ data: Data, limits: DocumentLimits) throws {
        func at(_ line: Int) -> String { data.contains(UInt8(ascii: "\n")) ? "line \(line): " : "" }
        var depth = 0
        var values = 1
        var line = 1
        var inString = false
        var escaped = false
        for byte in data {
            if byte == UInt8(ascii: "\n") { line += 1 }
            if inString {
                if escaped {
                    escaped = false
                } else if byte == UInt8(ascii: "\\") {
                    escaped = true
                } else if byte == UInt8(ascii: "\"") {
                    inString = false
                }
                continue
            }
            switch byte {
            case UInt8(ascii: "\""): inString = true
            case UInt8(ascii: "["), UInt8(ascii: "{"):
                depth += 1
                values += 1
                if depth > limits.maxDepth {
                    throw EDLCMError("\(at(line))nested deeper than \(limits.maxDepth) levels, the limit")
                }
            case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
            case UInt8(ascii: ","):
                values += 1
                if values > limits.maxValues { throw EDLCMError("\(at(line))more than \(limits.maxValues) values, the limit") }
            default: break
            }
        }
    }

    /// Walks YAML's event stream once (libyaml's parser keeps its own stacks, it does not recurse),
    /// counting nesting and values with every alias expanded to the nodes it stands for (so an
    /// exponential "billion laughs" file stops at the limit, before anything decodes it).
    ///
    /// - Throws: ``EDLCMError`` naming the limit and the line, or libyaml's syntax error.
    static func checkYAML(_ text: String, limits: DocumentLimits) throws {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else { throw EDLCMError("libyaml could not start") }
        defer { yaml_parser_delete(&parser) }
        let bytes = Array(text.utf8)
        try bytes.withUnsafeBufferPointer { buffer in
            yaml_parser_set_input_string(&parser, buffer.baseAddress, buffer.count)
            yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING)
            /// An open collection: its anchor, the value count when it opened, the deepest level inside.
            struct Frame {
                var anchor: String?
                var valuesAtStart: Int
                var deepest: Int
            }
            var frames: [Frame] = []
            var anchors: [String: (values: Int, depth: Int)] = [:]
            var values = 0
            var aliases = false
            func name(_ pointer: UnsafeMutablePointer<yaml_char_t>?) -> String? {
                pointer.map { String(cString: UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)) }
            }
            func count(_ added: Int, depth added_depth: Int, line: Int) throws {
                values += added
                guard values <= limits.maxValues else {
                    throw EDLCMError(
                        "line \(line): more than \(limits.maxValues) values\(aliases ? " (aliases expanded)" : ""), the limit")
                }
                let depth = frames.count + added_depth
                guard depth <= limits.maxDepth else {
                    throw EDLCMError(
                        "line \(line): nested deeper than \(limits.maxDepth) levels\(aliases ? " (aliases expanded)" : ""), the limit"
                    )
                }
                if !frames.isEmpty { frames[frames.count - 1].deepest = max(frames[frames.count - 1].deepest, depth) }
            }
            while true {
                var event = yaml_event_t()
                guard yaml_parser_parse(&parser, &event) == 1 else {
                    let problem = parser.problem.map { String(cString: $0) } ?? "syntax error"
                    throw EDLCMError("not valid YAML: line \(parser.problem_mark.line + 1): \(problem)")
                }
                defer { yaml_event_delete(&event) }
                let line = Int(event.start_mark.line) + 1
                switch event.type {
                case YAML_STREAM_END_EVENT:
                    return
                case YAML_SCALAR_EVENT:
                    try count(1, depth: 0, line: line)
                    if let anchor = name(event.data.scalar.anchor) { anchors[anchor] = (1, 0) }
                case YAML_ALIAS_EVENT:
                    guard let anchor = name(event.data.alias.anchor), let target = anchors[anchor] else {
                        throw EDLCMError("not valid YAML: line \(line): an alias to an unknown anchor")
                    }
                    aliases = true
                    try count(target.values, depth: target.depth, line: line)
                case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
                    let anchor =
                        event.type == YAML_SEQUENCE_START_EVENT
                        ? name(event.data.sequence_start.anchor) : name(event.data.mapping_start.anchor)
                    try count(1, depth: 1, line: line)
                    frames.append(Frame(anchor: anchor, valuesAtStart: values - 1, deepest: frames.count + 1))
                case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
                    guard let frame = frames.popLast() else { break }
                    if let anchor = frame.anchor {
                        anchors[anchor] = (values - frame.valuesAtStart, frame.deepest - frames.count)
                    }
                    if !frames.isEmpty { frames[frames.count - 1].deepest = max(frames[frames.count - 1].deepest, frame.deepest) }
                default:
                    break
                }
            }
        }
    }
}

/// Reads a whole file with POSIX calls, so that the error says exactly what the system said, and
/// refuses one larger than `maxBytes` before reading it.
///
/// - Parameter label: how errors name the file; the path by default.
/// - Throws: ``EDLCMError`` "`label`: cannot read the file (`strerror`)" or "… bytes, more than the limit".
public func readFile(_ url: URL, label: String? = nil, maxBytes: Int = DocumentLimits.records.maxBytes) throws -> Data {
    let prefix = label ?? url.path
    let descriptor = open(url.path, O_RDONLY)
    guard descriptor >= 0 else { throw EDLCMError("\(prefix): cannot read the file (\(String(cString: strerror(errno))))") }
    defer { close(descriptor) }
    var status = stat()
    if fstat(descriptor, &status) == 0 {
        if (status.st_mode & S_IFMT) == S_IFDIR { throw EDLCMError("\(prefix): is a folder, expected a file") }
        if Int(status.st_size) > maxBytes {
            throw EDLCMError("\(prefix): \(status.st_size) bytes, more than the limit of \(maxBytes)")
        }
    }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let count = buffer.withUnsafeMutableBytes { read(descriptor, $0.baseAddress, $0.count) }
        if count < 0 { throw EDLCMError("\(prefix): cannot read the file (\(String(cString: strerror(errno))))") }
        if count == 0 { break }
        data.append(contentsOf: buffer[0..<count])
        // A file that grows while it is read (or a pipe) is held to the same limit.
        if data.count > maxBytes { throw EDLCMError("\(prefix): more than the limit of \(maxBytes) bytes") }
    }
    return data
}

/// How the tool writes JSON, declared once for every file and string it makes.
public enum JSONStyle: Sendable {
    /// Files a person reads and diffs (`config.json`, `evaluation.json`, `analysis.json`,
    /// `study.json`, `sweep.json`): pretty-printed, keys sorted, slashes unescaped, non-finite
    /// numbers as the strings "inf", "-inf" and "nan".
    case record
    /// One line (`metrics.jsonl`, the evaluation state, checkpoint metadata, Markdown cells): keys
    /// sorted, slashes unescaped, non-finite numbers as strings.
    case line
    /// Keys sorted, nothing else: the text evaluation fingerprints are computed from, kept as first
    /// written so that saved evaluation states still match.
    case fingerprint

    /// An encoder of this style.
    public var encoder: JSONEncoder {
        let encoder = JSONEncoder()
        switch self {
        case .record: encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        case .line: encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        case .fingerprint: encoder.outputFormatting = [.sortedKeys]
        }
        if self != .fingerprint {
            encoder.nonConformingFloatEncodingStrategy = .convertToString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        }
        return encoder
    }

    /// `value` encoded in this style.
    public func encode<Value: Encodable>(_ value: Value) throws -> Data { try encoder.encode(value) }
}
