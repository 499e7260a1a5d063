import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// One bad input: the command, a substring the one-line error must contain, and files that must
/// be left exactly as they were.
struct BadInput: CustomStringConvertible {
    let name: String
    let arguments: [String]
    let expected: String
    var untouched: [URL] = []
    var shell: String? = nil
    var description: String { name }
}

/// Builds the catalogue documented in docs/bad-inputs.md inside `root`.
func badInputCatalogue(root: URL, trainedRun: URL) throws -> [BadInput] {
    let fm = FileManager.default
    func write(_ bytes: [UInt8], _ relative: String) throws -> URL {
        let url = root.appendingPathComponent(relative)
        try fm.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data(bytes).write(to: url)
        return url
    }
    func bigEndian(_ value: UInt32) -> [UInt8] { [24, 16, 8, 0].map { UInt8((value >> UInt32($0)) & 0xFF) } }
    let labels = bigEndian(0x801) + bigEndian(2) + [1, 2]
    let images = bigEndian(0x803) + bigEndian(2) + bigEndian(28) + bigEndian(28) + [UInt8](repeating: 7, count: 2 * 784)
    for split in ["train", "t10k"] {
        _ = try write(labels, "mnist-truncated/\(split)-labels-idx1-ubyte")
        _ = try write(Array(images.prefix(1000)), "mnist-truncated/\(split)-images-idx3-ubyte")
        _ = try write(labels, "mnist-magic/\(split)-labels-idx1-ubyte")
        _ = try write(bigEndian(0x804) + Array(images.dropFirst(4)), "mnist-magic/\(split)-images-idx3-ubyte")
        _ = try write(labels, "mnist-empty/\(split)-labels-idx1-ubyte")
        _ = try write([], "mnist-empty/\(split)-images-idx3-ubyte")
    }
    for index in 1...5 { _ = try write([UInt8](repeating: 1, count: 3073 * 2), "cifar-truncated/data_batch_\(index).bin") }
    _ = try write([UInt8](repeating: 1, count: 3073 + 100), "cifar-truncated/test_batch.bin")
    try fm.createDirectory(at: root.appendingPathComponent("tiny/train"), withIntermediateDirectories: true)

    // Checkpoints: copies of a real one, damaged.
    let good = trainedRun.appendingPathComponent("checkpoint.safetensors")
    let bytes = [UInt8](try Data(contentsOf: good))
    func runFolder(_ name: String, checkpoint: [UInt8]) throws -> URL {
        let folder = root.appendingPathComponent(name)
        try fm.createDirectory(at: folder, withIntermediateDirectories: true)
        try fm.copyItem(at: trainedRun.appendingPathComponent("config.json"), to: folder.appendingPathComponent("config.json"))
        try Data(checkpoint).write(to: folder.appendingPathComponent("checkpoint.safetensors"))
        return folder
    }
    let truncated = try runFolder("run-truncated", checkpoint: Array(bytes.prefix(bytes.count / 2)))
    var absurd = bytes
    absurd.replaceSubrange(0..<8, with: [0, 0, 0, 0, 0, 0, 0, 0x7F])
    let absurdHeader = try runFolder("run-absurd-header", checkpoint: absurd)
    let foreign = root.appendingPathComponent("foreign.safetensors")
    try Checkpoint.save([("weight", Tensor.ones([2]))], to: foreign)
    let foreignRun = try runFolder("run-foreign", checkpoint: [UInt8](try Data(contentsOf: foreign)))
    // Metadata that claims width 2 over width-1 tensors: a shape mismatch.
    let loaded = try Checkpoint.load(from: good)
    var metadata = loaded.metadata
    metadata["edlcm.model"] = metadata["edlcm.model"]!.replacingOccurrences(
        of: "\"widthMultiplier\":1", with: "\"widthMultiplier\":2")
    let mismatched = root.appendingPathComponent("mismatch.safetensors")
    try Checkpoint.save(loaded.tensors.map { ($0.key, $0.value) }, metadata: metadata, to: mismatched)
    let mismatchRun = try runFolder("run-mismatch", checkpoint: [UInt8](try Data(contentsOf: mismatched)))
    let noCheckpoint = root.appendingPathComponent("run-empty")
    try fm.createDirectory(at: noCheckpoint, withIntermediateDirectories: true)

    // Configs.
    let unknownKey = try write(Array("members: 3\nlearning_rate: 0.1\n".utf8), "configs/unknown.yaml")
    let wrongType = try write(Array(#"{"epochs": "many"}"#.utf8), "configs/type.json")
    let badYAML = try write(Array("members: [3\n".utf8), "configs/broken.yaml")
    let badJSON = try write(Array(#"{"members": 3,"#.utf8), "configs/broken.json")
    let empty = try write([], "configs/empty.yaml")
    let outFile = try write(Array("precious".utf8), "precious.txt")
    let resumable = root.appendingPathComponent("resumable")
    try fm.copyItem(at: trainedRun, to: resumable)
    let resumableCheckpoint = resumable.appendingPathComponent("checkpoint.safetensors")
    let quota = root.appendingPathComponent("quota")

    // Hostile files (docs/reliability.md, "Limits"): the issue's two configs that crashed the
    // tool with a stack overflow, an exponential alias expansion, an oversized file, a gzip
    // bomb, and a run folder whose records nest too deep.
    let deepFlow = try write(
        Array(("a: " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "\n").utf8),
        "configs/deep.yaml")
    let deepBlock = try write(
        Array(("a:\n" + (1..<3000).map { String(repeating: "  ", count: $0) + "b:\n" }.joined()).utf8), "configs/deepmap.yaml")
    let deepBlockSmall = try write(
        Array(("a:\n" + (1..<300).map { String(repeating: "  ", count: $0) + "b:\n" }.joined()).utf8),
        "configs/deepmap-small.yaml")
    let laughs = try write(
        Array(
            (["a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
                + zip("bcdefgh", "abcdefg").map {
                    "\($0): &\($0) [" + Array(repeating: "*\($1)", count: 9).joined(separator: ", ") + "]"
                }).joined(separator: "\n").utf8), "configs/laughs.yaml")
    let deepJSON = try write(
        Array(("{\"a\": " + String(repeating: "[", count: 5000) + String(repeating: "]", count: 5000) + "}").utf8),
        "configs/deep.json")
    // 33 concatenated gzip members of 64 MiB of zeros each (2.1 GiB inflated, 2 MB on disk).
    let member = try Gzip.compress([UInt8](repeating: 0, count: 64 << 20), level: 9)
    let bomb = Array([[UInt8]](repeating: member, count: FileBytes.maxDatasetFileBytes / (64 << 20) + 1).joined())
    for split in ["train", "t10k"] {
        _ = try write(labels, "mnist-bomb/\(split)-labels-idx1-ubyte")
        _ = try write(bomb, "mnist-bomb/\(split)-images-idx3-ubyte.gz")
    }
    let base60 = try write(Array("members: 99999999999:59:59:59:59:59\n".utf8), "configs/base60.yaml")
    let deepRecord = root.appendingPathComponent("run-deep-record")
    try fm.copyItem(at: trainedRun, to: deepRecord)
    try Data(("[" + String(repeating: "{\"a\": [", count: 3000) + String(repeating: "]}", count: 3000) + "]\n").utf8)
        .write(to: deepRecord.appendingPathComponent("metrics.jsonl"))

    let train = ["train", "--members", "2", "--epochs", "1", "--train-limit", "256", "--batch-size", "64", "--test-limit", "100"]
    return [
        BadInput(
            name: "missing data folder",
            arguments: train + [
                "--dataset", "mnist", "--data-dir", root.appendingPathComponent("none").path, "--out",
                root.appendingPathComponent("o1").path,
            ], expected: "none"),
        BadInput(
            name: "truncated IDX",
            arguments: train + [
                "--dataset", "mnist", "--data-dir", root.appendingPathComponent("mnist-truncated").path, "--out",
                root.appendingPathComponent("o2").path,
            ], expected: "train-images-idx3-ubyte"),
        BadInput(
            name: "wrong IDX magic",
            arguments: train + [
                "--dataset", "mnist", "--data-dir", root.appendingPathComponent("mnist-magic").path, "--out",
                root.appendingPathComponent("o3").path,
            ], expected: "magic"),
        BadInput(
            name: "empty IDX",
            arguments: train + [
                "--dataset", "mnist", "--data-dir", root.appendingPathComponent("mnist-empty").path, "--out",
                root.appendingPathComponent("o4").path,
            ], expected: "train-images-idx3-ubyte"),
        BadInput(
            name: "truncated CIFAR batch",
            arguments: train + [
                "--dataset", "cifar10", "--data-dir", root.appendingPathComponent("cifar-truncated").path, "--out",
                root.appendingPathComponent("o5").path,
            ], expected: "test_batch.bin"),
        BadInput(
            name: "Tiny ImageNet without wnids.txt",
            arguments: train + [
                "--dataset", "tiny-imagenet", "--data-dir", root.appendingPathComponent("tiny").path, "--out",
                root.appendingPathComponent("o6").path,
            ], expected: "wnids.txt"),
        BadInput(
            name: "CIFAR without --data-dir",
            arguments: train + ["--dataset", "cifar10", "--out", root.appendingPathComponent("o7").path],
            expected: "--dataset cifar10 needs --data-dir"),
        BadInput(
            name: "missing run folder", arguments: ["analyze", "--run", root.appendingPathComponent("nothing").path],
            expected: "no such run folder"),
        BadInput(
            name: "run folder without checkpoint", arguments: ["analyze", "--run", noCheckpoint.path],
            expected: "no checkpoint.safetensors"),
        BadInput(
            name: "truncated checkpoint", arguments: ["analyze", "--run", truncated.path, "--samples", "10"],
            expected: "checkpoint.safetensors"),
        BadInput(
            name: "absurd header length", arguments: ["analyze", "--run", absurdHeader.path, "--samples", "10"],
            expected: "header"),
        BadInput(
            name: "foreign safetensors file", arguments: ["analyze", "--run", foreignRun.path, "--samples", "10"],
            expected: "not an EDLCM checkpoint"),
        BadInput(
            name: "checkpoint shape mismatch", arguments: ["analyze", "--run", mismatchRun.path, "--samples", "10"],
            expected: "the model expects"),
        BadInput(
            name: "resume with other settings", arguments: train + ["--lr", "0.3", "--out", resumable.path, "--resume"],
            expected: "the settings differ", untouched: [resumableCheckpoint]),
        BadInput(
            name: "new run over an existing one", arguments: train + ["--out", resumable.path], expected: "already holds a run",
            untouched: [resumableCheckpoint]),
        BadInput(
            name: "config with an unknown key",
            arguments: ["train", "--config", unknownKey.path, "--out", root.appendingPathComponent("o8").path],
            expected: "unknown key 'learning_rate'"),
        BadInput(
            name: "config with a wrong type",
            arguments: ["train", "--config", wrongType.path, "--out", root.appendingPathComponent("o9").path],
            expected: "wrong type at 'epochs'"),
        BadInput(
            name: "config that is not YAML",
            arguments: ["train", "--config", badYAML.path, "--out", root.appendingPathComponent("o10").path],
            expected: "broken.yaml"),
        BadInput(
            name: "config that is not JSON",
            arguments: ["train", "--config", badJSON.path, "--out", root.appendingPathComponent("o11").path],
            expected: "broken.json"),
        BadInput(
            name: "empty config", arguments: ["train", "--config", empty.path, "--out", root.appendingPathComponent("o12").path],
            expected: "the file is empty"),
        BadInput(
            name: "missing config",
            arguments: [
                "train", "--config", root.appendingPathComponent("nope.json").path, "--out",
                root.appendingPathComponent("o13").path,
            ], expected: "No such file or directory"),
        BadInput(
            name: "unknown method",
            arguments: ["train", "--method", "wizardry", "--out", root.appendingPathComponent("o14").path],
            expected: "'wizardry' is invalid for '--method"),
        BadInput(
            name: "one member", arguments: ["train", "--members", "1", "--out", root.appendingPathComponent("o15").path],
            expected: "--members must be at least 2"),
        BadInput(
            name: "negative h",
            arguments: ["train", "--method", "edlcm", "--h=-1", "--out", root.appendingPathComponent("o16").path],
            expected: "--h must be a positive number"),
        BadInput(
            name: "--out is a file", arguments: train + ["--out", outFile.path], expected: "is a file, not a folder",
            untouched: [outFile]),
        BadInput(name: "unwritable output folder", arguments: train + ["--out", "/proc/edlcm-run"], expected: "/proc/edlcm-run"),
        BadInput(
            name: "disk full (file size limit)", arguments: [], expected: "File too large",
            shell: "ulimit -f 1500; exec \(edlcmBinary) \((train + ["--out", quota.path]).joined(separator: " "))"),
        BadInput(
            name: "config nested 5000 deep (flow)",
            arguments: ["train", "--config", deepFlow.path, "--epochs", "1", "--out", root.appendingPathComponent("o19").path],
            expected: "deep.yaml: line 1: nested deeper than 64 levels, the limit"),
        BadInput(
            name: "config nested 3000 deep (block, 9 MB)",
            arguments: ["train", "--config", deepBlock.path, "--epochs", "1", "--out", root.appendingPathComponent("o20").path],
            expected: "deepmap.yaml: 9006000 bytes, more than the limit of 4194304"),
        BadInput(
            name: "config nested 300 deep (block)",
            arguments: ["train", "--config", deepBlockSmall.path, "--out", root.appendingPathComponent("o21").path],
            expected: "deepmap-small.yaml: line 65: nested deeper than 64 levels, the limit"),
        BadInput(
            name: "config whose aliases expand to 9^7 values",
            arguments: ["train", "--config", laughs.path, "--out", root.appendingPathComponent("o22").path],
            expected: "laughs.yaml: line 5: more than 10000 values (aliases expanded), the limit"),
        BadInput(
            name: "JSON config nested 5000 deep",
            arguments: ["train", "--config", deepJSON.path, "--out", root.appendingPathComponent("o23").path],
            expected: "deep.json: nested deeper than 64 levels, the limit"),
        BadInput(
            name: "gzip bomb in a dataset",
            arguments: train + [
                "--dataset", "mnist", "--data-dir", root.appendingPathComponent("mnist-bomb").path, "--out",
                root.appendingPathComponent("o24").path,
            ], expected: "gzip data inflates to more than 2147483648 bytes, the limit for a dataset file"),
        BadInput(
            name: "run folder with a deeply nested metrics line",
            arguments: ["report", deepRecord.path, "--out", root.appendingPathComponent("deep.html").path],
            expected: "metrics.jsonl: line 1: nested deeper than 64 levels, the limit"),
        BadInput(
            name: "config with a base-60 integer past Int64 (crashed Yams)",
            arguments: ["train", "--config", base60.path, "--out", root.appendingPathComponent("o25").path],
            expected: "base60.yaml: line 1: wrong type at 'members'"),
        BadInput(
            name: "zero threads", arguments: train + ["--threads", "0", "--out", root.appendingPathComponent("o17").path],
            expected: "--threads must be in 1...1024"),
        BadInput(
            name: "unknown device", arguments: train + ["--device", "gpu", "--out", root.appendingPathComponent("o26").path],
            expected: "the value 'gpu' is invalid for '--device': expected auto|cpu|cuda|cuda:N"),
        BadInput(
            name: "a GPU this machine's libtorch cannot use",
            arguments: train + ["--device", "cuda:99", "--out", root.appendingPathComponent("o27").path],
            expected: "--device cuda:99 is not available: "),
        BadInput(
            name: "train limit below the batch",
            arguments: ["train", "--train-limit", "10", "--out", root.appendingPathComponent("o18").path],
            expected: "--train-limit must be at least the batch size"),
        BadInput(
            name: "analysis of zero samples", arguments: ["analyze", "--run", trainedRun.path, "--samples", "0"],
            expected: "--samples must be at least 1"),
        BadInput(
            name: "analysis output is a folder", arguments: ["analyze", "--run", trainedRun.path, "--out", root.path],
            expected: "is a folder, not a file"),
        BadInput(
            name: "launch of zero processes", arguments: ["launch", "--nproc", "0", "--", "train"],
            expected: "--nproc must be in 1...64"),
        BadInput(
            name: "launch on an unknown backend", arguments: ["launch", "--nproc", "2", "--backend", "mpi", "--", "train"],
            expected: "--backend must be auto, gloo or nccl, got 'mpi'"),
        BadInput(name: "bench with zero steps", arguments: ["bench", "--steps", "0"], expected: "--steps must be at least 1"),
    ]
}

@Suite(
    "Bad input: one-line errors, non-zero exits, nothing overwritten",
    .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"))
struct BadInputTests {
    @Test func everyCatalogueEntryFailsCleanly() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let trained = root.appendingPathComponent("trained")
        let made = try runProcess(
            edlcmBinary,
            [
                "train", "--members", "2", "--epochs", "1", "--train-limit", "256", "--batch-size", "64", "--test-limit", "100",
                "--out", trained.path,
            ])
        try #require(made.status == 0, "\(made.output)")
        let catalogue = try badInputCatalogue(root: root, trainedRun: trained)
        #expect(catalogue.count >= 25)
        for entry in catalogue {
            let before = try entry.untouched.map { try Data(contentsOf: $0) }
            let result =
                try entry.shell.map { try runProcess("/bin/bash", ["-c", $0]) } ?? runProcess(edlcmBinary, entry.arguments)
            let output = result.output
            #expect(result.status != 0, "\(entry.name): exit status 0")
            let lines = output.split(separator: "\n", omittingEmptySubsequences: true).filter {
                !$0.hasPrefix("epoch ") && !$0.contains(" info ") && !$0.contains("warning")
            }
            #expect(lines.count == 1, "\(entry.name): \(output)")
            #expect(lines.first?.hasPrefix("edlcm: error: ") == true, "\(entry.name): \(output)")
            #expect(output.contains(entry.expected), "\(entry.name): \(output)")
            #expect(!output.contains("Fatal error") && !output.contains("Stack dump"), "\(entry.name): \(output)")
            for (url, data) in zip(entry.untouched, before) {
                #expect(try Data(contentsOf: url) == data, "\(entry.name) changed \(url.path)")
            }
        }
    }
}
