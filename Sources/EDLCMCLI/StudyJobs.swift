import EDLCMCore
import EDLCMStudy
import Foundation

/// `edlcm study run --jobs N`: runs N of the study's runs at once, each in a child process
/// (`edlcm study run FILE --out DIR --only RUN --threads T`, with the threads split between them),
/// a run that starts from another (`from: METHOD`) only once that one has finished. Child
/// processes keep libtorch's global state (thread pool, generator) to themselves, so every run
/// gives the numbers it gives alone.
final class StudyJobs: @unchecked Sendable {  // the display is written under `lock` only
    let runner: StudyRunner
    let file: String
    let jobs: Int
    let threadsPerJob: Int
    /// The `--set` arguments, passed on to every child.
    let overrides: [String]
    /// `--device` and `--[no-]deterministic` as given, passed on to every child.
    let machineArguments: [String]

    /// One line per event on standard error, children's lines included, one writer at a time.
    let lock = NSLock()
    let display: StudyProgress

    init(runner: StudyRunner, file: String, jobs: Int, threadsPerJob: Int, overrides: [String], machineArguments: [String]) {
        self.runner = runner
        self.file = file
        self.jobs = jobs
        self.threadsPerJob = threadsPerJob
        self.overrides = overrides
        self.machineArguments = machineArguments
        display = StudyProgress(runs: runner.shardRuns, parallel: jobs)
    }

    func emit(_ event: StudyEvent) {
        lock.lock()
        defer { lock.unlock() }
        display.handle(event)
    }

    /// Runs every run of the shard; returns when all have finished, or throws when one failed or a stop was asked for.
    ///
    /// - Throws: ``EDLCMError`` naming the runs that failed (their errors are on standard error
    ///   above), or ``StudyJobsStopped`` when SIGINT/SIGTERM stopped the children with their progress saved.
    func run(shouldStop: () -> Bool) throws {
        let runs = runner.shardRuns
        var pending: [StudyPlan.Run] = []
        var done = Set<String>()
        for run in runs {
            if try runner.isFinished(run) {
                done.insert(run.id)
                emit(.skipped(run: run.id, done: done.count, total: runs.count))
            } else {
                pending.append(run)
            }
        }
        let inShard = Set(runs.map(\.id))
        var running: [(run: StudyPlan.Run, process: Process, start: Date)] = []
        var failed: [String] = []
        var stopping = false
        while !pending.isEmpty || !running.isEmpty {
            if shouldStop() && !stopping {
                stopping = true
                for job in running where job.process.isRunning { kill(job.process.processIdentifier, SIGINT) }
            }
            for (index, job) in running.enumerated().reversed() where !job.process.isRunning {
                running.remove(at: index)
                if job.process.terminationStatus == 0 {
                    done.insert(job.run.id)
                    emit(
                        .finished(
                            run: job.run.id, seconds: Date().timeIntervalSince(job.start), done: done.count,
                            total: runs.count))
                } else if !stopping {
                    failed.append("\(job.run.id) (exit code \(job.process.terminationStatus))")
                }
            }
            if !stopping && failed.isEmpty {
                while running.count < jobs,
                    let next = pending.firstIndex(where: { run in
                        runner.dependencies(of: run).allSatisfy { !inShard.contains($0) || done.contains($0) }
                    })
                {
                    let run = pending.remove(at: next)
                    emit(.stage(run: run.id, stage: "started", done: done.count, total: runs.count))
                    running.append((run, try start(run), Date()))
                }
            } else if running.isEmpty {
                break
            }
            usleep(100_000)
        }
        if stopping { throw StudyJobsStopped() }
        guard failed.isEmpty else {
            throw EDLCMError("study: \(failed.joined(separator: ", ")) failed (the error is above); rerun the study to continue")
        }
    }

    /// Starts the child process of one run; its standard error comes through `emit`.
    private func start(_ run: StudyPlan.Run) throws -> Process {
        let process = Process()
        process.executableURL = ownExecutable
        process.arguments =
            ["study", "run", file, "--out", runner.folder.path, "--only", run.id, "--threads", String(threadsPerJob)]
            + overrides.flatMap { ["--set", $0] } + machineArguments + ["--job"]
        let pipe = Pipe()
        process.standardError = pipe
        process.standardOutput = FileHandle.nullDevice
        let buffer = LineBuffer()
        pipe.fileHandleForReading.readabilityHandler = { [self] handle in
            let chunk = handle.availableData
            lock.lock()
            defer { lock.unlock() }
            if chunk.isEmpty {
                handle.readabilityHandler = nil
                if !buffer.data.isEmpty { FileHandle.standardError.write(buffer.data + Data("\n".utf8)) }
                return
            }
            buffer.data.append(chunk)
            while let newline = buffer.data.firstIndex(of: UInt8(ascii: "\n")) {
                let line = String(decoding: buffer.data[..<newline], as: UTF8.self)
                buffer.data.removeSubrange(...newline)
                // A child's progress lines carry its own counters ([0/1]); show them under the run's name only.
                if let bracket = line.firstIndex(of: "]"), line.hasPrefix("[") {
                    FileHandle.standardError.write(Data(("       " + line[line.index(after: bracket)...] + "\n").utf8))
                } else {
                    FileHandle.standardError.write(Data((line + "\n").utf8))
                }
            }
        }
        try process.run()
        return process
    }
}

/// The bytes of a child's standard error not yet forwarded (a partial line), used under `StudyJobs.lock`.
private final class LineBuffer: @unchecked Sendable {
    var data = Data()
}

/// SIGINT/SIGTERM stopped a study's parallel jobs; each saved its progress.
struct StudyJobsStopped: Error {}
