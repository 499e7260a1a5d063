import Foundation
import Testing

@testable import Torch

// MARK: - Helpers

/// Little-endian bytes of an integer.
private func leBytes<T: FixedWidthInteger>(_ value: T) -> [UInt8] {
    withUnsafeBytes(of: value.littleEndian) { Array($0) }
}

/// Little-endian bytes of Float32 values.
private func f32Bytes(_ values: [Float]) -> [UInt8] {
    values.flatMap { leBytes($0.bitPattern) }
}

/// Float32 values read back from little-endian bytes.
private func f32Values(_ bytes: [UInt8]) -> [Float] {
    stride(from: 0, to: bytes.count, by: 4).map { start in
        var bits: UInt32 = 0
        for index in 0..<4 { bits |= UInt32(bytes[start + index]) << (8 * UInt32(index)) }
        return Float(bitPattern: bits)
    }
}

/// A file made of the 8-byte length prefix, `header` (space-padded to a multiple of 8
/// unless `pad` is false) and `data`.
private func makeFile(_ header: String, data: [UInt8] = [], pad: Bool = true) -> [UInt8] {
    var headerBytes = Array(header.utf8)
    if pad {
        headerBytes += Array(repeating: UInt8(ascii: " "), count: (8 - headerBytes.count % 8) % 8)
    }
    return leBytes(UInt64(headerBytes.count)) + headerBytes + data
}

/// The message of the `TorchError` thrown by decoding `bytes`, or `nil` if decoding succeeded.
private func decodeFailure(_ bytes: [UInt8], source: String = "/models/test.safetensors") -> String? {
    do {
        _ = try SafeTensors.decode(bytes, source: source)
        return nil
    } catch let error as TorchError {
        return error.message
    } catch {
        return "unexpected error type: \(error)"
    }
}

/// The message of the `TorchError` thrown by `body`, or `nil` if it succeeded.
private func failure(_ body: () throws -> Void) -> String? {
    do {
        try body()
        return nil
    } catch let error as TorchError {
        return error.message
    } catch {
        return "unexpected error type: \(error)"
    }
}

