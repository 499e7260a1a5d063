import Foundation
import TestSupport
import Testing

@testable import Torch

@Suite("Distributed: c10d process groups on loopback (Gloo), the backend choice and NCCL's errors", .serialized)
struct ProcessGroupTests {
    /// A free TCP port on loopback.
    static func freePort() -> Int {
        Int.random(in: 20000..<60000)
    }

    @Test func twoRanksAllReduceAndBroadcast() throws {
        let port = Self.freePort()
        let results = try runRanks(2) { rank in
            let group = try ProcessGroup(masterAddress: "127.0.0.1", port: port, rank: rank, size: 2, timeout: .seconds(30))
            let a = Tensor([Float(rank + 1), 10 * Float(rank + 1)])
            let b = Tensor([Double(rank)], shape: [1, 1])
            try group.allReduceSum([a, b])
            let c = Tensor([Int64(rank == 0 ? 7 : -1)])
            try group.broadcast([c], from: 0)
            try group.barrier()
            return a.scalars(as: Double.self) + b.scalars(as: Double.self) + c.scalars(as: Double.self)
        }
        #expect(results[0] == [3, 30, 1, 7])
        #expect(results[1] == [3, 30, 1, 7])
    }

    @Test func environmentErrorsNameTheVariable() {
        #expect(
            throws: TorchError("distributed: the environment variable RANK is not set (launch with torchrun or edlcm launch)")
        ) {
            _ = try ProcessGroup(environment: ["WORLD_SIZE": "2"])
        }
        #expect(throws: TorchError("distributed: WORLD_SIZE='two' is not an integer")) {
            _ = try ProcessGroup(environment: ["RANK": "0", "WORLD_SIZE": "two"])
        }
        #expect(throws: TorchError("distributed: rank 3 is outside 0..<2")) {
            _ = try ProcessGroup(masterAddress: "127.0.0.1", port: 29500, rank: 3, size: 2)
        }
    }

    @Test func theBackendIsNCCLOnGPUsAndGlooOnTheCPUUnlessTheEnvironmentSays() throws {
        #expect(try ProcessGroup.backend(environment: [:], device: .cpu) == .gloo)
        #expect(try ProcessGroup.backend(environment: [:], device: .cuda(1)) == .nccl)
        #expect(try ProcessGroup.backend(environment: ["EDLCM_DISTRIBUTED_BACKEND": "GLOO"], device: .cuda(0)) == .gloo)
        #expect(try ProcessGroup.backend(environment: ["EDLCM_DISTRIBUTED_BACKEND": "nccl"], device: .cpu) == .nccl)
        #expect(throws: TorchError("distributed: EDLCM_DISTRIBUTED_BACKEND='mpi' is not gloo or nccl")) {
            _ = try ProcessGroup.backend(environment: ["EDLCM_DISTRIBUTED_BACKEND": "mpi"], device: .cpu)
        }
    }

    @Test func localRankIsTorchrunsVariable() throws {
        #expect(try ProcessGroup.localRank(environment: [:]) == 0)
        #expect(try ProcessGroup.localRank(environment: ["LOCAL_RANK": "3"]) == 3)
        #expect(throws: TorchError("distributed: LOCAL_RANK='x' is not an integer")) {
            _ = try ProcessGroup.localRank(environment: ["LOCAL_RANK": "x"])
        }
        #expect(throws: TorchError("distributed: LOCAL_RANK='-1' is negative")) {
            _ = try ProcessGroup.localRank(environment: ["LOCAL_RANK": "-1"])
        }
    }

    @Test func theNCCLPluginIsFoundBesideTheExecutableOrInItsLibFolder() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("nccl-plugin-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let bin = root.appendingPathComponent("bin")
        try FileManager.default.createDirectory(at: bin, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: root.appendingPathComponent("lib"), withIntermediateDirectories: true)
        let executable = bin.appendingPathComponent("edlcm")
        #expect(
            throws: TorchError(
                "distributed: NCCL needs the plug-in libedlcm_nccl.so, not found at \(bin.path)/libedlcm_nccl.so or \(root.path)/lib/libedlcm_nccl.so (build it with scripts/nccl-plugin.sh, or set EDLCM_NCCL_PLUGIN, or EDLCM_DISTRIBUTED_BACKEND=gloo to stage collectives through host memory)"
            )
        ) {
            _ = try ProcessGroup.ncclPluginPath(environment: [:], executable: executable)
        }
        let inLib = root.appendingPathComponent("lib/libedlcm_nccl.so")
        try Data().write(to: inLib)
        #expect(try ProcessGroup.ncclPluginPath(environment: [:], executable: executable) == inLib.path)
        let beside = bin.appendingPathComponent("libedlcm_nccl.so")
        try Data().write(to: beside)
        #expect(try ProcessGroup.ncclPluginPath(environment: [:], executable: executable) == beside.path)
        #expect(
            try ProcessGroup.ncclPluginPath(environment: ["EDLCM_NCCL_PLUGIN": inLib.path], executable: executable) == inLib.path)
        #expect(throws: TorchError("distributed: EDLCM_NCCL_PLUGIN='/nonexistent/p.so': no such file")) {
            _ = try ProcessGroup.ncclPluginPath(environment: ["EDLCM_NCCL_PLUGIN": "/nonexistent/p.so"], executable: executable)
        }
    }

    @Test func ncclRefusesTheCPUAndSaysWhatItLacks() throws {
        #expect(throws: TorchError("distributed: NCCL runs between GPUs; rank 0 is on cpu (use the gloo backend)")) {
            _ = try ProcessGroup(masterAddress: "127.0.0.1", port: 29500, rank: 0, size: 1, backend: .nccl, device: .cpu)
        }
        // Without a GPU: a build on libtorch 1.x, or libtorch's CUDA library not loadable, is said
        // before any plug-in or rendezvous is tried; with CUDA's libraries, the missing plug-in is.
        let port = Self.freePort()
        do {
            _ = try ProcessGroup(
                masterAddress: "127.0.0.1", port: port, rank: 0, size: 1, backend: .nccl, device: .cuda(0),
                ncclPlugin: "/nonexistent/libedlcm_nccl.so")
            Issue.record("an NCCL group was made on a machine without CUDA")
        } catch let error as TorchError {
            let prefix = "distributed: rank 0 of 1 could not join 127.0.0.1:\(port) (nccl): "
            let expected =
                if Runtime.libtorchVersion.hasPrefix("1.") {
                    prefix + "NCCL needs an edlcm built on libtorch 2.x (this one is on libtorch \(Runtime.libtorchVersion))"
                } else if (try? Device.loadCUDA()) == nil {
                    prefix + "NCCL needs libtorch's CUDA library: "
                } else {
                    prefix + "the NCCL plug-in cannot be loaded: /nonexistent/libedlcm_nccl.so: "
                }
            #expect(error.message.hasPrefix(expected), "\(error.message)")
        }
        #expect(ProcessGroup.ncclSupported == !Runtime.libtorchVersion.hasPrefix("1."))
        if !ProcessGroup.ncclSupported {
            // Said before the plug-in is looked for (none is given here, none exists).
            #expect(
                throws: TorchError(
                    "distributed: rank 0 of 1 could not join 127.0.0.1:\(port) (nccl): NCCL needs an edlcm built on libtorch 2.x (this one is on libtorch \(Runtime.libtorchVersion))"
                )
            ) {
                _ = try ProcessGroup(masterAddress: "127.0.0.1", port: port, rank: 0, size: 1, backend: .nccl, device: .cuda(0))
            }
        }
    }

    /// The plug-in path short of a GPU: libtorch's CUDA libraries load, the plug-in loads and matches
    /// this torch, the rendezvous runs, and ProcessGroupNCCL's construction runs in libtorch_cuda,
    /// which answers that there is no GPU. Needs a 2.x build, that torch's CUDA wheels and a plug-in
    /// built for it (docs/distributed.md says how it was run); a GPU machine runs the real thing
    /// (scripts/gpu-check.sh).
    @Test(
        .enabled(
            if: ProcessInfo.processInfo.environment["EDLCM_TEST_NCCL_PLUGIN"] != nil,
            "set EDLCM_TEST_NCCL_PLUGIN to a plug-in built for this torch, whose CUDA wheels are installed"))
    func theNCCLPluginLoadsAndReachesProcessGroupNCCLWithoutAGPU() throws {
        let plugin = ProcessInfo.processInfo.environment["EDLCM_TEST_NCCL_PLUGIN"] ?? ""
        try Device.loadCUDA()
        try #require(Device.cudaDeviceCount == 0, "a machine without a GPU")
        let port = Self.freePort()
        let prefix = "distributed: rank 0 of 1 could not join 127.0.0.1:\(port) (nccl): "
        do {
            _ = try ProcessGroup(
                masterAddress: "127.0.0.1", port: port, rank: 0, size: 1, backend: .nccl, device: .cuda(0), ncclPlugin: plugin)
            Issue.record("an NCCL group was made without a GPU")
        } catch let error as TorchError {
            #expect(error.message.hasPrefix(prefix + "ProcessGroupNCCL: "), "\(error.message)")
        }
        #expect(throws: TorchError(prefix + "/lib/x86_64-linux-gnu/libz.so.1 is not an edlcm NCCL plug-in")) {
            _ = try ProcessGroup(
                masterAddress: "127.0.0.1", port: port, rank: 0, size: 1, backend: .nccl, device: .cuda(0),
                ncclPlugin: "/lib/x86_64-linux-gnu/libz.so.1")
        }
    }

    @Test func aMissingPeerIsAnErrorWithinTheTimeout() throws {
        let start = Date()
        #expect(throws: TorchError.self) {
            _ = try ProcessGroup(masterAddress: "127.0.0.1", port: Self.freePort(), rank: 0, size: 2, timeout: .seconds(2))
        }
        #expect(Date().timeIntervalSince(start) < 20)
    }
}

/// Runs `body` for each rank on its own thread and returns the results in rank order.
func runRanks<Value: Sendable>(_ count: Int, _ body: @escaping @Sendable (Int) throws -> Value) throws -> [Value] {
    let box = RankResults<Value>()
    let group = DispatchGroup()
    for rank in 0..<count {
        group.enter()
        Thread.detachNewThread {
            let result = Swift.Result { try body(rank) }
            box.lock.lock()
            box.results[rank] = result
            box.lock.unlock()
            group.leave()
        }
    }
    group.wait()
    return try (0..<count).map { try box.results[$0]!.get() }
}

final class RankResults<Value>: @unchecked Sendable {
    var results: [Int: Result<Value, any Error>] = [:]
    let lock = NSLock()
}
