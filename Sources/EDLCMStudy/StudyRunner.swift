import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMTraining
import Foundation

/// What a study folder records about the study it holds (`study.json`): the study's name and
/// settings, so that a folder is never taken over by another study and a finished run is never
/// silently kept after its settings changed.
public struct StudyRecord: Codable, Equatable, Sendable {
    public static let formatName = "edlcm-study/1"
    public var format = StudyRecord.formatName
    public var name: String
    /// The study file as run (its path when first run).
    public var file: String
    /// The command lines that ran this study here (the first, then one per rerun or shard).
    public var commands: [[String]]
    /// Each run's folder name under `runs/`, in the study's order.
    public var runs: [String]
}

/// The share of a study's runs one process runs: runs K, K + N, K + 2N, … (1-based K of N), so
/// that N machines (a Slurm array job, for example) split a study between them.
public struct StudyShard: Sendable, Equatable, CustomStringConvertible {
    public let index: Int
    public let count: Int

    /// The whole study.
    public static let all = StudyShard(index: 1, count: 1)

    public init(index: Int, count: Int) {
        self.index = index
        self.count = count
    }

    /// Parses "K/N" with 1 ≤ K ≤ N.
    ///
    /// - Throws: ``EDLCMError`` "--shard …" for anything else.
    public init(parsing text: String) throws {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, let index = Int(parts[0]), let count = Int(parts[1]), count >= 1, (1...count).contains(index)
        else { throw EDLCMError("--shard \(text): expected K/N with 1 ≤ K ≤ N, for example 2/4") }
        self.init(index: index, count: count)
    }

    /// Whether the run at `position` (0-based, in the study's order) belongs to this shard.
    public func contains(_ position: Int) -> Bool { position % count == index - 1 }

    public var description: String { "\(index)/\(count)" }
}

/// What a study run reports while it runs, for progress displays.
public enum StudyEvent {
    /// A run of the study begins a stage ("training", "analysis", "evaluation"); `done` runs of
    /// `total` (this shard's) are finished.
    case stage(run: String, stage: String, done: Int, total: Int)
    /// An epoch of a run's training finished.
    case epoch(run: String, epoch: Int, epochs: Int)
    /// A run was already finished and is kept.
    case skipped(run: String, done: Int, total: Int)
    /// A run finished all of its stages after `seconds`.
    case finished(run: String, seconds: Double, done: Int, total: Int)
}

/// The machine a study runs on, put over every run's settings (`study run --threads --device
/// --deterministic`): none of them changes what a run computes on the CPU, so finished runs are
/// kept whatever they are (``ResultNeutralSettings``).
public struct StudyMachine: Sendable, Equatable {
    public var threads: Int?
    public var device: DeviceChoice?
    public var deterministic: Bool?

    public init(threads: Int? = nil, device: DeviceChoice? = nil, deterministic: Bool? = nil) {
        (self.threads, self.device, self.deterministic) = (threads, device, deterministic)
    }

    /// `runtime` with the values set here.
    public func apply(to runtime: inout RuntimeSettings) {
        if let threads { runtime.threads = threads }
        if let device { runtime.device = device }
        if let deterministic { runtime.deterministic = deterministic }
    }
}

/// Trains, analyses and evaluates every (method, seed) run of a study into its own folder under
/// `OUT/runs/`, each stage resuming where it stopped (training from its last checkpoint, the
/// evaluation from its state) and skipped when finished.
public struct StudyRunner {
    public let plan: StudyPlan
    public let folder: URL
    public let shard: StudyShard
    /// Run only this run of the shard (its folder name), or all of them.
    public var only: String? = nil

