import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation
import Torch

/// The output folder of a training run: `config.json`, `metrics.jsonl`, `checkpoint.safetensors`,
/// and what `analyze` and `evaluate` add (`analysis.json`, `evaluation.json`). The file names are
/// declared here once.
public struct RunDirectory: Sendable {
    public let url: URL

    public static let configFile = "config.json"
    public static let metricsFile = "metrics.jsonl"
    public static let checkpointFile = "checkpoint.safetensors"
    public static let analysisFile = "analysis.json"
    public static let evaluationFile = "evaluation.json"
    /// The files of a run that hold its numbers and commands, in the order a report links them
    /// (`evaluation.md` is the evaluation's Markdown beside its JSON).
    public static let resultFiles = ["evaluation.md", evaluationFile, analysisFile, metricsFile, configFile]

    /// The run folder at `url` (nothing is read or created).
    public init(url: URL) {
        self.url = url
    }

    public var configURL: URL { url.appendingPathComponent(Self.configFile) }
    public var metricsURL: URL { url.appendingPathComponent(Self.metricsFile) }
    public var checkpointURL: URL { url.appendingPathComponent(Self.checkpointFile) }
    public var analysisURL: URL { url.appendingPathComponent(Self.analysisFile) }
    public var evaluationURL: URL { url.appendingPathComponent(Self.evaluationFile) }

    /// Opens an existing run folder (for evaluation or resuming).
    ///
    /// - Throws: ``EDLCMError`` when the folder or its checkpoint is missing.
    public static func existing(_ url: URL) throws -> RunDirectory {
        let run = RunDirectory(url: url)
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw EDLCMError("\(url.path): no such run folder")
        }
        guard FileManager.default.fileExists(atPath: run.checkpointURL.path) else {
            throw EDLCMError("\(url.path): no checkpoint.safetensors in this folder (not a finished epoch of a run)")
        }
        return run
    }

    /// Prepares a folder for a new run, creating it if needed.
    ///
    /// - Throws: ``EDLCMError`` when the path is a file, cannot be created or written, or already
    ///   holds a run (nothing is overwritten: resume it or choose another folder).
    public static func create(_ url: URL) throws -> RunDirectory {
        let run = RunDirectory(url: url)
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        if manager.fileExists(atPath: url.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw EDLCMError("--out \(url.path): is a file, not a folder") }
            for existing in [run.checkpointURL, run.configURL, run.metricsURL] where manager.fileExists(atPath: existing.path) {
                throw EDLCMError(
                    "--out \(url.path): already holds a run (\(existing.lastPathComponent)); pass --resume to continue it or choose another folder"
                )
            }
        } else {
            do {
                try manager.createDirectory(at: url, withIntermediateDirectories: true)
            } catch {
                throw EDLCMError("--out \(url.path): cannot create the folder (\(describe(error)))")
            }
        }
        guard manager.isWritableFile(atPath: url.path) else { throw EDLCMError("--out \(url.path): folder is not writable") }
        return run
    }

    /// Writes `config.json` atomically.
    public func writeRecord(_ record: RunRecord) throws {
        try writeFileAtomically(try JSONStyle.record.encode(record), to: configURL)
    }

    /// Reads `config.json`.
    public func readRecord() throws -> RunRecord {
        try Document.read(RunRecord.self, from: configURL, format: .json, limits: .records)
    }

    /// The epochs recorded in `metrics.jsonl`, in order.
    public func readMetrics() throws -> [EpochMetrics] {
        guard FileManager.default.fileExists(atPath: metricsURL.path) else { return [] }
        return try Document.readLines(EpochMetrics.self, from: metricsURL, limits: .records)
    }

    /// Rewrites `metrics.jsonl` keeping only the epochs up to `epoch` (after a crash between the
    /// metrics line and the checkpoint of an epoch).
    public func truncateMetrics(toEpoch epoch: Int) throws {
        let kept = try readMetrics().filter { $0.epoch <= epoch }
        try writeFileAtomically(Data(try kept.map { try Self.jsonLine($0) }.joined().utf8), to: metricsURL)
    }

    /// Appends one epoch's line to `metrics.jsonl` and flushes it to disk.
    public func appendMetrics(_ metrics: EpochMetrics) throws {
        let line = try Self.jsonLine(metrics)
        let path = metricsURL.path
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o644)
        guard descriptor >= 0 else {
            throw EDLCMError("\(path): cannot open for appending (\(String(cString: strerror(errno))))")
        }
        defer { close(descriptor) }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
        guard written == bytes.count, fsync(descriptor) == 0 else {
            throw EDLCMError("\(path): cannot write (\(String(cString: strerror(errno))))")
        }
    }

    static func jsonLine(_ metrics: EpochMetrics) throws -> String {
        String(decoding: try JSONStyle.line.encode(metrics), as: UTF8.self) + "\n"
    }
}

extension RunDirectory {
    /// `config.json`, or nil when the folder holds no run yet.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it exists but cannot be read.
    public func readRecordIfPresent() throws -> RunRecord? {
        FileManager.default.fileExists(atPath: configURL.path) ? try readRecord() : nil
    }
}
