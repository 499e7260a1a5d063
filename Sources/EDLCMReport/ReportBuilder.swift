import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMModels
import EDLCMTraining
import Foundation

/// The output format of `edlcm report`.
public enum ReportFormat: String, Codable, CaseIterable, Sendable {
    /// One self-contained HTML page with inline SVG charts (no network, scripts or fonts).
    case html
    /// The same tables in Markdown, without charts.
    case markdown
}

/// One row of the comparison table: the numbers that compare runs.
public struct ComparisonRow: Equatable, Sendable {
    public var run: String
    public var method: String
    public var clean: Double?
    /// Worst-case robust accuracy per ε (the evaluation's radii).
    public var robust: [Double: Double]
    public var meanHVPCosine: Double?
    public var meanGradientCosine: Double?
    /// Mean member-to-member transfer success of PGD (off-diagonal of the transferability matrix).
    public var meanTransferRate: Double?
    public var trainingSeconds: Double
    public var checksPassed: Bool?
}

/// Builds the report of one or more runs.
public enum ReportBuilder {
    /// The comparison rows, in the order of `runs`.
    public static func comparison(_ runs: [RunSummary]) -> [ComparisonRow] {
        runs.map { run in
            let evaluation = run.evaluation
            var robust: [Double: Double] = [:]
            for record in evaluation?.robustness ?? [] { robust[record.epsilon] = record.worstCaseAccuracy }
            return ComparisonRow(
                run: run.name, method: run.record.config.method.rawValue,
                clean: evaluation?.clean.accuracy ?? run.metrics.last?.testAccuracy,
                robust: robust, meanHVPCosine: run.analysis?.report.meanHVPCosine,
                meanGradientCosine: run.analysis?.report.meanGradientCosine,
                meanTransferRate: evaluation?.transferability.first.flatMap(meanTransfer), trainingSeconds: run.trainingSeconds,
                checksPassed: evaluation.map(\.allChecksPassed))
        }
    }

    /// The mean attack success from member i to member j ≠ i.
    public static func meanTransfer(_ matrix: TransferabilityMatrix) -> Double? {
        offDiagonalMean(matrix.success, count: matrix.models.filter { $0.hasPrefix("member") }.count)
    }

    /// The best row per column of the comparison table (nil where fewer than two runs have a value).
    struct ColumnBests {
        var clean: Int?
        /// One per radius, in the order of the radii.
        var robust: [Int?]
        var hvpCosine: Int?
        var gradientCosine: Int?
        var transfer: Int?
        var trainingSeconds: Int?

        init(_ rows: [ComparisonRow], radii: [Double]) {
            clean = best(rows.map(\.clean), .higher)
            robust = radii.map { radius in best(rows.map { $0.robust[radius] }, .higher) }
            hvpCosine = best(rows.map(\.meanHVPCosine), .lower)
            gradientCosine = best(rows.map(\.meanGradientCosine), .lower)
            transfer = best(rows.map(\.meanTransferRate), .lower)
            trainingSeconds = best(rows.map(\.trainingSeconds), .lower)
        }
    }

    /// Which attack budget produced each run's robust accuracies, one sentence per budget:
    /// "plain, edlcm: the quick preset (…)".
    static func budgetSentences(_ runs: [RunSummary]) -> [String] {
        var order: [String] = []
        var names: [String: [String]] = [:]
        for run in runs {
            guard let description = run.evaluation?.budgetDescription else { continue }
            if names[description] == nil { order.append(description) }
            names[description, default: []].append(run.name)
        }
        return order.map { "Robust accuracy of \(names[$0]!.joined(separator: ", ")): \($0)." }
    }

    /// A command line as a shell would take it back.
    public static func shellLine(_ command: [String]) -> String {
        command.map(shellQuoted).joined(separator: " ")
    }

    /// Every ε that some run was evaluated at, ascending.
    static func epsilons(_ runs: [RunSummary]) -> [Double] {
        Array(Set(runs.flatMap { $0.evaluation?.robustness.map(\.epsilon) ?? [] })).sorted()
    }

    static func percent(_ value: Double?) -> String {
        value.map { String(format: "%.1f%%", $0 * 100) } ?? "–"
    }

    static func decimal(_ value: Double?) -> String {
        value.map { String(format: "%.3f", $0) } ?? "–"
    }

    static func duration(_ seconds: Double) -> String {
        seconds >= 120 ? String(format: "%.1f min", seconds / 60) : String(format: "%.0f s", seconds)
    }

    static func shellQuoted(_ argument: String) -> String {
        argument.allSatisfy({ $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }) && !argument.isEmpty
            ? argument : "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Which column values are best: higher or lower.
    enum Better { case higher, lower }

    /// The index of the best value in a column (nil when fewer than two runs have one).
    static func best(_ values: [Double?], _ better: Better) -> Int? {
        let present = values.enumerated().compactMap { index, value in value.map { (index, $0) } }
        guard present.count > 1 else { return nil }
        return (better == .higher ? present.max { $0.1 < $1.1 } : present.min { $0.1 < $1.1 })?.0
    }
}