    /// The folder of the study's runs.
    public var runsFolder: URL { folder.appendingPathComponent("runs", isDirectory: true) }
    /// The folder of the sweeps' points.
    public var sweepFolder: URL { Self.sweepFolder(of: folder) }
    /// The sweep's folder in the study folder `folder`.
    public static func sweepFolder(of folder: URL) -> URL { folder.appendingPathComponent("sweep", isDirectory: true) }
    /// The selection of the operating points (written when the sweep is finished).
    public var selectionURL: URL { Self.selectionURL(of: folder) }
    /// The selection's file in the study folder `folder`.
    public static func selectionURL(of folder: URL) -> URL { folder.appendingPathComponent("sweep.json") }
    /// A run's folder.
    public func runFolder(_ run: StudyPlan.Run) -> URL {
        (run.phase == .sweep ? sweepFolder : runsFolder).appendingPathComponent(run.folderName, isDirectory: true)
    }
    /// The study's record.
    public var recordURL: URL { Self.recordURL(of: folder) }
    /// The record's file in the study folder `folder`.
    public static func recordURL(of folder: URL) -> URL { folder.appendingPathComponent("study.json") }

    public init(plan: StudyPlan, folder: URL, shard: StudyShard = .all) {
        self.plan = plan
        self.folder = folder
        self.shard = shard
    }

    /// Reads a study folder's record.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it is unreadable or not a study record.
    public static func readRecord(_ url: URL) throws -> StudyRecord {
        let record = try Document.read(StudyRecord.self, from: url, limits: .records, label: "\(url.path): not a study record")
        guard record.format == StudyRecord.formatName else {
            throw EDLCMError("\(url.path): study format '\(record.format)', expected '\(StudyRecord.formatName)'")
        }
        return record
    }

