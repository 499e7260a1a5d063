import Foundation
import TestSupport
import Testing

@testable import Torch

/// The Python that has PyTorch and the safetensors package: `EDLCM_TEST_PYTHON`, or the virtual
/// environment that `make test` creates at the repository root.
let interopPython: String? = {
    if let path = ProcessInfo.processInfo.environment["EDLCM_TEST_PYTHON"] { return path }
    let venv = repositoryRoot.appendingPathComponent(".venv/bin/python").path
    return FileManager.default.isExecutableFile(atPath: venv) ? venv : nil
}()

@Suite("Checkpoints in safetensors format")
struct CheckpointTests {
    @Test func roundTripIsBitIdentical() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let url = directory.appendingPathComponent("checkpoint.safetensors")
        let tensors: [NamedTensor] = [
            ("a.weight", Tensor.randn([3, 4])),
            ("b.double", Tensor([Double.pi, -0.0, .infinity, .nan])),
            ("c.steps", Tensor([Int64.max, Int64.min, 0])),
            ("d.mask", Tensor([true, false])),
            ("e.bytes", Tensor([UInt8(0), 7, 255], shape: [3, 1])),
            ("f.scalar", Tensor(2.5)),
            ("g.half", Tensor([1.0, -2.5, 65504]).converted(to: .float16)),
            ("h.int32", Tensor([Int32.min, 1])),
        ]
        let metadata = ["arch": "cnn", "config": "{\"members\": 3}", "note": "ünïcode\nline"]
        try Checkpoint.save(tensors, metadata: metadata, to: url)
        let (loaded, loadedMetadata) = try Checkpoint.load(from: url)
        #expect(loadedMetadata == metadata)
        #expect(Set(loaded.keys) == Set(tensors.map(\.name)))
        for (name, tensor) in tensors {
            let copy = try #require(loaded[name])
            #expect(copy.shape == tensor.shape, "\(name)")
            #expect(copy.dtype == tensor.dtype, "\(name)")
            let original = try Checkpoint.entry(for: tensor, name: name, path: "").data
            let reread = try Checkpoint.entry(for: copy, name: name, path: "").data
            #expect(original == reread, "\(name) bytes differ")
        }
    }

    @Test func errorsNameTheFile() throws {
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let missing = directory.appendingPathComponent("none.safetensors")
        #expect {
            _ = try Checkpoint.load(from: missing)
        } throws: { error in
            (error as? TorchError)?.message.contains(missing.path) == true
        }
        let truncated = directory.appendingPathComponent("truncated.safetensors")
        try Checkpoint.save([("w", Tensor.ones([16]))], to: truncated)
        let bytes = try Data(contentsOf: truncated)
        try bytes.prefix(bytes.count - 5).write(to: truncated)
        #expect {
            _ = try Checkpoint.load(from: truncated)
        } throws: { error in
            let message = (error as? TorchError)?.message ?? ""
            return message.contains(truncated.path) && message.contains("tensor \"w\"")
        }
        #expect(throws: TorchError("\(directory.path)/x: tensor 'w' appears twice")) {
            try Checkpoint.save([("w", Tensor.ones([1])), ("w", Tensor.ones([1]))], to: directory.appendingPathComponent("x"))
        }
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("x").path))
    }

    /// The real client of the format: PyTorch loads a module checkpoint written here, bit for bit,
    /// into the equivalent `torch.nn.Sequential`, and computes the same outputs.
    @Test(.enabled(if: interopPython != nil, "needs Python with torch and safetensors (make test creates .venv)"))
    func pytorchLoadsOurCheckpoints() throws {
        let python = try #require(interopPython)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let model = Sequential([
            Conv2d(inChannels: 1, outChannels: 4, kernelSize: 3, padding: 1), BatchNorm2d(channels: 4), ReLU(),
            MaxPool2d(kernelSize: 2), Flatten(), Linear(inputCount: 4 * 4 * 4, outputCount: 3),
        ])
        let input = Tensor.rand([2, 1, 8, 8])
        _ = model(input)  // one training-mode pass so that the BatchNorm buffers are not trivial
        model.eval()
        let output = model(input)
        let checkpoint = directory.appendingPathComponent("model.safetensors")
        try Checkpoint.save(
            model.stateTensors() + [("input", input), ("output", output)], metadata: ["format": "pt"], to: checkpoint)

        let script = """
            import sys, torch
            from safetensors.torch import load_file, save_file
            from safetensors import safe_open
            tensors = load_file(sys.argv[1])
            with safe_open(sys.argv[1], framework="pt") as f:
                assert f.metadata() == {"format": "pt"}, f.metadata()
            net = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
                                      torch.nn.MaxPool2d(2), torch.nn.Flatten(), torch.nn.Linear(64, 3))
            state = {k: v for k, v in tensors.items() if k not in ("input", "output")}
            net.load_state_dict(state, strict=True)
            net.eval()
            with torch.no_grad():
                out = net(tensors["input"])
            err = (out - tensors["output"]).abs().max().item()
            assert err < 1e-5, err
            assert tensors["1.num_batches_tracked"].item() == 1
            save_file({k: v.contiguous() for k, v in tensors.items()}, sys.argv[2])
            print("max-abs-error", err)
            """
        let scriptURL = directory.appendingPathComponent("check.py")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let back = directory.appendingPathComponent("back.safetensors")
        let result = try runProcess(python, [scriptURL.path, checkpoint.path, back.path])
        #expect(result.status == 0, "python: \(result.output)")
        #expect(result.output.contains("max-abs-error"))

        // What PyTorch wrote back is bit-identical to what we wrote.
        let (returned, _) = try Checkpoint.load(from: back)
        for (name, tensor) in model.stateTensors() + [("input", input), ("output", output)] {
            let copy = try #require(returned[name])
            #expect(
                try Checkpoint.entry(for: copy, name: name, path: "").data
                    == Checkpoint.entry(for: tensor, name: name, path: "").data, "\(name)")
        }
    }
}

