import Foundation
import TestSupport
import Testing

@testable import Torch

@Suite("Distributed: c10d Gloo process groups on loopback", .serialized)
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
