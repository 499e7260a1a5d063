import Foundation
import TestSupport
import Testing

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// The bounds checked before JSON and YAML are parsed, at their exact edges (counts by hand).
@Suite("Document limits")
struct DocumentLimitsTests {
    struct Anything: Decodable {}

    func check(_ text: String, _ format: DocumentFormat, depth: Int = 64, values: Int = 1000) throws {
        let limits = DocumentLimits(maxBytes: 1 << 20, maxDepth: depth, maxValues: values)
        _ = try Document.decode(JSONValue.self, from: Data(text.utf8), format: format, limits: limits, label: "doc")
    }

    @Test func jsonDepthAtTheLimitPassesAndOneMoreFails() throws {
        // {"a": [[1]]}: the object, two arrays: depth 3.
        try check(#"{"a": [[1]]}"#, .json, depth: 3)
        #expect(throws: EDLCMError("doc: nested deeper than 2 levels, the limit")) {
            try check(#"{"a": [[1]]}"#, .json, depth: 2)
        }
        // Brackets inside strings do not count.
        try check(#"{"a": "[[[[[[\"[["}"#, .json, depth: 1)
    }

    @Test func jsonValuesAreCounted() throws {
        // [1, 2, 3]: the array and two commas past the first value: 4 values counted.
        try check("[1, 2, 3]", .json, values: 4)
        #expect(throws: EDLCMError("doc: more than 3 values, the limit")) { try check("[1, 2, 3]", .json, values: 3) }
        #expect(throws: EDLCMError("doc: line 2: more than 3 values, the limit")) { try check("[1,\n2, 3]", .json, values: 3) }
    }

    @Test func yamlAliasesCountAsTheValuesTheyExpandTo() throws {
        // Root mapping 1; key a 1; [1, 2, 3] 4 (anchored: 4); key b 1; [*a, *a] 1 + 2 × 4: 16 in all.
        let text = "a: &a [1, 2, 3]\nb: [*a, *a]\n"
        try check(text, .yaml, values: 16)
        #expect(throws: EDLCMError("doc: line 2: more than 15 values (aliases expanded), the limit")) {
            try check(text, .yaml, values: 15)
        }
    }

    @Test func yamlAliasesCarryTheirDepth() throws {
        // b's inner sequence is at depth 3; the alias to the 2-deep [[1]] reaches depth 5.
        let text = "a: &a [[1]]\nb: [[*a]]\n"
        try check(text, .yaml, depth: 5)
        #expect(throws: EDLCMError("doc: line 2: nested deeper than 4 levels (aliases expanded), the limit")) {
            try check(text, .yaml, depth: 4)
        }
    }

    @Test func yamlBlockNestingIsCounted() throws {
        // a: {b: {c: 1}} in block style: three mappings, the third starting at its key c on line 3.
        try check("a:\n  b:\n    c: 1\n", .yaml, depth: 3)
        #expect(throws: EDLCMError("doc: line 3: nested deeper than 2 levels, the limit")) {
            try check("a:\n  b:\n    c: 1\n", .yaml, depth: 2)
        }
    }

    @Test func yamlSyntaxErrorsNameTheLine() {
        // The unclosed sequence of line 2 runs into the end of the text, on line 3.
        #expect(throws: EDLCMError("doc: not valid YAML: line 3: did not find expected ',' or ']'")) {
            try check("a: 1\nb: [1\n", .yaml)
        }
        #expect(throws: EDLCMError("doc: not valid YAML: line 1: an alias to an unknown anchor")) {
            try check("a: *nothing\n", .yaml)
        }
    }

    @Test func filesLargerThanTheLimitAreNotRead() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let url = folder.appendingPathComponent("big.json")
        try Data(repeating: UInt8(ascii: " "), count: 101).write(to: url)
        #expect(throws: EDLCMError("\(url.path): 101 bytes, more than the limit of 100")) {
            _ = try Document.read(JSONValue.self, from: url, limits: DocumentLimits(maxBytes: 100, maxDepth: 4, maxValues: 10))
        }
        #expect(throws: EDLCMError("\(folder.path): is a folder, expected a file")) { _ = try readFile(folder) }
    }

    @Test func gzipStopsInflatingAtItsLimit() throws {
        let compressed = try Gzip.compress([UInt8](repeating: 0, count: 1 << 20))
        #expect(try Gzip.decompress(compressed, name: "z", maxBytes: 1 << 20).count == 1 << 20)
        #expect(throws: EDLCMError("z: gzip data inflates to more than 1048575 bytes, the limit for a dataset file")) {
            _ = try Gzip.decompress(compressed, name: "z", maxBytes: (1 << 20) - 1)
        }
    }

    /// YAML 1.1 integers, base 60 included, are read with overflow checks: Yams's own conversion
    /// trapped on the fuzz finding in fuzz/regressions/config/base60-integer-overflow.yaml.
    @Test func yamlIntegersAreReadWithoutOverflow() throws {
        #expect(Document.yamlInteger("1:2:3") == 3723)
        #expect(Document.yamlInteger("-1_000") == -1000)
        #expect(Document.yamlInteger("0x1F") == 31)
        #expect(Document.yamlInteger("0o17") == 15 && Document.yamlInteger("017") == 15)
        #expect(Document.yamlInteger("0b101") == 5)
        #expect(Document.yamlInteger("9223372036854775807") == Int64.max)
        #expect(Document.yamlInteger("9223372036854775808") == nil)
        #expect(Document.yamlInteger("99999999999:59:59:59:59:59") == nil)
        let value = try Document.value(
            from: Data("a: 99999999999:59:59:59:59:59\nb: 1:30\n".utf8), format: .yaml, limits: .settings, label: "doc")
        #expect(value == .object(["a": .string("99999999999:59:59:59:59:59"), "b": .integer(90)]))
    }
}
