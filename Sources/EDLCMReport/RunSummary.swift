import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMModels
import EDLCMTraining
import Foundation

/// Everything the report shows about one run folder: its record, its metrics and, when present,
/// its analysis (`analysis.json`) and evaluation (`evaluation.json`).
public struct RunSummary {
    public let folder: URL
    public let record: RunRecord
    public let metrics: [EpochMetrics]
    public let analysis: AnalysisRecord?
    public let evaluation: EvaluationResult?

    /// The folder's name, used as the run's label.
    public var name: String { folder.lastPathComponent }

    /// Reads a run folder.
    ///
    /// - Parameter evaluationFile: the evaluation result to use (default: `evaluation.json` in the folder, if present).
    /// - Throws: ``EDLCMError`` naming the file that is missing or malformed.
    public init(folder: URL, evaluationFile: URL? = nil) throws {
        let run = RunDirectory(url: folder)
        guard FileManager.default.fileExists(atPath: run.configURL.path) else {
            throw EDLCMError("\(folder.path): not a run folder (no config.json)")
        }
        self.folder = folder
        record = try run.readRecord()
        metrics = try run.readMetrics()
        let analysisURL = RunDirectory(url: folder).analysisURL
        if FileManager.default.fileExists(atPath: analysisURL.path) {
            analysis = try Document.read(AnalysisRecord.self, from: analysisURL, format: .json, limits: .records)
        } else {
            analysis = nil
        }
        let evaluationURL = evaluationFile ?? RunDirectory(url: folder).evaluationURL
        if evaluationFile != nil || FileManager.default.fileExists(atPath: evaluationURL.path) {
            evaluation = try EvaluationReport.read(from: evaluationURL)
        } else {
            evaluation = nil
        }
    }

    /// Seconds spent training, summed over the epochs.
    public var trainingSeconds: Double { metrics.reduce(0) { $0 + $1.seconds } }
}
