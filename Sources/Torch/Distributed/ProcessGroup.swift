import CTorch
import Foundation

/// A group of processes that exchange tensors through PyTorch's own distributed engine (c10d):
/// a TCPStore rendezvous hosted by rank 0 and ProcessGroupGloo collectives.
///
/// The same environment `torchrun` sets (`MASTER_ADDR`, `MASTER_PORT`, `RANK`, `WORLD_SIZE`) is read
/// by ``init(environment:timeout:)``, so the usual launch habits work.
public final class ProcessGroup: @unchecked Sendable {
    let handle: OpaquePointer
    /// This process's rank, 0..<size.
    public let rank: Int
    /// The number of processes.
    public let size: Int

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
    /// - Throws: ``TorchError`` when rendezvous fails (a rank missing, a port taken, a timeout).
    public init(
        masterAddress: String, port: Int, rank: Int, size: Int, timeout: Duration = .seconds(60),
        interface: String? = nil, hostname: String? = nil
    ) throws {
        guard size >= 1, (0..<size).contains(rank) else { throw TorchError("distributed: rank \(rank) is outside 0..<\(size)") }
        guard (1...65535).contains(port) else { throw TorchError("distributed: port \(port) is outside 1...65535") }
        let milliseconds = Int64(timeout.components.seconds * 1000 + timeout.components.attoseconds / 1_000_000_000_000_000)
        var out: OpaquePointer?
        let status = ct_process_group_create(
            masterAddress, Int32(port), Int32(rank), Int32(size), milliseconds, interface,
            hostname ?? (["localhost", "127.0.0.1"].contains(masterAddress) ? "127.0.0.1" : nil), &out)
        guard status == 0, let out else {
            throw TorchError("distributed: rank \(rank) of \(size) could not join \(masterAddress):\(port): \(lastTorchError())")
        }
        handle = out
        self.rank = rank
        self.size = size
    }

    /// Joins the group described by torchrun's variables: `MASTER_ADDR` (default 127.0.0.1),
    /// `MASTER_PORT` (default 29500), `RANK`, `WORLD_SIZE`, and `GLOO_SOCKET_IFNAME` if set.
    ///
    /// - Throws: ``TorchError`` naming a missing or malformed variable, or a failed rendezvous.
    public convenience init(environment: [String: String] = ProcessInfo.processInfo.environment, timeout: Duration = .seconds(60))
        throws
    {
        func integer(_ name: String, default value: Int? = nil) throws -> Int {
            guard let text = environment[name] else {
                if let value { return value }
                throw TorchError(
                    "distributed: the environment variable \(name) is not set (launch with torchrun or edlcm launch)")
            }
            guard let number = Int(text) else { throw TorchError("distributed: \(name)='\(text)' is not an integer") }
            return number
        }
        try self.init(
            masterAddress: environment["MASTER_ADDR"] ?? "127.0.0.1", port: try integer("MASTER_PORT", default: 29500),
            rank: try integer("RANK"), size: try integer("WORLD_SIZE"), timeout: timeout,
            interface: environment["GLOO_SOCKET_IFNAME"])
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

    /// Packs tensors by dtype into flat buffers, runs `collective` on each, and copies back. The
    /// buffers are Gloo's, in host memory: tensors on a GPU are staged through it (one copy each
    /// way per bucket).
    private func forEachBucket(_ tensors: [Tensor], _ collective: (Tensor) -> Int32, failure: (String) -> String) throws {
        var order: [DType] = []
        var buckets: [DType: [Tensor]] = [:]
        for tensor in tensors {
            if buckets[tensor.dtype] == nil { order.append(tensor.dtype) }
            buckets[tensor.dtype, default: []].append(tensor)
        }
        for dtype in order {
            let members = buckets[dtype]!
            let buffer = Tensor.concatenate(members.map { $0.detached().reshaped(to: [-1]) }, alongAxis: 0).on(.cpu)
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