    /// Creates the folder or checks that it holds this study, and records the command.
    ///
    /// - Throws: ``EDLCMError`` when the folder holds something else: another study, or files that
    ///   are not a study's.
    public func prepare(file: String, command: [String]) throws {
        var isDirectory: ObjCBool = false
        if FileManager.default.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw EDLCMError("--out \(folder.path): is a file, not a folder") }
            if FileManager.default.fileExists(atPath: recordURL.path) {
                var record = try Self.readRecord(recordURL)
                guard record.name == plan.name else {
                    throw EDLCMError(
                        "--out \(folder.path): holds the study '\(record.name)', not '\(plan.name)'; choose another --out")
                }
                record.commands.append(command)
                record.runs = plan.runs.map(\.folderName)
                try write(record)
                return
            }
            let contents = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            guard contents.isEmpty else {
                throw EDLCMError("--out \(folder.path): is not empty and holds no study (no study.json); choose another --out")
            }
        }
        do { try FileManager.default.createDirectory(at: runsFolder, withIntermediateDirectories: true) } catch {
            throw EDLCMError("--out \(folder.path): cannot create the folder (\(describe(error)))")
        }
        try write(StudyRecord(name: plan.name, file: file, commands: [command], runs: plan.runs.map(\.folderName)))
    }

    private func write(_ record: StudyRecord) throws {
        try writeFileAtomically(try JSONStyle.record.encode(record), to: recordURL)
    }

    /// The runs of this shard, in the study's order: the sweep's points first, then the comparison.
    public var shardRuns: [StudyPlan.Run] {
        let sweep = plan.sweepRuns.enumerated().filter { shard.contains($0.offset) }.map(\.element)
        let comparison = zip(plan.runs, plan.rootPositions).filter { shard.contains($0.1) }.map(\.0)
        return (sweep + comparison).filter { only == nil || $0.id == only }
    }

    /// The ids of the runs that must finish before `run` starts: the run it starts from, and for a
    /// comparison run of a swept method every point of the sweep (the selection reads them all).
    public func dependencies(of run: StudyPlan.Run) -> [String] {
        (run.fromID.map { [$0] } ?? []) + (run.needsSelection ? plan.sweepRuns.map(\.id) : [])
    }

    /// Each method's points on the validation split and the operating points the sweep's rule picks.
    ///
    /// - Throws: ``EDLCMError`` naming the unfinished points, when the sweep is not finished.
    public func selection() throws -> StudySweepSelection {
        guard let settings = plan.sweep else { throw EDLCMError("study \(plan.name) has no sweep") }
        var points: [StudySweepPoint] = []
        var unfinished: [String] = []
        for run in plan.sweepRuns {
            guard try isFinished(run) else {
                unfinished.append(run.id)
                continue
            }
            let result = try EvaluationReport.read(from: RunDirectory(url: runFolder(run)).evaluationURL)
            points.append(
                StudySweepPoint(
                    method: run.method, value: run.sweepValue, run: run.folderName, cleanAccuracy: result.clean.accuracy,
                    robustAccuracy: result.robustness.map(\.worstCaseAccuracy), epsilons: result.robustness.map(\.epsilon)))
        }
        guard unfinished.isEmpty else {
            throw EDLCMError(
                "the sweep is not finished (\(unfinished.joined(separator: ", "))); the comparison's operating points need every point"
            )
        }
        return try StudySweepSelection(points: points, settings: settings)
    }

    /// The folder of the surrogates the study trains for transfer attacks.
    public var surrogatesFolder: URL { folder.appendingPathComponent("surrogates", isDirectory: true) }

    /// The surrogate folders of one seed: one plain ensemble per size in the evaluation's
    /// `train-surrogates`, trained once for the seed with the study's shared training settings and
    /// used by every method's run of that seed (so their transfer examples are crafted once).
    public func surrogateFolders(seed: UInt64) -> [URL] {
        plan.evaluation.trainSurrogates.map { members in
            surrogatesFolder.appendingPathComponent(
                SurrogateTrainer.folderName(members: members, targetSeed: seed), isDirectory: true)
        }
    }

    /// The training settings of a run, with its method's selected point applied (a comparison run
    /// of a swept method) and `from` set to the folder of the run it starts from.
    ///
    /// - Throws: ``EDLCMError`` when the run needs the sweep's selection and the sweep is not finished.
    func trainingConfig(for run: StudyPlan.Run) throws -> TrainingConfig {
        var config = run.needsSelection ? try plan.comparisonTraining(for: run, selection: try selection()) : run.training
        if let source = run.fromFolderName {
            config.from = (run.phase == .sweep ? sweepFolder : runsFolder).appendingPathComponent(source).path
        }
        return config
    }

    /// Runs this shard's runs, one after another.
    ///
    /// - Parameters:
    ///   - command: the command line, recorded in every run.
    ///   - machine: threads and device for each run, put over the study's settings.
    ///   - shouldStop: polled between batches; true stops with every stage's progress saved.
    /// - Throws: ``EDLCMError`` when a finished run's settings differ from the study's (naming the
    ///   setting), a stage fails, or `shouldStop` asked to stop (``TrainingStopped`` during training).
    public func run(
        command: [String], machine: StudyMachine = StudyMachine(), shouldStop: @escaping () -> Bool = { false },
        progress: (StudyEvent) -> Void = { _ in }
    ) throws {
        let runs = shardRuns
        for (position, run) in runs.enumerated() {
            let start = Date()
            let folder = runFolder(run)
            if try isFinished(run) {
                progress(.skipped(run: run.id, done: position + 1, total: runs.count))
                continue
            }
            if run.needsSelection, plan.sweep != nil, !FileManager.default.fileExists(atPath: selectionURL.path) {
                try writeSelection(try selection())
            }
            progress(.stage(run: run.id, stage: "training", done: position, total: runs.count))
            try train(run, command: command, machine: machine, shouldStop: shouldStop) { epoch, epochs in
                progress(.epoch(run: run.id, epoch: epoch, epochs: epochs))
            }
            if run.phase == .comparison {
                progress(.stage(run: run.id, stage: "analysis", done: position, total: runs.count))
                try analyse(run, command: command, machine: machine)
                if !plan.evaluation.trainSurrogates.isEmpty {
                    progress(.stage(run: run.id, stage: "surrogates", done: position, total: runs.count))
                    try trainSurrogates(seed: run.seed, command: command, machine: machine, shouldStop: shouldStop)
                }
            }
            progress(.stage(run: run.id, stage: "evaluation", done: position, total: runs.count))
            let session = try EvaluationSession(
                config: try evaluationConfig(for: run, machine: machine).validated(), runFolder: folder.path,
                out: RunDirectory(url: folder).evaluationURL.path, command: command)
            try session.run(shouldStop: shouldStop)
            progress(.finished(run: run.id, seconds: Date().timeIntervalSince(start), done: position + 1, total: runs.count))
        }
        if plan.sweep != nil, only == nil, shard == .all { try writeSelection(try selection()) }
    }

    /// Writes `sweep.json`: every point and the operating points chosen.
    func writeSelection(_ selection: StudySweepSelection) throws {
        try writeFileAtomically(try JSONStyle.record.encode(selection), to: selectionURL)
    }

    /// Whether a run's training, analysis and evaluation are all finished with the study's settings.
    ///
    /// - Throws: ``EDLCMError`` when a finished stage was made with other settings than the study's.
    public func isFinished(_ run: StudyPlan.Run) throws -> Bool {
        let folder = runFolder(run)
        guard let record = try RunDirectory(url: folder).readRecordIfPresent() else { return false }
        if run.needsSelection, (try? selection()) == nil { return false }
        try checkTraining(record.config, of: run)
        let metrics = (try? RunDirectory(url: folder).readMetrics()) ?? []
        guard metrics.count >= run.training.epochs else { return false }
        if run.phase == .comparison {
            let analysisURL = RunDirectory(url: folder).analysisURL
            guard FileManager.default.fileExists(atPath: analysisURL.path) else { return false }
            try checkAnalysis(at: analysisURL, of: run)
        }
        let evaluationURL = RunDirectory(url: folder).evaluationURL
        guard FileManager.default.fileExists(atPath: evaluationURL.path) else { return false }
        try checkEvaluation(at: evaluationURL, of: run)
        return true
    }

    /// "RUN: was trained with other settings than the study's: --lr (0.05 recorded, 0.1 in the study)".
    func checkTraining(_ recorded: TrainingConfig, of run: StudyPlan.Run) throws {
        var recorded = recorded
        let expected = try trainingConfig(for: run)
        // The run started from is named by its folder: the study folder may have moved since.
        if let source = run.fromFolderName, let from = recorded.from, URL(fileURLWithPath: from).lastPathComponent == source {
            recorded.from = expected.from
        }
        var conflicts = recorded.resumeConflicts(with: expected).map {
            $0.replacingOccurrences(of: " given)", with: " in the study)")
        }
        if recorded.epochs != run.training.epochs {
            conflicts.append("--epochs (\(recorded.epochs) recorded, \(run.training.epochs) in the study)")
        }
        guard conflicts.isEmpty else {
            throw EDLCMError(
                "\(runFolder(run).path): was trained with other settings than the study's: \(conflicts.joined(separator: ", ")); delete the run folder to retrain it"
            )
        }
    }

    private func settingsConflicts(recorded: [String: JSONValue], study: [String: JSONValue]) -> [String] {
        // Surrogate folders are named by their folder names: the study folder may have moved since.
        func surrogateNames(_ value: JSONValue?) -> JSONValue? {
            guard case let .array(paths)? = value else { return value }
            return .array(
                paths.map { path in
                    if case let .string(text) = path { return .string(URL(fileURLWithPath: text).lastPathComponent) }
                    return path
                })
        }
        var recorded = recorded
        var study = study
        recorded["surrogates"] = surrogateNames(recorded["surrogates"])
        study["surrogates"] = surrogateNames(study["surrogates"])
        return Set(recorded.keys).union(study.keys).sorted().compactMap { key in
            recorded[key] == study[key]
                ? nil
                : "--\(key) (\(recorded[key]?.compactText ?? "unset") recorded, \(study[key]?.compactText ?? "unset") in the study)"
        }
    }

    func checkAnalysis(at url: URL, of run: StudyPlan.Run) throws {
        let recorded = try Document.read(AnalysisRecord.self, from: url, limits: .records, label: "\(url.path): not an analysis")
        let conflicts = settingsConflicts(recorded: recorded.report.config.resultDeciding, study: plan.analysis.resultDeciding)
        guard conflicts.isEmpty else {
            throw EDLCMError(
                "\(url.path): was made with other settings than the study's: \(conflicts.joined(separator: ", ")); delete it to redo the analysis"
            )
        }
    }

    func checkEvaluation(at url: URL, of run: StudyPlan.Run) throws {
        let recorded = try EvaluationReport.read(from: url)
        let conflicts = settingsConflicts(
            recorded: recorded.settings.resultDeciding,
            study: try evaluationConfig(for: run, machine: StudyMachine()).resultDeciding)
        guard conflicts.isEmpty else {
            throw EDLCMError(
                "\(url.path): was made with other settings than the study's: \(conflicts.joined(separator: ", ")); delete it and its .state.json to redo the evaluation"
            )
        }
    }

    /// The study's evaluation settings for a run, with the dataset's radii when the study gives none.
    func evaluationConfig(for run: StudyPlan.Run, machine: StudyMachine) throws -> EvaluationConfig {
        if run.phase == .sweep, let sweep = plan.sweep {
            var config = sweep.evaluation
            config.epsilons = config.resolvedEpsilons(dataset: run.training.dataset)
            machine.apply(to: &config.runtime)
            return config
        }
        var config = plan.evaluation
        config.epsilons = config.resolvedEpsilons(dataset: run.training.dataset)
        if !config.trainSurrogates.isEmpty {
            config.surrogates = config.surrogates + surrogateFolders(seed: run.seed).map(\.path)
            config.trainSurrogates = []
            config.surrogateEpochs = nil
        }
        machine.apply(to: &config.runtime)
        return config
    }

    private func train(
        _ run: StudyPlan.Run, command: [String], machine: StudyMachine, shouldStop: () -> Bool, progress: (Int, Int) -> Void
    ) throws {
        let folder = runFolder(run)
        if let source = run.fromID, let sourceRun = (plan.sweepRuns + plan.runs).first(where: { $0.id == source }) {
            // A run kept without its checkpoint (results committed without weights), or whose
            // retraining was cut off, is trained again to its last epoch: on a machine that
            // computes as the one that trained it this gives the same weights, and the trainer
            // checks every epoch against the line the run records (refusing, on another machine,
            // rather than starting from other weights than the recorded run's).
            let source = RunDirectory(url: runFolder(sourceRun))
            if try !source.hasCheckpoint || source.readCheckpoint().metadata.epoch < sourceRun.training.epochs {
                try train(sourceRun, command: command, machine: machine, shouldStop: shouldStop, progress: { _, _ in })
            }
        }
        let started = try RunDirectory(url: folder).readRecordIfPresent()
        if let started { try checkTraining(started.config, of: run) }
        var config = try trainingConfig(for: run)
        machine.apply(to: &config.runtime)
        let trainer = try Trainer(config: config, output: folder, resume: started != nil, command: command)
        try trainer.train(shouldStop: shouldStop) { event in
            if case let .epoch(metrics, epochs) = event { progress(metrics.epoch, epochs) }
        }
    }

    /// Trains (or resumes, or keeps) the seed's surrogates.
    private func trainSurrogates(seed: UInt64, command: [String], machine: StudyMachine, shouldStop: @escaping () -> Bool) throws
    {
        var base = plan.training
        base.seeding.seed = seed
        machine.apply(to: &base.runtime)
        for (members, folder) in zip(plan.evaluation.trainSurrogates, surrogateFolders(seed: seed)) {
            // Parallel jobs of one seed wait for the one that trains it, then find it finished.
            _ = try withFileLock(folder.appendingPathExtension("lock")) {
                try SurrogateTrainer.train(
                    members: members, like: base, epochs: plan.evaluation.surrogateEpochs, into: folder, command: command,
                    shouldStop: shouldStop)
            }
        }
    }

    private func analyse(_ run: StudyPlan.Run, command: [String], machine: StudyMachine) throws {
        let url = RunDirectory(url: runFolder(run)).analysisURL
        if FileManager.default.fileExists(atPath: url.path) {
            try checkAnalysis(at: url, of: run)
            return
        }
        var config = plan.analysis
        machine.apply(to: &config.runtime)
        try AnalysisRecord.analyse(runFolder: runFolder(run).path, config: try config.validated(), output: url, command: command)
    }
}
