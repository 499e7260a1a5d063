import CTorch
import Foundation

/// Which of c10d's backends carries a ``ProcessGroup``'s collectives.
public enum DistributedBackend: String, Sendable, CaseIterable {
    /// ProcessGroupGloo: collectives in host memory (tensors on a GPU are staged through it, one copy
    /// each way per bucket); every build, every device.
    case gloo
    /// ProcessGroupNCCL: collectives from GPU to GPU, one GPU per rank; libtorch 2.x builds with the
    /// NCCL plug-in (`libedlcm_nccl.so`, scripts/nccl-plugin.sh), CUDA devices only.
    case nccl
}

/// A group of processes that exchange tensors through PyTorch's own distributed engine (c10d):
/// a TCPStore rendezvous hosted by rank 0, then ProcessGroupGloo or ProcessGroupNCCL collectives.
///
/// The same environment `torchrun` sets (`MASTER_ADDR`, `MASTER_PORT`, `RANK`, `WORLD_SIZE`,
/// `LOCAL_RANK`) is read by ``init(environment:timeout:device:)``, so the usual launch habits work.
public final class ProcessGroup: @unchecked Sendable {
    let handle: OpaquePointer
    /// This process's rank, 0..<size.
    public let rank: Int
    /// The number of processes.
    public let size: Int
    /// The backend carrying the collectives.
    public let backend: DistributedBackend

    /// Joins a group; blocks until all `size` ranks have joined or `timeout` passes.
    ///
    /// - Parameters:
    ///   - masterAddress: the host of rank 0's TCPStore.
    ///   - port: its port.
    ///   - rank: this process's rank.
    ///   - size: the number of processes.
    ///   - timeout: how long rendezvous and each collective may wait for the others.
    ///   - interface: a network interface for Gloo (PyTorch's `GLOO_SOCKET_IFNAME`); nil binds to
    ///     `hostname`.
    ///   - hostname: the address Gloo binds to when no interface is given; nil binds to loopback
    ///     when the master is local (`localhost`, `127.0.0.1`) and otherwise, as PyTorch does, to
    ///     the address this machine's hostname resolves to, so that other machines reach it.
    ///   - backend: Gloo (default) or NCCL; NCCL ignores `interface` and `hostname` (it reads
    ///     NCCL's own variables, such as `NCCL_SOCKET_IFNAME`).
    ///   - device: the GPU this rank's NCCL collectives run on (NCCL only; each rank its own).
    ///   - ncclPlugin: the NCCL plug-in to load, asked for only when an NCCL group is made; by
    ///     default found as ``ncclPluginPath(environment:executable:)`` finds it.
    /// - Throws: ``TorchError`` when rendezvous fails (a rank missing, a port taken, a timeout), or,
    ///   for NCCL, when the device is not a GPU or the plug-in or CUDA cannot be loaded.
    public init(
        masterAddress: String, port: Int, rank: Int, size: Int, timeout: Duration = .seconds(60),
        interface: String? = nil, hostname: String? = nil, backend: DistributedBackend = .gloo, device: Device = .cpu,
        ncclPlugin: @autoclosure () throws -> String = try ProcessGroup.ncclPluginPath()
    ) throws {
        guard size >= 1, (0..<size).contains(rank) else { throw TorchError("distributed: rank \(rank) is outside 0..<\(size)") }
        guard (1...65535).contains(port) else { throw TorchError("distributed: port \(port) is outside 1...65535") }
        let milliseconds = Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var out: OpaquePointer?
        let status: Int32
        switch backend {
        case .gloo:
            status = ct_process_group_create(
                masterAddress, Int32(port), Int32(rank), Int32(size), milliseconds, interface,
                hostname ?? (["localhost", "127.0.0.1"].contains(masterAddress) ? "127.0.0.1" : nil), &out)
        case .nccl:
            guard case .cuda(let index) = device else {
                throw TorchError("distributed: NCCL runs between GPUs; rank \(rank) is on \(device) (use the gloo backend)")
            }
            // A build that cannot make NCCL groups says so (in C) before any plug-in is looked for.
            let plugin = Self.ncclSupported ? try ncclPlugin() : ""
            status = ct_process_group_create_nccl(
                masterAddress, Int32(port), Int32(rank), Int32(size), milliseconds, Int32(index), plugin, &out)
        }
        guard status == 0, let out else {
            throw TorchError(
                "distributed: rank \(rank) of \(size) could not join \(masterAddress):\(port) (\(backend.rawValue)): \(lastTorchError())"
            )
        }
        handle = out
        self.rank = rank
        self.size = size
        self.backend = backend
    }

