import Foundation
import TestSupport
import Testing

/// The bundle `make dist` builds (EDLCM_DIST_BUNDLE: its folder; EDLCM_DIST_TORCH: the torch/
/// folder it was built against), on this CPU machine: `make test-dist` builds and runs it.
@Suite(
    "make dist: the self-contained binary",
    .enabled(if: ProcessInfo.processInfo.environment["EDLCM_DIST_BUNDLE"] != nil, "set by make test-dist"))
struct DistBundleTests {
    let bundle = ProcessInfo.processInfo.environment["EDLCM_DIST_BUNDLE"] ?? ""
    let torch = ProcessInfo.processInfo.environment["EDLCM_DIST_TORCH"] ?? ""

    @Test("it starts, trains a small EDLCM run on the CPU, writes a checkpoint PyTorch's names load from")
    func trainsOnTheCPU() throws {
        let launcher = bundle + "/edlcm"
        var environment = ProcessInfo.processInfo.environment
        environment["EDLCM_TORCH"] = torch
        let version = try runProcess(launcher, ["--version"], environment: environment)
        #expect(version.status == 0 && version.output.hasPrefix("0."))
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let out = folder.appendingPathComponent("run").path
        let run = try runProcess(
            launcher,
            [
                "train", "--method", "edlcm", "--members", "2", "--epochs", "1", "--train-limit", "256", "--threads", "1",
                "--device", "cpu", "--out", out,
            ],
            environment: environment)
        #expect(run.status == 0, "\(run.output)")
        #expect(FileManager.default.fileExists(atPath: out + "/checkpoint.safetensors"))
        let record = try String(contentsOfFile: out + "/config.json", encoding: .utf8)
        #expect(record.contains(#""libtorch_version" : "2."#))
    }

    @Test("it ships the NCCL plug-in where edlcm looks for it, and a CPU machine's NCCL job says why it cannot run")
    func shipsTheNCCLPlugin() throws {
        let plugin = bundle + "/lib/libedlcm_nccl.so"
        try #require(FileManager.default.fileExists(atPath: torch + "/lib/libtorch_cuda.so"), "a CUDA torch gets the plug-in")
        try #require(FileManager.default.fileExists(atPath: plugin))
        let symbols = try runProcess("/usr/bin/nm", ["-D", "--defined-only", plugin])
        for name in ["edlcm_nccl_abi", "edlcm_nccl_torch_version", "edlcm_nccl_create"] {
            #expect(symbols.output.contains(" T \(name)\n"), "\(name): \(symbols.output)")
        }
        var environment = ProcessInfo.processInfo.environment
        environment["EDLCM_TORCH"] = torch
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        // Without a GPU (or with libtorch's CUDA libraries missing, as in .venv-torch2), the job stops
        // before any rendezvous, saying why (the plug-in's search is ProcessGroupTests', on the
        // bundle's bin/ and lib/ layout).
        let job = try runProcess(
            bundle + "/edlcm",
            [
                "launch", "--nproc", "1", "--backend", "nccl", "--", "train", "--members", "2", "--epochs", "1", "--train-limit",
                "256", "--device", "cuda", "--out", folder.appendingPathComponent("run").path,
            ],
            environment: environment)
        #expect(job.status == 1, "\(job.output)")
        #expect(job.output.contains("edlcm: error: --device cuda:0 is not available: "), "\(job.output)")
    }

    @Test("it refuses a PyTorch of another version, and a machine without one, in one line")
    func refusesAnotherTorch() throws {
        var environment = ProcessInfo.processInfo.environment
        environment["EDLCM_TORCH"] = "/nonexistent"
        let missing = try runProcess(bundle + "/edlcm", ["--version"], environment: environment)
        #expect(missing.status == 1 && missing.output.hasPrefix("edlcm: no PyTorch found"))
        if FileManager.default.fileExists(atPath: "/usr/lib/python3/dist-packages/torch/version.py") {
            environment["EDLCM_TORCH"] = "/usr/lib/python3/dist-packages/torch"
            let other = try runProcess(bundle + "/edlcm", ["--version"], environment: environment)
            #expect(other.status == 1 && other.output.contains("this bundle was built against torch"))
        }
    }
}
