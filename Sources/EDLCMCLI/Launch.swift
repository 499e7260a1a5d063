import ArgumentParser
import EDLCMCore
import Foundation
import Torch

/// `edlcm launch --nproc N -- train …`: starts N local workers for data-parallel training, as torchrun does.
struct Launch: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Start N local worker processes for data-parallel training (like torchrun).",
        discussion: """
            Each worker runs `edlcm <command> … --distributed` with RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR \
            and MASTER_PORT set. If a worker fails, the others are stopped and the exit status names the rank. \
            Workers on GPUs take one each (GPU LOCAL_RANK under --device auto or cuda) and exchange gradients with NCCL \
            (the plug-in libedlcm_nccl.so beside edlcm, or EDLCM_NCCL_PLUGIN); on the CPU with Gloo.
            """
    )

    @Option(help: "Number of worker processes.")
    var nproc: Int

    @Option(help: "Port of rank 0's rendezvous store (default: a free port).")
    var masterPort: Int?

    @Option(help: "Seconds to let the other workers finish after one fails, before they are terminated (default: 30).")
    var grace: Double = 30

    @Option(
        help: ArgumentHelp(
            "c10d backend of the workers' collectives: auto (NCCL between GPUs, Gloo on the CPU), gloo (GPU tensors staged through host memory) or nccl.",
            valueName: "auto|gloo|nccl"))
    var backend: String = "auto"

    @Argument(parsing: .captureForPassthrough, help: "The edlcm command and its flags, after `--` (e.g. -- train --out runs/x).")
    var command: [String] = []

    func validate() throws {
        guard (1...64).contains(nproc) else { throw ValidationError("--nproc must be in 1...64, got \(nproc)") }
        guard backend == "auto" || DistributedBackend(rawValue: backend) != nil else {
            throw ValidationError("--backend must be auto, gloo or nccl, got '\(backend)'")
        }
        if let masterPort, !(1024...65535).contains(masterPort) {
            throw ValidationError("--master-port must be in 1024...65535, got \(masterPort)")
        }
        guard !arguments.isEmpty else {
            throw ValidationError("give the command to run after --, e.g. edlcm launch --nproc 2 -- train --out runs/x")
        }
    }

    var arguments: [String] { command.first == "--" ? Array(command.dropFirst()) : command }

    func run() throws {
        let port = try masterPort ?? freePort()
        let executable = ownExecutable
        var workers: [Process] = []
        for rank in 0..<nproc {
            let process = Process()
            process.executableURL = executable
            process.arguments = arguments + ["--distributed"]
            var environment = ProcessInfo.processInfo.environment
            environment["RANK"] = String(rank)
            environment["LOCAL_RANK"] = String(rank)
            environment["WORLD_SIZE"] = String(nproc)
            environment["MASTER_ADDR"] = "127.0.0.1"
            environment["MASTER_PORT"] = String(port)
            if backend != "auto" { environment["EDLCM_DISTRIBUTED_BACKEND"] = backend }
            process.environment = environment
            try process.run()
            workers.append(process)
        }
        for signalNumber in [SIGINT, SIGTERM] { signal(signalNumber, SIG_IGN) }
        let forward = [SIGINT, SIGTERM].map { signalNumber -> DispatchSourceSignal in
            let source = DispatchSource.makeSignalSource(signal: signalNumber)
            source.setEventHandler {
                for worker in workers where worker.isRunning { kill(worker.processIdentifier, signalNumber) }
            }
            source.resume()
            return source
        }
        defer { forward.forEach { $0.cancel() } }
        var failure: (rank: Int, description: String)?
        var failedAt: Date?
        while workers.contains(where: \.isRunning) {
            if failure == nil,
                let rank = workers.indices.first(where: { !workers[$0].isRunning && workers[$0].terminationStatus != 0 })
            {
                failure = (rank, describeExit(workers[rank]))
                failedAt = Date()
            }
            if let failedAt, Date().timeIntervalSince(failedAt) > grace {
                for worker in workers where worker.isRunning { worker.terminate() }
            }
            Thread.sleep(forTimeInterval: 0.1)
        }
        if failure == nil, let rank = workers.indices.first(where: { workers[$0].terminationStatus != 0 }) {
            failure = (rank, describeExit(workers[rank]))
        }
        if let failure {
            throw EDLCMError("launch: rank \(failure.rank) of \(nproc) \(failure.description); the other workers were stopped")
        }
    }

    private func describeExit(_ process: Process) -> String {
        process.terminationReason == .uncaughtSignal
            ? "was killed by signal \(process.terminationStatus)" : "exited with status \(process.terminationStatus)"
    }

    /// A TCP port that was free on loopback a moment ago.
    private func freePort() throws -> Int {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { throw EDLCMError("launch: cannot open a socket to find a free port") }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, length) }
        }
        guard bound == 0 else { throw EDLCMError("launch: cannot bind a socket on 127.0.0.1 to find a free port") }
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(descriptor, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}