    /// Joins the group described by torchrun's variables: `MASTER_ADDR` (default 127.0.0.1),
    /// `MASTER_PORT` (default 29500), `RANK`, `WORLD_SIZE`, and `GLOO_SOCKET_IFNAME` if set.
    ///
    /// The backend is NCCL when `device` is a GPU and Gloo on the CPU, as torch.distributed's
    /// default backend is; `EDLCM_DISTRIBUTED_BACKEND` (`gloo` or `nccl`) chooses it instead
    /// (`gloo` stages a GPU's collectives through host memory and needs no plug-in).
    ///
    /// - Throws: ``TorchError`` naming a missing or malformed variable, or a failed rendezvous.
    public convenience init(
        environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(60),
        device: Device = .cpu
    ) throws {
        let backend = try Self.backend(environment: environment, device: device)
        try self.init(
            masterAddress: environment["MASTER_ADDR"] ?? "127.0.0.1",
            port: try Self.integer("MASTER_PORT", in: environment, default: 29500),
            rank: try Self.integer("RANK", in: environment), size: try Self.integer("WORLD_SIZE", in: environment),
            timeout: timeout, interface: environment["GLOO_SOCKET_IFNAME"], backend: backend, device: device,
            ncclPlugin: try Self.ncclPluginPath(environment: environment))
    }

    /// This process's rank among those on its machine: torchrun's `LOCAL_RANK`, 0 when unset.
    ///
    /// - Throws: ``TorchError`` when it is set but not an integer ≥ 0.
    public static func localRank(environment: [String: String] = ProcessInfo.processInfo.environment) throws -> Int {
        let rank = try integer("LOCAL_RANK", in: environment, default: 0)
        guard rank >= 0 else { throw TorchError("distributed: LOCAL_RANK='\(rank)' is negative") }
        return rank
    }

    /// The backend for collectives on `device`: `EDLCM_DISTRIBUTED_BACKEND` when set, else NCCL for
    /// a GPU and Gloo for the CPU.
    ///
    /// - Throws: ``TorchError`` for a value other than `gloo` or `nccl`.
    public static func backend(environment: [String: String] = ProcessInfo.processInfo.environment, device: Device) throws
        -> DistributedBackend
    {
        guard let text = environment["EDLCM_DISTRIBUTED_BACKEND"], !text.isEmpty else { return device == .cpu ? .gloo : .nccl }
        guard let backend = DistributedBackend(rawValue: text.lowercased()) else {
            throw TorchError("distributed: EDLCM_DISTRIBUTED_BACKEND='\(text)' is not gloo or nccl")
        }
        return backend
    }

    /// Whether this build can make NCCL groups at all: one on libtorch 2.x (with the plug-in and a
    /// GPU at run time), not one on 1.x.
    public static var ncclSupported: Bool { ct_process_group_nccl_supported() == 1 }

    /// The file name of the NCCL plug-in.
    public static let ncclPluginName = "libedlcm_nccl.so"

