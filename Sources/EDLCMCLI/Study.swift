import ArgumentParser
import EDLCMCore
import EDLCMReport
import EDLCMStudy
import EDLCMTraining
import Foundation
import Torch

/// `edlcm study`: a comparison of methods over seeds, from one study file.
struct Study: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run a study (methods × seeds: train, analyse, evaluate) and report it.",
        discussion: """
            A study file (YAML or JSON) names the training budget shared by every method (keyed like `edlcm train`'s \
            flags), the seeds, the methods (each a name and train flags), the evaluation (keyed like `edlcm evaluate`'s \
            flags, presets included) and the analysis (like `edlcm analyze`'s). The file format: docs/results.md, \"Studies\".
            """,
        subcommands: [StudyRun.self, StudyReportCommand.self]
    )
}

/// `edlcm study run FILE [--out DIR] [--shard K/N]`.
struct StudyRun: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Train, analyse and evaluate every (method, seed) of a study, resuming wherever it stopped.",
        discussion: """
            Each run goes to DIR/runs/METHOD-seedS; finished runs are skipped, interrupted ones continue (training \
            from its last checkpoint, the evaluation from its state), and a finished run whose settings no longer match \
            the file is refused with the setting that differs. --shard K/N runs every N-th run from the K-th, so that N \
            machines share a study (for example a Slurm array job); `edlcm study report` merges their folders. Ctrl-C \
            stops after the current batch with everything saved.
            """
    )

    @Argument(help: "The study file (YAML or JSON).")
    var file: String

    @Option(help: "The study folder (default: runs/studies/NAME).")
    var out: String?

    @Option(help: "Run only this share of the runs: K/N (1 ≤ K ≤ N).")
    var shard: String?

    @Option(help: "libtorch threads of every run (default: the study's settings, else all cores).")
    var threads: Int?

    @Option(help: "Where every run works: auto, cpu, cuda or cuda:N (default: the study's settings, else auto).")
    var device: String?

    @Flag(inversion: .prefixedNo, help: "libtorch's deterministic algorithms for every run (default: the study's settings).")
    var deterministic: Bool?

    @Option(
        name: .customLong("set"),
        help: ArgumentHelp(
            "Replace or add a key of the study file: PATH=VALUE, e.g. training.data-dir=/data/cifar, seeds=[0], methods.edlcm.alpha=1 (repeatable; recorded in the runs' commands).",
            valueName: "path=value"))
    var overrides: [String] = []

    @Option(help: "Run this many runs at once, each in its own process with the threads split between them (default 1).")
    var jobs: Int = 1

    @Option(help: "Run only this run of the study (its folder name, e.g. edlcm-seed1; a sweep point as sweep/FOLDER).")
    var only: String?

    /// A child of `--jobs`: the parent records the command and counts the runs.
    @Flag(help: .hidden) var job = false

    func run() throws {
        let plan = try StudyPlan(path: file, overrides: try overrides.map(StudyOverride.init(parsing:)))
        let shard = try shard.map(StudyShard.init(parsing:)) ?? .all
        // --threads and --device are RuntimeSettings' settings: checked by their one declaration.
        let machineArguments =
            (threads.map { ["--threads", String($0)] } ?? []) + (device.map { ["--device", $0] } ?? [])
        let runtime = try RuntimeSettings.resolve(file: nil, arguments: machineArguments)
        let machine = StudyMachine(
            threads: threads, device: device == nil ? nil : runtime.device, deterministic: deterministic)
        let folder = URL(fileURLWithPath: out ?? "runs/studies/\(plan.name)", isDirectory: true)
        guard jobs >= 1 else { throw EDLCMError("--jobs must be at least 1, got \(jobs)") }
        var runner = StudyRunner(plan: plan, folder: folder, shard: shard)
        if let only {
            // A comparison run by its folder name, a sweep point as sweep/FOLDER.
            let ids = (plan.runs + plan.sweepRuns).map(\.id)
            guard ids.contains(only) else {
                throw EDLCMError(
                    "--only \(only): the study has no such run (\(ids.prefix(4).joined(separator: ", "))\(ids.count > 4 ? ", …" : ""))"
                )
            }
            runner.only = only
        }
        if job {
            guard FileManager.default.fileExists(atPath: runner.recordURL.path) else {
                throw EDLCMError("--job: \(folder.path) holds no study yet")
            }
        } else {
            try runner.prepare(file: file, command: CommandLine.arguments)
        }
        installStopHandlers()
        if jobs > 1 {
            let total = threads ?? Runtime.availableCores
            let parallel = StudyJobs(
                runner: runner, file: file, jobs: jobs, threadsPerJob: max(1, total / jobs), overrides: overrides,
                machineArguments: (device.map { ["--device", $0] } ?? [])
                    + (deterministic.map { [$0 ? "--deterministic" : "--no-deterministic"] } ?? []))
            do { try parallel.run(shouldStop: isStopRequested) } catch is StudyJobsStopped {
                FileHandle.standardError.write(
                    Data("\nedlcm: stopped, every run's progress saved; rerun the study to continue\n".utf8))
                Foundation.exit(130)
            }
            print(
                "study \(plan.name): \(runner.shardRuns.count) runs done\(shard == .all ? "" : " (shard \(shard))") in \(folder.path); report: edlcm study report \(folder.path) --out \(folder.path)/report.html"
            )
            return
        }
        let display = StudyProgress(runs: runner.shardRuns)
        // Runs reproduce bit for bit only on machines whose CPU kernels agree (config.json's hosts).
        display.header = "study \(plan.name) on \(HostRecord.current.processor)"
        do {
            try runner.run(
                command: CommandLine.arguments, machine: machine, shouldStop: isStopRequested,
                progress: display.handle)
        } catch let stopped as TrainingStopped {
            FileHandle.standardError.write(
                Data(
                    "\nedlcm: stopped during epoch \(stopped.epoch) after batch \(stopped.step) of \(stopped.run), checkpoint written; rerun the study to continue\n"
                        .utf8))
            Foundation.exit(130)
        }
        print(
            "study \(plan.name): \(runner.shardRuns.count) runs done\(shard == .all ? "" : " (shard \(shard))") in \(folder.path); report: edlcm study report \(folder.path) --out \(folder.path)/report.html"
        )
    }
}

