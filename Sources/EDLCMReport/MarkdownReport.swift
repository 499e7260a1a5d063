import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMModels
import EDLCMTraining
import Foundation

extension ReportBuilder {
    /// The report's tables in Markdown (no charts), for papers and READMEs.
    public static func markdown(_ runs: [RunSummary], command: [String]) -> String {
        var lines = ["# EDLCM report", ""]
        let rows = comparison(runs)
        let radii = epsilons(runs)
        lines.append("## Comparison")
        lines.append("")
        let header =
            ["run", "method", "clean"] + radii.map { "robust ε=\(SVGChart.label($0))" } + [
                "mean HVP cos", "mean grad cos", "mean transfer", "training", "masking checks",
            ]
        let bests = ColumnBests(rows, radii: radii)
        lines += markdownTable(
            header: header,
            rows: rows.enumerated().map { index, row in
                func mark(_ text: String, _ isBest: Bool) -> String { isBest ? "**\(text)**" : text }
                var cells = [row.run, row.method, mark(percent(row.clean), bests.clean == index)]
                cells += radii.enumerated().map { mark(percent(row.robust[$0.element]), bests.robust[$0.offset] == index) }
                cells += [
                    mark(decimal(row.meanHVPCosine), bests.hvpCosine == index),
                    mark(decimal(row.meanGradientCosine), bests.gradientCosine == index),
                    mark(percent(row.meanTransferRate), bests.transfer == index), duration(row.trainingSeconds),
                    row.checksPassed.map { $0 ? "all pass" : "FAIL" } ?? "–",
                ]
                return cells
            })
        lines.append("")
        for sentence in budgetSentences(runs) {
            lines.append(sentence)
            lines.append("")
        }
        for run in runs {
            if let report = run.analysis?.report {
                lines.append("### \(run.name): HVP cosine (mean off-diagonal \(decimal(report.meanHVPCosine)))")
                lines.append("")
                lines.append(
                    matrix(report.hvpCosine, labels: (0..<report.hvpCosine.count).map { "m\($0)" }) { String(format: "%.3f", $0) }
                )
                if let random = report.hvpCosineRademacher {
                    lines.append(
                        "### \(run.name): HVP cosine under a Rademacher probe (mean off-diagonal \(decimal(report.meanHVPCosineRademacher)))"
                    )
                    lines.append("")
                    lines.append(matrix(random, labels: (0..<random.count).map { "m\($0)" }) { String(format: "%.3f", $0) })
                }
            }
            for transfer in run.evaluation?.transferability ?? [] {
                lines.append(
                    "### \(run.name): PGD transferability at ε=\(SVGChart.label(transfer.epsilon)) (\(transfer.images) images)")
                lines.append("")
                lines.append(matrix(transfer.success, labels: transfer.models) { String(format: "%.1f%%", $0 * 100) })
            }
            if let evaluation = run.evaluation, !evaluation.sanityChecks.isEmpty {
                lines.append("### \(run.name): gradient-masking checks")
                lines.append("")
                lines += markdownTable(
                    header: ["check", "result", "rule"],
                    rows: evaluation.sanityChecks.map { check in
                        [
                            check.name.rawValue, check.passed ? "pass" : "**FAIL**",
                            check.rule.replacingOccurrences(of: "|", with: "\\|"),
                        ]
                    })
                lines.append("")
            }
        }
        lines.append("## Commands")
        lines.append("")
        lines.append("```")
        lines.append(shellLine(command))
        for run in runs {
            lines += run.record.commands.map(shellLine)
            if let analysis = run.analysis { lines.append(shellLine(analysis.command)) }
            lines += (run.evaluation?.provenance.commands ?? []).map(shellLine)
        }
        lines.append("```")
        return lines.joined(separator: "\n") + "\n"
    }

    static func matrix(_ values: [[Double]], labels: [String], format: (Double) -> String) -> String {
        markdownTable(
            header: ["from \\ to"] + labels,
            rows: values.enumerated().map { index, row in [index < labels.count ? labels[index] : ""] + row.map(format) }
        ).joined(separator: "\n") + "\n"
    }

    /// A Markdown table: the header, its rule, a line per row (cells as given, already escaped).
    public static func markdownTable(header: [String], rows: [[String]]) -> [String] {
        ["| " + header.joined(separator: " | ") + " |", "|" + String(repeating: "---|", count: header.count)]
            + rows.map { "| " + $0.joined(separator: " | ") + " |" }
    }
}