    /// The NCCL plug-in to load: `EDLCM_NCCL_PLUGIN` when set, else `libedlcm_nccl.so` beside the
    /// executable or in `../lib` of its folder (where `make dist` puts it), the first that exists.
    ///
    /// - Throws: ``TorchError`` naming the places looked at when none holds it.
    public static func ncclPluginPath(
        environment: [String: String] = ProcessInfo.processInfo.environment,
        executable: URL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    ) throws -> String {
        if let path = environment["EDLCM_NCCL_PLUGIN"], !path.isEmpty {
            guard FileManager.default.fileExists(atPath: path) else {
                throw TorchError("distributed: EDLCM_NCCL_PLUGIN='\(path)': no such file")
            }
            return path
        }
        let folder = executable.deletingLastPathComponent()
        let candidates = [
            folder.appendingPathComponent(ncclPluginName),
            folder.deletingLastPathComponent().appendingPathComponent("lib/\(ncclPluginName)"),
        ].map(\.standardizedFileURL.path)
        guard let found = candidates.first(where: FileManager.default.fileExists(atPath:)) else {
            throw TorchError(
                "distributed: NCCL needs the plug-in \(ncclPluginName), not found at \(candidates.joined(separator: " or ")) (build it with scripts/nccl-plugin.sh, or set EDLCM_NCCL_PLUGIN, or EDLCM_DISTRIBUTED_BACKEND=gloo to stage collectives through host memory)"
            )
        }
        return found
    }

    private static func integer(_ name: String, in environment: [String: String], default value: Int? = nil) throws -> Int {
        guard let text = environment[name] else {
            if let value { return value }
            throw TorchError("distributed: the environment variable \(name) is not set (launch with torchrun or edlcm launch)")
        }
        guard let number = Int(text) else { throw TorchError("distributed: \(name)='\(text)' is not an integer") }
        return number
    }

    deinit {
        ct_process_group_free(handle)
    }

    /// Replaces every tensor by its sum over all ranks (in place), waiting for completion.
    ///
    /// Tensors of one dtype travel together in one flat buffer (one collective per dtype, as
    /// PyTorch's DDP buckets do), so a model's gradients cost one round trip.
    ///
    /// - Throws: ``TorchError`` when a peer failed or the timeout passed.
    public func allReduceSum(_ tensors: [Tensor]) throws {
        try forEachBucket(tensors) { buffer in
            buffer.withHandle { ct_process_group_allreduce_sum(handle, $0) }
        } failure: {
            "all-reduce on rank \(rank) failed: \($0)"
        }
    }

    /// Replaces every tensor by `root`'s copy (in place), waiting for completion.
    ///
    /// - Throws: ``TorchError`` when a peer failed or the timeout passed.
    public func broadcast(_ tensors: [Tensor], from root: Int = 0) throws {
        try forEachBucket(tensors) { buffer in
            buffer.withHandle { ct_process_group_broadcast(handle, $0, Int32(root)) }
        } failure: {
            "broadcast on rank \(rank) failed: \($0)"
        }
    }

    /// Packs tensors by dtype into flat buffers, runs `collective` on each, and copies back. Gloo's
    /// buffers are in host memory (tensors on a GPU are staged through it, one copy each way per
    /// bucket); NCCL's stay on the tensors' GPU.
    private func forEachBucket(_ tensors: [Tensor], _ collective: (Tensor) -> Int32, failure: (String) -> String) throws {
        var order: [DType] = []
        var buckets: [DType: [Tensor]] = [:]
        for tensor in tensors {
            if buckets[tensor.dtype] == nil { order.append(tensor.dtype) }
            buckets[tensor.dtype, default: []].append(tensor)
        }
        for dtype in order {
            let members = buckets[dtype]!
            let flat = Tensor.concatenate(members.map { $0.detached().reshaped(to: [-1]) }, alongAxis: 0)
            let buffer = backend == .gloo ? flat.on(.cpu) : flat
            if collective(buffer) != 0 { throw TorchError("distributed: \(failure(lastTorchError()))") }
            var offset = 0
            withoutGradients {
                for tensor in members {
                    let count = tensor.scalarCount
                    tensor.copy_(buffer.sliced(alongAxis: 0, from: offset, to: offset + count).reshaped(to: tensor.shape))
                    offset += count
                }
            }
        }
    }

    /// Waits until every rank reaches this point.
    ///
    /// - Throws: ``TorchError`` when a peer failed or the timeout passed.
    public func barrier() throws {
        if ct_process_group_barrier(handle) != 0 {
            throw TorchError("distributed: barrier on rank \(rank) failed: \(lastTorchError())")
        }
    }
}