/// One line per stage on standard error, with the runs done and an estimate of the time left.
final class StudyProgress {
    /// The shard's runs in the order they run, and whether each is a sweep point.
    let runs: [(id: String, isSweep: Bool)]
    /// How many runs go at once (`--jobs`).
    let parallel: Int
    /// The seconds of the runs finished by this process, by whether they were sweep points.
    var measured: [Bool: [Double]] = [:]
    /// A line written once, before the first stage that does work (none when every run was kept).
    var header: String?

    init(runs: [(id: String, isSweep: Bool)], parallel: Int = 1) {
        self.runs = runs
        self.parallel = max(1, parallel)
    }

    /// The line for a study's runs (`StudyRunner.shardRuns`).
    convenience init(runs: [StudyPlan.Run], parallel: Int = 1) {
        self.init(runs: runs.map { (id: $0.id, isSweep: $0.phase == .sweep) }, parallel: parallel)
    }

    func handle(_ event: StudyEvent) {
        var line: String
        switch event {
        case let .stage(run, stage, done, total):
            line = (header.map { $0 + "\n" } ?? "") + "[\(done)/\(total)] \(run): \(stage)\(eta(done: done))"
            header = nil
        case let .epoch(run, epoch, epochs): line = "        \(run): epoch \(epoch)/\(epochs)"
        case let .skipped(run, done, total): line = "[\(done)/\(total)] \(run): finished before, kept"
        case let .finished(run, seconds, done, total):
            measured[runs.first { $0.id == run }?.isSweep ?? false, default: []].append(seconds)
            line = String(format: "[%d/%d] %@: done in %.0f s", done, total, run, seconds) + eta(done: done)
        }
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// ", about T left": each run not yet done (the current one counted whole) at the mean time of
    /// the runs of its kind measured so far, sweep points and comparison runs apart (a comparison
    /// run adds its analysis, surrogates and the comparison's evaluation); a kind not measured yet
    /// at the mean of the other; divided among the runs that go at once (with `--jobs`, runs finish
    /// out of order, so the runs left are taken as the last ones: an estimate). Empty before any
    /// run finished.
    func eta(done: Int) -> String {
        func mean(_ values: [Double]) -> Double? { values.isEmpty ? nil : values.reduce(0, +) / Double(values.count) }
        let overall = mean(measured.values.flatMap { $0 })
        guard let overall, done < runs.count else { return "" }
        let left = runs[done...]
        let seconds =
            left.reduce(0) { $0 + (mean(measured[$1.isSweep] ?? []) ?? overall) } / Double(min(parallel, left.count))
        if seconds >= 3600 { return String(format: ", about %.1f h left", seconds / 3600) }
        return seconds >= 90
            ? String(format: ", about %.0f min left", seconds / 60) : String(format: ", about %.0f s left", seconds)
    }
}

/// `edlcm study report DIR… --out FILE`.
struct StudyReportCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "report",
        abstract: "Write one page comparing a study's methods (mean ± sd over seeds, differences with 95 % intervals).",
        discussion: "Give the study folder, or the folders of its shards, which are merged."
    )

    @Argument(help: "The study folder, or the folders of its shards.")
    var folders: [String]

    @OptionGroup var output: ReportOutput

    func validate() throws {
        guard !folders.isEmpty else { throw ValidationError("give the study folder") }
    }

    func run() throws {
        let format = self.output.format
        let output = try self.output.checkedURL()
        let report = try StudyReport(folders: folders.map { URL(fileURLWithPath: $0, isDirectory: true) })
        let base = output.deletingLastPathComponent()
        // Markdown shows the fronts as an SVG file beside the report: REPORT-fronts.svg.
        var chart: URL?
        if format == .markdown, let svg = report.frontsSVG {
            let url = base.appendingPathComponent(output.deletingPathExtension().lastPathComponent + "-fronts.svg")
            try checkOutputFile(url)
            try writeFileAtomically(Data(svg.utf8), to: url)
            chart = url
        }
        let text =
            format == .html
            ? report.html(command: CommandLine.arguments, base: base)
            : report.markdown(command: CommandLine.arguments, base: base, frontsChart: chart?.lastPathComponent)
        try writeFileAtomically(Data(text.utf8), to: output)
        print("wrote \(output.path)" + (chart.map { " and \($0.path)" } ?? ""))
    }
}