/// A fresh, empty directory removed at the end of `body`.
private func withTemporaryDirectory(_ body: (URL) throws -> Void) throws {
    let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("safetensors-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: false)
    defer { try? FileManager.default.removeItem(at: directory) }
    try body(directory)
}

private func listing(_ directory: URL) throws -> [String] {
    try FileManager.default.contentsOfDirectory(atPath: directory.path).sorted()
}

/// A deterministic pseudo-random byte generator (SplitMix64).
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

private func randomBytes(_ count: Int, _ generator: inout SplitMix64) -> [UInt8] {
    (0..<count).map { _ in UInt8.random(in: 0...255, using: &generator) }
}

/// An archive exercising every dtype, scalars, empty tensors, odd names and metadata.
private func sampleArchive() -> SafeTensors.Archive {
    var generator = SplitMix64(state: 42)
    var tensors: [String: SafeTensors.Entry] = [:]
    let shapes: [[Int]] = [[2, 3], [5], [], [1, 1, 3], [0, 4], [7]]
    for (index, dtype) in SafeTensors.DType.allCases.enumerated() {
        let shape = shapes[index % shapes.count]
        let count = shape.reduce(1, *)
        tensors["layer.\(index).\(dtype.rawValue.lowercased())"] = SafeTensors.Entry(
            dtype: dtype, shape: shape, data: randomBytes(count * dtype.byteSize, &generator))
    }
    // Float data with NaN payloads and negative zero must survive bit for bit.
    tensors["nan payloads"] = SafeTensors.Entry(
        dtype: .float32, shape: [4],
        data: leBytes(UInt32(0x7FC0_1234)) + leBytes(UInt32(0xFF80_0001)) + leBytes(UInt32(0x8000_0000))
            + leBytes(UInt32(0x7F80_0000)))
    tensors["ünïcødé/🙂 \"quoted\"\n"] = SafeTensors.Entry(dtype: .uint8, shape: [3], data: [1, 2, 255])
    return SafeTensors.Archive(
        tensors: tensors,
        metadata: ["format": "pt", "note": "line1\nline2\t\"q\" \\ é 🙂 \u{01}", "empty": ""])
}

// MARK: - Decode failure cases

struct SafeTensorsDecodeFailureCase: CustomStringConvertible, Sendable {
    var description: String
    var bytes: [UInt8]
    var keywords: [String]
}

private let f32Entry = #"{"dtype":"F32","shape":[2],"data_offsets":[0,8]}"#

private let decodeFailureCases: [SafeTensorsDecodeFailureCase] = [
    .init(
        description: "file shorter than 8 bytes", bytes: [1, 0, 0],
        keywords: ["file is 3 bytes", "shorter than the 8-byte header length prefix"]),
    .init(
        description: "header length 0", bytes: leBytes(UInt64(0)) + [0x7B, 0x7D],
        keywords: ["header length is 0"]),
    .init(
        description: "header length over 100 MB", bytes: leBytes(UInt64(100_000_001)) + Array("{}".utf8),
        keywords: ["header length 100000001", "100000000-byte limit"]),
    .init(
        description: "header length UInt64.max", bytes: leBytes(UInt64.max) + Array("{}".utf8),
        keywords: ["header length 18446744073709551615", "limit"]),
    .init(
        description: "header length larger than file", bytes: leBytes(UInt64(1000)) + Array("{}      ".utf8),
        keywords: ["header length 1000", "larger than the 8 bytes after the prefix", "file is 16 bytes"]),
    .init(
        description: "header not UTF-8", bytes: leBytes(UInt64(8)) + [0x7B, 0x22, 0xFF, 0x22, 0x3A, 0x31, 0x7D, 0x20],
        keywords: ["not valid UTF-8", "0xFF", "file offset 10"]),
    .init(
        description: "header truncated UTF-8", bytes: leBytes(UInt64(8)) + [0x7B, 0x7D, 0x20, 0x20, 0x20, 0x20, 0x20, 0xE2],
        keywords: ["not valid UTF-8", "file offset 15"]),
    .init(
        description: "header not JSON", bytes: makeFile(#"{"a":"#),
        keywords: ["not valid JSON", "file offset"]),
    .init(
        description: "header with trailing garbage", bytes: makeFile("{} x", pad: false),
        keywords: ["not valid JSON", "after the top-level value", "file offset 11"]),
    .init(
        description: "header padded with NULs", bytes: makeFile("{}\0\0\0\0\0\0", pad: false),
        keywords: ["not valid JSON", "0x00"]),
    .init(
        description: "header not an object", bytes: makeFile("[1,2]"),
        keywords: ["header JSON is not an object", "array"]),
    .init(
        description: "lone surrogate", bytes: makeFile(#"{"\ud800":1}"#),
        keywords: ["not valid JSON", "surrogate"]),
    .init(
        description: "excessive nesting",
        bytes: makeFile(String(repeating: "[", count: 200) + String(repeating: "]", count: 200)),
        keywords: ["not valid JSON", "nesting deeper than 128"]),
    .init(
        description: "duplicate tensor name", bytes: makeFile(#"{"a":\#(f32Entry),"a":\#(f32Entry)}"#, data: f32Bytes([1, 2])),
        keywords: ["duplicate key \"a\""]),
    .init(
        description: "entry not an object", bytes: makeFile(#"{"a":5}"#),
        keywords: ["tensor \"a\"", "entry is not a JSON object", "number 5"]),
    .init(
        description: "missing dtype", bytes: makeFile(#"{"a":{"shape":[2],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "missing field \"dtype\""]),
    .init(
        description: "missing shape", bytes: makeFile(#"{"a":{"dtype":"F32","data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "missing field \"shape\""]),
    .init(
        description: "missing data_offsets", bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "missing field \"data_offsets\""]),
    .init(
        description: "dtype not a string",
        bytes: makeFile(#"{"a":{"dtype":4,"shape":[2],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "field \"dtype\" must be a string"]),
    .init(
        description: "shape not an array",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "field \"shape\" must be an array of integers", "string"]),
    .init(
        description: "shape with a float",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "field \"shape\" must be an array of integers", "2.0"]),
    .init(
        description: "data_offsets with one element",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "field \"data_offsets\" must be an array of two integers"]),
    .init(
        description: "data_offsets with a string",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,"8"]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "field \"data_offsets\" must be an array of two integers"]),
    .init(
        description: "negative data offset",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[-8,0]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "data offset -8 is negative"]),
    .init(
        description: "unknown dtype",
        bytes: makeFile(#"{"a":{"dtype":"U16","shape":[4],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "unknown dtype \"U16\"", "supported: F64, F32"]),
    .init(
        description: "negative dimension",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[3,-2],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "negative dimension -2 at index 1"]),
    .init(
        description: "dimension out of range",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[99999999999999999999],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "dimension 99999999999999999999", "out of range"]),
    .init(
        description: "element count overflow",
        bytes: makeFile(#"{"a":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "element count of shape [4294967296, 4294967296] overflows"]),
    .init(
        description: "byte size overflow",
        bytes: makeFile(#"{"a":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "byte size", "overflows"]),
    .init(
        description: "begin after end",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "data_offsets [8, 0] have begin > end"]),
    .init(
        description: "end beyond buffer",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "data_offsets [0, 16] end beyond the 8-byte data buffer", "file bytes 64..<72"]),
    .init(
        description: "byte count mismatch",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}"#, data: f32Bytes([1, 2])),
        keywords: ["tensor \"a\"", "hold 8 bytes", "shape [3] of F32 needs 3 × 4 = 12 bytes"]),
    .init(
        description: "overlapping tensors",
        bytes: makeFile(#"{"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]},"a":\#(f32Entry)}"#, data: f32Bytes([1, 2, 3])),
        keywords: ["tensors \"a\" data_offsets [0, 8] and \"b\" data_offsets [4, 12] overlap"]),
    .init(
        description: "zero-size tensor inside another",
        bytes: makeFile(#"{"a":\#(f32Entry),"z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}}"#, data: f32Bytes([1, 2])),
        keywords: ["\"a\"", "\"z\"", "overlap"]),
    .init(
        description: "gap before the first tensor",
        bytes: makeFile(#"{"a":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#, data: f32Bytes([1, 2, 3])),
        keywords: ["data buffer bytes 0..<4", "not covered by any tensor", "gap before tensor \"a\""]),
    .init(
        description: "trailing bytes after the last tensor",
        bytes: makeFile(#"{"a":\#(f32Entry)}"#, data: f32Bytes([1, 2, 3])),
        keywords: ["data buffer bytes 8..<12", "not covered by any tensor", "trailing"]),
    .init(
        description: "data but no tensors", bytes: makeFile("{}", data: [1, 2, 3]),
        keywords: ["data buffer bytes 0..<3", "not covered by any tensor"]),
    .init(
        description: "metadata value not a string",
        bytes: makeFile(#"{"__metadata__":{"format":"pt","step":12}}"#),
        keywords: ["__metadata__ value for key \"step\" is not a string", "number 12"]),
    .init(
        description: "metadata not an object",
        bytes: makeFile(#"{"__metadata__":["pt"]}"#),
        keywords: ["__metadata__ is not an object", "array"]),
]

/// Tests for the safetensors reader and writer (raw bytes, no tensor types).
@Suite struct SafeTensorsFormatTests {
    // MARK: - Types

    @Test func dtypeSpellingsAndSizes() {
        let expected: [(SafeTensors.DType, String, Int)] = [
            (.float64, "F64", 8), (.float32, "F32", 4), (.float16, "F16", 2), (.bfloat16, "BF16", 2),
            (.int64, "I64", 8), (.int32, "I32", 4), (.int16, "I16", 2), (.int8, "I8", 1),
            (.uint8, "U8", 1), (.bool, "BOOL", 1),
        ]
        #expect(SafeTensors.DType.allCases.count == expected.count)
        for (dtype, name, size) in expected {
            #expect(dtype.rawValue == name)
            #expect(dtype.byteSize == size)
            #expect(SafeTensors.DType(rawValue: name) == dtype)
        }
        #expect(SafeTensors.DType(rawValue: "f32") == nil)
    }

    @Test func entryElementCount() {
        #expect(SafeTensors.Entry(dtype: .float32, shape: [2, 3], data: []).elementCount == 6)
        #expect(SafeTensors.Entry(dtype: .float32, shape: [], data: []).elementCount == 1)
        #expect(SafeTensors.Entry(dtype: .float32, shape: [0, 9], data: []).elementCount == 0)
        #expect(SafeTensors.Entry(dtype: .float32, shape: [-1], data: []).elementCount == nil)
        #expect(SafeTensors.Entry(dtype: .float32, shape: [Int.max, 2], data: []).elementCount == nil)
    }

    // MARK: - Round trip and exact bytes

    @Test func roundTripIsBitIdentical() throws {
        let archive = sampleArchive()
        let bytes = try SafeTensors.encode(archive)
        let decoded = try SafeTensors.decode(bytes, source: "memory")
        #expect(decoded == archive)
        #expect(decoded.tensors.count == 12)
        #expect(decoded.metadata["note"] == "line1\nline2\t\"q\" \\ é 🙂 \u{01}")
        #expect(
            decoded.tensors["nan payloads"]?.data
                == [0x34, 0x12, 0xC0, 0x7F, 0x01, 0x00, 0x80, 0xFF, 0, 0, 0, 0x80, 0, 0, 0x80, 0x7F])
        #expect(decoded.tensors["layer.4.i64"]?.shape == [0, 4])
        #expect(decoded.tensors["layer.4.i64"]?.data == [])
        #expect(decoded.tensors["layer.2.f16"]?.shape == [])
        #expect(decoded.tensors["layer.2.f16"]?.data.count == 2)

        // Deterministic: encoding again (and re-encoding the decoded archive) gives the same bytes.
        #expect(try SafeTensors.encode(archive) == bytes)
        #expect(try SafeTensors.encode(decoded) == bytes)

        // The header is space-padded to a multiple of 8 and every tensor is naturally aligned.
        var length: UInt64 = 0
        for index in 0..<8 { length |= UInt64(bytes[index]) << (8 * UInt64(index)) }
        #expect(length % 8 == 0)
        let header = String(decoding: bytes[8..<(8 + Int(length))], as: UTF8.self)
        #expect(header.hasPrefix("{\"__metadata__\":{\"empty\":\"\",\"format\":\"pt\",\"note\":"))
        #expect(header.hasSuffix("}") || header.hasSuffix(" "))
    }

    @Test func emptyArchiveRoundTrips() throws {
        let bytes = try SafeTensors.encode(SafeTensors.Archive())
        // Same bytes as the reference implementation's `test_empty`.
        #expect(bytes == [8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32])
        #expect(try SafeTensors.decode(bytes, source: "empty") == SafeTensors.Archive())
    }

    @Test func encodeMatchesReferenceBytes() throws {
        // The reference implementation's `test_serialization`: one F32 tensor [1, 2, 3].
        let data = f32Bytes([0, 1, 2, 3, 4, 5])
        let archive = SafeTensors.Archive(tensors: ["attn.0": .init(dtype: .float32, shape: [1, 2, 3], data: data)])
        let expected: [UInt8] = [
            64, 0, 0, 0, 0, 0, 0, 0, 123, 34, 97, 116, 116, 110, 46, 48, 34, 58, 123, 34, 100,
            116, 121, 112, 101, 34, 58, 34, 70, 51, 50, 34, 44, 34, 115, 104, 97, 112, 101, 34,
            58, 91, 49, 44, 50, 44, 51, 93, 44, 34, 100, 97, 116, 97, 95, 111, 102, 102, 115,
            101, 116, 115, 34, 58, 91, 48, 44, 50, 52, 93, 125, 125, 0, 0, 0, 0, 0, 0, 128, 63,
            0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64,
        ]
        #expect(try SafeTensors.encode(archive) == expected)

        // The reference's metadata-only file (`test_empty` with {"framework": "pt"}).
        let withMetadata = try SafeTensors.encode(SafeTensors.Archive(metadata: ["framework": "pt"]))
        #expect(
            withMetadata == [
                40, 0, 0, 0, 0, 0, 0, 0, 123, 34, 95, 95, 109, 101, 116, 97, 100, 97, 116, 97, 95,
                95, 34, 58, 123, 34, 102, 114, 97, 109, 101, 119, 111, 114, 107, 34, 58, 34, 112,
                116, 34, 125, 125, 32, 32, 32, 32, 32,
            ])
    }

    @Test func encodeLaysOutByAlignmentAndSortsHeaderKeys() throws {
        let archive = SafeTensors.Archive(tensors: [
            "a": .init(dtype: .uint8, shape: [3], data: [1, 2, 3]),
            "b": .init(dtype: .float32, shape: [2], data: f32Bytes([1.5, -2])),
            "c": .init(dtype: .float16, shape: [1], data: [0x00, 0x3C]),
            "d": .init(dtype: .float64, shape: [], data: leBytes(Double(0.25).bitPattern)),
        ])
        let bytes = try SafeTensors.encode(archive)
        let header =
            #"{"a":{"dtype":"U8","shape":[3],"data_offsets":[18,21]},"#
            + #""b":{"dtype":"F32","shape":[2],"data_offsets":[8,16]},"#
            + #""c":{"dtype":"F16","shape":[1],"data_offsets":[16,18]},"#
            + #""d":{"dtype":"F64","shape":[],"data_offsets":[0,8]}}"#
        let padded = header + String(repeating: " ", count: (8 - header.utf8.count % 8) % 8)
        let headerEnd = 8 + padded.utf8.count
        #expect(Array(bytes[0..<8]) == leBytes(UInt64(padded.utf8.count)))
        #expect(String(decoding: bytes[8..<headerEnd], as: UTF8.self) == padded)
        #expect(
            Array(bytes[headerEnd...])
                == leBytes(Double(0.25).bitPattern) + f32Bytes([1.5, -2]) + [0x00, 0x3C] + [1, 2, 3])
    }

    @Test func decodesHandBuiltFile() throws {
        // Header written by hand, keys deliberately not in offset order; 143 bytes + 1 space of padding.
        let header =
            #"{"__metadata__":{"format":"pt"},"#
            + #""b":{"dtype":"I16","shape":[3],"data_offsets":[24,30]},"#
            + #""w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#
        let headerBytes = Array(header.utf8) + Array(repeating: UInt8(ascii: " "), count: 1)
        #expect(headerBytes.count == 144)
        let prefix: [UInt8] = [0x90, 0, 0, 0, 0, 0, 0, 0]  // 144
        let floats: [UInt8] = [
            0x00, 0x00, 0x80, 0x3F,  // 1.0
            0x00, 0x00, 0x00, 0xC0,  // -2.0
            0x00, 0x00, 0x00, 0x3F,  // 0.5
            0x00, 0x00, 0x50, 0x40,  // 3.25
            0x00, 0x00, 0x00, 0x80,  // -0.0
            0x00, 0x00, 0x80, 0x7F,  // +infinity
        ]
        let shorts: [UInt8] = [0x01, 0x00, 0xFF, 0xFF, 0x00, 0x01]  // 1, -1, 256
        let file = prefix + headerBytes + floats + shorts

        let archive = try SafeTensors.decode(file, source: "hand.safetensors")
        #expect(archive.metadata == ["format": "pt"])
        #expect(archive.tensors.count == 2)

        let w = try #require(archive.tensors["w"])
        #expect(w.dtype == .float32)
        #expect(w.shape == [2, 3])
        let values = f32Values(w.data)
        #expect(values == [1.0, -2.0, 0.5, 3.25, 0.0, Float.infinity])
        #expect(values[4].sign == .minus)

        let b = try #require(archive.tensors["b"])
        #expect(b.dtype == .int16)
        #expect(b.shape == [3])
        let shortValues = stride(from: 0, to: 6, by: 2).map {
            Int16(bitPattern: UInt16(b.data[$0]) | UInt16(b.data[$0 + 1]) << 8)
        }
        #expect(shortValues == [1, -1, 256])
    }

    @Test func decodeAcceptsWhatTheReferenceAccepts() throws {
        let f32x2 = f32Bytes([7, 8])
        // Leading whitespace, null metadata, unknown extra fields, escaped and empty names.
        let file = makeFile(
            #" {"__metadata__":null,"a\u00e9\n":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":[1,{"x":null}]},"#
                + #""":{"dtype":"BOOL","shape":[0],"data_offsets":[8,8]},"s":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}"#,
            data: f32x2 + [0x2A])
        let archive = try SafeTensors.decode(file, source: "lenient")
        #expect(archive.metadata.isEmpty)
        #expect(archive.tensors["a\u{e9}\n"] == .init(dtype: .float32, shape: [2], data: f32x2))
        #expect(archive.tensors[""] == .init(dtype: .bool, shape: [0], data: []))
        #expect(archive.tensors["s"] == .init(dtype: .uint8, shape: [], data: [42]))

        // Zero-size tensors at the start and end of the buffer are fine.
        let edges = makeFile(
            #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"z0":{"dtype":"I8","shape":[0],"data_offsets":[0,0]},"z1":{"dtype":"I8","shape":[3,0],"data_offsets":[8,8]}}"#,
            data: f32x2)
        let decodedEdges = try SafeTensors.decode(edges, source: "edges")
        #expect(decodedEdges.tensors.count == 3)
        #expect(decodedEdges.tensors["z1"]?.shape == [3, 0])
    }

    // MARK: - Decode validation

    @Test(arguments: decodeFailureCases)
    func decodeRejects(_ testCase: SafeTensorsDecodeFailureCase) {
        let message = decodeFailure(testCase.bytes, source: "/models/bad.safetensors")
        guard let message else {
            Issue.record("decoding succeeded but should fail: \(testCase.description)")
            return
        }
        #expect(message.hasPrefix("safetensors \"/models/bad.safetensors\": "), "\(message)")
        #expect(!message.contains("\n"), "\(message)")
        for keyword in testCase.keywords {
            #expect(message.contains(keyword), "\(message) should contain \(keyword)")
        }
    }

    @Test func decodeFailureMessagesQuoteControlCharactersInNames() {
        let file = makeFile(#"{"bad\nname":{"dtype":"X"}}"#)
        let message = decodeFailure(file)
        #expect(message?.contains(#"tensor "bad\nname""#) == true, "\(message ?? "nil")")
        #expect(message?.contains("unknown dtype \"X\"") == true)
        #expect(message?.contains("\n") == false)
    }

    @Test func decodeNeverTrapsOnCorruptInput() throws {
        let valid = try SafeTensors.encode(sampleArchive())
        var generator = SplitMix64(state: 7)
        var rejected = 0
        // Every truncation of a valid file is rejected.
        for length in 0..<valid.count {
            if decodeFailure(Array(valid[0..<length])) != nil { rejected += 1 }
        }
        #expect(rejected == valid.count)

        // Random mutations either decode or throw a TorchError; nothing traps.
        var outcomes = (ok: 0, failed: 0)
        for _ in 0..<3000 {
            var mutated = valid
            let flips = Int.random(in: 1...4, using: &generator)
            for _ in 0..<flips {
                let at = Int.random(in: 0..<mutated.count, using: &generator)
                mutated[at] = UInt8.random(in: 0...255, using: &generator)
            }
            if let message = decodeFailure(mutated, source: "fuzz") {
                #expect(message.hasPrefix("safetensors \"fuzz\": "), "\(message)")
                outcomes.failed += 1
            } else {
                outcomes.ok += 1
            }
        }
        #expect(outcomes.ok + outcomes.failed == 3000)
        #expect(outcomes.failed > 0)

        // Random headers made of JSON-ish characters.
        let alphabet = Array(#"{}[]",:0123456789-.eE"trufalsn \u\\"#.utf8) + Array("\"dtype\"shape\"data_offsets\"F32".utf8)
        for _ in 0..<3000 {
            let length = Int.random(in: 0...40, using: &generator)
            let header = (0..<length).map { _ in alphabet.randomElement(using: &generator) ?? 0x20 }
            _ = decodeFailure(
                leBytes(UInt64(header.count)) + header + randomBytes(Int.random(in: 0...16, using: &generator), &generator))
        }
    }

    // MARK: - Encode validation

    @Test func encodeRejectsInvalidEntries() {
        func encodeFailure(_ tensors: [String: SafeTensors.Entry]) -> String? {
            failure { _ = try SafeTensors.encode(SafeTensors.Archive(tensors: tensors)) }
        }
        let ok = SafeTensors.Entry(dtype: .float32, shape: [1], data: f32Bytes([1]))

        let empty = encodeFailure(["": ok])
        #expect(empty?.contains("tensor name is empty") == true, "\(empty ?? "nil")")

        let reserved = encodeFailure(["__metadata__": ok])
        #expect(reserved?.contains("\"__metadata__\" is reserved for metadata") == true, "\(reserved ?? "nil")")

        let mismatch = encodeFailure(["ok": ok, "w": .init(dtype: .float32, shape: [2, 3], data: f32Bytes([1, 2]))])
        #expect(mismatch?.contains(#"tensor "w""#) == true, "\(mismatch ?? "nil")")
        #expect(mismatch?.contains("data is 8 bytes but shape [2, 3] of F32 needs 6 × 4 = 24 bytes") == true)

        let negative = encodeFailure(["n": .init(dtype: .int8, shape: [2, -1], data: [])])
        #expect(negative?.contains("negative dimension -1 at index 1 of shape [2, -1]") == true, "\(negative ?? "nil")")

        let overflow = encodeFailure(["o": .init(dtype: .int8, shape: [Int.max, 2], data: [])])
        #expect(overflow?.contains("overflows") == true, "\(overflow ?? "nil")")

        let byteOverflow = encodeFailure(["o": .init(dtype: .int64, shape: [Int.max / 4], data: [])])
        #expect(byteOverflow?.contains("byte size of shape") == true, "\(byteOverflow ?? "nil")")
    }

    // MARK: - Files

    @Test func writeThenReadLeavesOnlyTheDestination() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            let archive = sampleArchive()
            try SafeTensors.write(archive, to: url)
            #expect(try listing(directory) == ["model.safetensors"])
            #expect(try SafeTensors.read(from: url) == archive)
            #expect(try [UInt8](Data(contentsOf: url)) == SafeTensors.encode(archive))

            // Overwriting replaces the content and still leaves no temporaries.
            let replacement = SafeTensors.Archive(
                tensors: ["only": .init(dtype: .int32, shape: [2], data: leBytes(Int32(-5)) + leBytes(Int32(9)))],
                metadata: [:])
            try SafeTensors.write(replacement, to: url)
            #expect(try listing(directory) == ["model.safetensors"])
            #expect(try SafeTensors.read(from: url) == replacement)
        }
    }

    @Test func writeIntoMissingDirectoryFailsCleanly() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("missing/model.safetensors")
            let message = failure { try SafeTensors.write(sampleArchive(), to: url) }
            #expect(message?.contains(url.path) == true, "\(message ?? "nil")")
            #expect(message?.contains("No such file or directory") == true, "\(message ?? "nil")")
            #expect(message?.contains("creating temporary file") == true, "\(message ?? "nil")")
            let remaining = try listing(directory)
            #expect(remaining == [])
        }
    }

    @Test func failedRenameRemovesTemporaryAndKeepsDestination() throws {
        try withTemporaryDirectory { directory in
            // The destination is a non-empty directory, so the final rename fails.
            let url = directory.appendingPathComponent("model.safetensors")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: false)
            let inner = url.appendingPathComponent("keep.txt")
            try Data("keep".utf8).write(to: inner)

            let message = failure { try SafeTensors.write(sampleArchive(), to: url) }
            #expect(message?.contains(url.path) == true, "\(message ?? "nil")")
            #expect(message?.contains("renaming temporary file") == true, "\(message ?? "nil")")
            #expect(try listing(directory) == ["model.safetensors"])
            #expect(try listing(url) == ["keep.txt"])
            #expect(try Data(contentsOf: inner) == Data("keep".utf8))
        }
    }

    @Test func invalidArchiveDoesNotTouchExistingFile() throws {
        try withTemporaryDirectory { directory in
            let url = directory.appendingPathComponent("model.safetensors")
            let original = sampleArchive()
            try SafeTensors.write(original, to: url)
            let before = try Data(contentsOf: url)

            let bad = SafeTensors.Archive(tensors: ["w": .init(dtype: .float32, shape: [4], data: [1, 2, 3])])
            let message = failure { try SafeTensors.write(bad, to: url) }
            #expect(message?.contains(url.path) == true, "\(message ?? "nil")")
            #expect(message?.contains("data is 3 bytes") == true, "\(message ?? "nil")")
            #expect(try Data(contentsOf: url) == before)
            #expect(try listing(directory) == ["model.safetensors"])
        }
    }

    @Test func readReportsOSErrorsAndCorruptFilesWithThePath() throws {
        try withTemporaryDirectory { directory in
            let missing = directory.appendingPathComponent("nope.safetensors")
            let notFound = failure { _ = try SafeTensors.read(from: missing) }
            #expect(notFound?.contains(missing.path) == true, "\(notFound ?? "nil")")
            #expect(notFound?.contains("No such file or directory") == true, "\(notFound ?? "nil")")

            let isDirectory = failure { _ = try SafeTensors.read(from: directory) }
            #expect(isDirectory?.contains("not a regular file") == true, "\(isDirectory ?? "nil")")

            let corrupt = directory.appendingPathComponent("corrupt.safetensors")
            try Data(makeFile(#"{"a":\#(f32Entry)}"#, data: [1, 2, 3])).write(to: corrupt)
            let message = failure { _ = try SafeTensors.read(from: corrupt) }
            #expect(message?.hasPrefix("safetensors \"\(corrupt.path)\": ") == true, "\(message ?? "nil")")
            #expect(message?.contains("end beyond the 3-byte data buffer") == true, "\(message ?? "nil")")

            let remote = failure { _ = try SafeTensors.read(from: URL(string: "https://example.com/x.safetensors")!) }
            #expect(remote?.contains("not a file URL") == true, "\(remote ?? "nil")")
        }
    }
}