@Suite("Runtime")
struct RuntimeTests {
    @Test func threadCountCanBeSet() throws {
        let original = Runtime.threadCount
        try Runtime.setThreadCount(2)
        #expect(Runtime.threadCount == 2)
        try Runtime.setThreadCount(original)
        #expect(throws: TorchError("thread count must be at least 1, got 0")) { try Runtime.setThreadCount(0) }
        #expect(Runtime.availableCores >= 1)
    }

    /// The engine may be Debian's 1.13 or a PyTorch 2.x (LIBTORCH=): the version is a release number
    /// of at least 1.13.
    @Test func versionIsAReleaseOfAtLeast113() throws {
        let parts = Runtime.libtorchVersion.split(separator: ".").prefix(2).map { Int($0.prefix { $0.isNumber }) }
        try #require(parts.count == 2 && parts.allSatisfy { $0 != nil }, "\(Runtime.libtorchVersion)")
        #expect((parts[0]!, parts[1]!) >= (1, 13), "\(Runtime.libtorchVersion)")
    }

    @Test func randomStateRestoresTheSequence() throws {
        Runtime.seed(42)
        let state = Runtime.randomState()
        let first = Tensor.randn([8]).scalars(as: Float.self)
        _ = Tensor.randn([100])
        try Runtime.setRandomState(state)
        #expect(Tensor.randn([8]).scalars(as: Float.self) == first)
        #expect(throws: TorchError.self) { try Runtime.setRandomState(Tensor.zeros([3])) }
    }

    /// The vector instructions read from the processor's flags are the ones oneDNN itself says it
    /// compiles its kernels for: its log (`ONEDNN_VERBOSE=1`) in a PyTorch process that runs one
    /// convolution large enough to take oneDNN's path, "isa:Intel AVX-512 with …" or "isa:Intel AVX2".
    @Test(
        .enabled(if: interopPython != nil, "needs Python with torch (make test creates .venv)"),
        .enabled(if: ["ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"].allSatisfy { ProcessInfo.processInfo.environment[$0] == nil }))
    func vectorExtensionsAreOneDNNs() throws {
        let python = try #require(interopPython)
        let script = """
            import torch
            torch.set_num_threads(1)
            torch.nn.functional.conv2d(torch.randn(8, 16, 32, 32), torch.randn(16, 16, 3, 3))
            """
        let result = try runProcess(python, ["-c", script], environment: ["ONEDNN_VERBOSE": "1", "DNNL_VERBOSE": "1"])
        try #require(result.status == 0, "\(result.output)")
        let line = try #require(result.output.split(separator: "\n").first { $0.contains(",isa:") }, "\(result.output)")
        let isa = String(line.split(separator: ",isa:", maxSplits: 1)[1])
        let extensions = try #require(Runtime.vectorExtensions)
        #expect(isa == "Intel \(extensions)" || isa.hasPrefix("Intel \(extensions) "), "oneDNN: \(isa)")
    }

    @Test func cudaIsAbsentInDebiansBuild() {
        #expect(Device.cudaDeviceCount == 0)
        #expect(throws: TorchError.self) { _ = try Tensor.zeros([1]).moved(to: .cuda(0)) }
        #expect(Device.cuda(1).description == "cuda:1")
    }
}

@Suite("Programmer errors stop with libtorch's message")
struct ProgrammerErrorTests {
    @Test func shapeMismatchStopsWithMessage() async {
        await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = Tensor.ones([2, 3]) + Tensor.ones([4])
        }
    }

    @Test func wrongDtypeStopsWithMessage() async {
        let result = await #expect(processExitsWith: .failure, observing: [\.standardErrorContent]) {
            _ = crossEntropy(logits: Tensor.ones([2, 3]), labels: Tensor.ones([2]))
        }
        let message = String(decoding: result?.standardErrorContent ?? [], as: UTF8.self)
        #expect(message.contains("cross_entropy"))
        // libtorch's own words: 1.13 "expected scalar type Long but found Float", 2.x "expected
        // target dtype to be Long or Byte, but got Float".
        #expect(message.contains("expected scalar type Long") || message.contains("expected target dtype to be Long"))
        #expect(message.contains("Float"))
    }
}
