import EDLCMCore
import EDLCMData
import EDLCMEvaluation
import EDLCMModels
import EDLCMTraining
import Foundation

extension ReportBuilder {
    /// The self-contained HTML page: charts are inline SVG, styles inline, nothing fetched.
    ///
    /// Every number in a table carries its unrounded value in a `data-value` attribute (a test
    /// checks them against the JSON files they came from).
    public static func html(_ runs: [RunSummary], command: [String], generated: Date = Date()) -> String {
        var body = ""
        let rows = comparison(runs)
        let radii = epsilons(runs)
        // A run's palette entry: its position among the runs, in every chart.
        func colour(_ run: RunSummary) -> Int { runs.firstIndex { $0.folder == run.folder } ?? 0 }
        body += "<h1>EDLCM report</h1>"
        body +=
            "<p class=\"meta\">\(runs.count) run\(runs.count == 1 ? "" : "s"): \(runs.map { "<code>\(SVGChart.escape($0.folder.path))</code>" }.joined(separator: ", ")) · generated \(ISO8601DateFormatter().string(from: generated))</p>"

        // Comparison table.
        body += "<h2 id=\"comparison\">Comparison</h2>"
        body +=
            "<p>Worst-case robust accuracy is per image over the whole attack suite (the number to quote). Best value per column in bold.</p>"
        var header = ["run", "method", "clean"] + radii.map { "robust ε=\(SVGChart.label($0))" }
        header += ["mean HVP cos", "mean grad cos", "mean transfer", "training", "masking checks"]
        var table =
            "<table class=\"comparison\"><thead><tr>" + header.map { "<th>\(SVGChart.escape($0))</th>" }.joined()
            + "</tr></thead><tbody>"
        let bests = ColumnBests(rows, radii: radii)
        for (index, row) in rows.enumerated() {
            func cell(_ value: Double?, _ text: String, bold: Bool, key: String) -> String {
                let data = value.map { " data-value=\"\($0)\" data-key=\"\(key)\"" } ?? ""
                return "<td class=\"number\(bold ? " best" : "")\"\(data)>\(bold ? "<b>\(text)</b>" : text)</td>"
            }
            table +=
                "<tr data-run=\"\(SVGChart.escape(row.run))\"><td>\(SVGChart.escape(row.run))</td><td>\(SVGChart.escape(row.method))</td>"
            table += cell(row.clean, percent(row.clean), bold: bests.clean == index, key: "clean")
            for (column, radius) in radii.enumerated() {
                table += cell(
                    row.robust[radius], percent(row.robust[radius]), bold: bests.robust[column] == index, key: "robust:\(radius)")
            }
            table += cell(row.meanHVPCosine, decimal(row.meanHVPCosine), bold: bests.hvpCosine == index, key: "mean_hvp_cosine")
            table += cell(
                row.meanGradientCosine, decimal(row.meanGradientCosine), bold: bests.gradientCosine == index,
                key: "mean_gradient_cosine")
            table += cell(
                row.meanTransferRate, percent(row.meanTransferRate), bold: bests.transfer == index, key: "mean_transfer")
            table += cell(
                row.trainingSeconds, duration(row.trainingSeconds), bold: bests.trainingSeconds == index, key: "training_seconds")
            let checks =
                row.checksPassed.map { $0 ? "<span class=\"pass\">all pass</span>" : "<span class=\"fail\">FAIL</span>" } ?? "–"
            table += "<td>\(checks)</td></tr>"
        }
        body += table + "</tbody></table>"
        for sentence in budgetSentences(runs) { body += "<p class=\"budget\">\(SVGChart.escape(sentence))</p>" }

        // Robust accuracy against ε.
        let evaluated = runs.filter { $0.evaluation != nil }
        if !evaluated.isEmpty {
            body += "<h2 id=\"robustness\">Robust accuracy against ε</h2><div class=\"charts\">"
            let worst = evaluated.map { run in
                SVGChart.Series(
                    name: run.name,
                    points: [(0, run.evaluation!.clean.accuracy)]
                        + run.evaluation!.robustness.map { ($0.epsilon, $0.worstCaseAccuracy) },
                    colourIndex: colour(run))
            }
            body += SVGChart.lineChart(
                title: "Worst case over the suite", xLabel: "ε (\(evaluated[0].evaluation!.settings.norm.rawValue))",
                yLabel: "accuracy",
                series: worst, yRange: 0...1, percent: true)
            let attackNames = Array(Set(evaluated.flatMap { $0.evaluation!.robustness.flatMap { $0.attacks.map(\.attack) } }))
                .sorted()
            for attack in attackNames {
                let series = evaluated.compactMap { run -> SVGChart.Series? in
                    let points = run.evaluation!.robustness.compactMap { record in
                        record.attacks.first { $0.attack == attack }.map {
                            (record.epsilon, $0.standaloneAccuracy ?? $0.accuracyAfter)
                        }
                    }
                    return points.isEmpty
                        ? nil
                        : SVGChart.Series(
                            name: run.name, points: [(0, run.evaluation!.clean.accuracy)] + points, colourIndex: colour(run))
                }
                body += SVGChart.lineChart(
                    title: attack, xLabel: "ε", yLabel: "accuracy", series: series, yRange: 0...1, percent: true)
            }
            body += "</div>"
        }

        // Training curves.
        body += "<h2 id=\"training\">Training curves</h2><div class=\"charts\">"
        var termSet = Set<String>()
        for run in runs { for metric in run.metrics { termSet.formUnion(metric.losses.keys) } }
        func sortKey(_ term: String) -> String { term == "total" ? "~" : term }
        let terms = termSet.sorted { sortKey($0) < sortKey($1) }
        for term in terms {
            let series = runs.compactMap { run -> SVGChart.Series? in
                let points = run.metrics.compactMap { metric in metric.losses[term].map { (Double(metric.epoch), $0) } }
                return points.isEmpty ? nil : SVGChart.Series(name: run.name, points: points, colourIndex: colour(run))
            }
            body += SVGChart.lineChart(title: "loss: \(term)", xLabel: "epoch", yLabel: term, series: series)
        }
        let accuracy = runs.flatMap { run in
            [
                SVGChart.Series(
                    name: "\(run.name) test", points: run.metrics.map { (Double($0.epoch), $0.testAccuracy) },
                    colourIndex: colour(run)),
                SVGChart.Series(
                    name: "\(run.name) train", points: run.metrics.map { (Double($0.epoch), $0.trainAccuracy) }, dashed: true,
                    colourIndex: colour(run)),
            ]
        }
        body += SVGChart.lineChart(
            title: "accuracy", xLabel: "epoch", yLabel: "accuracy", series: accuracy, yRange: 0...1, percent: true)
        body += SVGChart.lineChart(
            title: "learning rate", xLabel: "epoch", yLabel: "lr",
            series: runs.map { run in
                SVGChart.Series(
                    name: run.name, points: run.metrics.map { (Double($0.epoch), $0.learningRate) }, colourIndex: colour(run))
            })
        body += "</div>"

        // Diversity heatmaps.
        body += "<h2 id=\"diversity\">Diversity and transferability</h2>"
        body +=
            "<p>HVP cosine: mean cos(dᵢ, dⱼ) of the members' finite-difference Hessian-vector products (the paper's transferability metric; lower = more dispersed), with the probe L_g trains on (the gradient sign, by default) and with one shared random Rademacher probe, which L_g never saw. Gradient cosine: mean cos(∇ₓℓᵢ, ∇ₓℓⱼ). Transferability: success rate of PGD crafted on the row model against the column model, over images every member classifies correctly.</p>"
        for run in runs {
            var charts = ""
            if let report = run.analysis?.report {
                let labels = (0..<report.hvpCosine.count).map { "m\($0)" }
                charts += SVGChart.heatmap(
                    title: "\(run.name): HVP cosine", rowLabels: labels, columnLabels: labels, values: report.hvpCosine,
                    range: -1...1, format: { String(format: "%.2f", $0) })
                if let random = report.hvpCosineRademacher {
                    charts += SVGChart.heatmap(
                        title: "\(run.name): HVP cosine, Rademacher probe", rowLabels: labels, columnLabels: labels,
                        values: random,
                        range: -1...1, format: { String(format: "%.2f", $0) })
                }
                charts += SVGChart.heatmap(
                    title: "\(run.name): gradient cosine", rowLabels: labels, columnLabels: labels, values: report.gradientCosine,
                    range: -1...1, format: { String(format: "%.2f", $0) })
            }
            for matrix in run.evaluation?.transferability ?? [] {
                let labels = matrix.models.map {
                    $0.replacingOccurrences(of: "member", with: "m").replacingOccurrences(of: "ensemble", with: "ens")
                }
                charts += SVGChart.heatmap(
                    title: "\(run.name): PGD transfer, ε=\(SVGChart.label(matrix.epsilon)) (\(matrix.images) images)",
                    rowLabels: Array(labels.prefix(matrix.success.count)), columnLabels: labels, values: matrix.success,
                    range: 0...1, format: { String(format: "%.0f%%", $0 * 100) })
            }
            if !charts.isEmpty { body += "<div class=\"charts\">\(charts)</div>" }
        }
        let analysed = runs.filter { $0.analysis != nil }
        if !analysed.isEmpty {
            body +=
                "<h3>Curvature per member</h3><table><thead><tr><th>run</th><th>member</th><th>top |λ| of ∇²ₓℓ</th><th>‖Hz‖</th><th>‖d‖² (L_r)</th><th>‖∇ₓℓ‖</th></tr></thead><tbody>"
            for run in analysed {
                let report = run.analysis!.report
                for member in report.topEigenvalue.indices {
                    body += "<tr><td>\(SVGChart.escape(run.name))</td><td>\(member)</td>"
                    for (key, value) in [
                        ("top_eigenvalue", report.topEigenvalue[member]), ("hvp_norm", report.hvpNorm[member]),
                        ("curvature_loss", report.curvatureLoss[member]), ("gradient_norm", report.gradientNorm[member]),
                    ] {
                        body +=
                            "<td class=\"number\" data-value=\"\(value)\" data-key=\"\(key):\(member)\">\(String(format: "%.4f", value))</td>"
                    }
                    body += "</tr>"
                }
            }
            body += "</tbody></table>"
        }

        // Gradient-masking checks.
        if !evaluated.isEmpty {
            body += "<h2 id=\"checks\">Gradient-masking checks</h2>"
            body +=
                "<p>Each check is a rule the numbers of an honest white-box evaluation obey; a failure means the robust accuracies may be an artefact of masked gradients and are upper bounds.</p>"
            body +=
                "<table><thead><tr><th>run</th><th>check</th><th>result</th><th>rule</th><th>measurements</th></tr></thead><tbody>"
            for run in evaluated {
                for check in run.evaluation!.sanityChecks {
                    let measurements = check.measurements.map { "\(SVGChart.escape($0.label)) = \(SVGChart.label($0.value))" }
                        .joined(separator: "; ")
                    let why =
                        check.failures.isEmpty
                        ? "" : "<br><span class=\"fail\">\(SVGChart.escape(check.failures.joined(separator: "; ")))</span>"
                    body +=
                        "<tr><td>\(SVGChart.escape(run.name))</td><td>\(SVGChart.escape(check.name.rawValue))</td><td>\(check.passed ? "<span class=\"pass\">pass</span>" : "<span class=\"fail\">FAIL</span>")</td>"
                    body += "<td>\(SVGChart.escape(check.rule))</td><td>\(measurements)\(why)</td></tr>"
                }
            }
            body += "</tbody></table>"
        }

        // Environment and provenance.
        body += "<h2 id=\"provenance\">Environment and the commands behind every number</h2>"
        body += "<p>This report: <code>\(SVGChart.escape(shellLine(command)))</code></p>"
        for run in runs {
            let record = run.record
            body += "<h3>\(SVGChart.escape(run.name))</h3><ul>"
            body +=
                "<li>edlcm \(SVGChart.escape(record.edlcmVersion)), libtorch \(SVGChart.escape(record.libtorchVersion)), \(record.threads) thread(s), seed \(record.config.seeding.seed), created \(SVGChart.escape(record.created))</li>"
            body +=
                "<li>\(record.config.members) × \(record.config.architecture.rawValue), method \(record.config.method.rawValue), \(record.config.epochs) epochs, \(record.dataset.trainCount) training / \(record.dataset.testCount) test images of \(record.dataset.name.displayName)</li>"
            body +=
                "<li>dataset files: "
                + record.dataset.files.map {
                    "<code>\(SVGChart.escape(URL(fileURLWithPath: $0.path).lastPathComponent))</code> sha256 <code>\($0.sha256.prefix(16))…</code>"
                }.joined(separator: ", ") + "</li>"
            // Each command with the machine it ran on, where the run records them (since 2026-12-07).
            let hosts = record.hosts.flatMap { $0.count == record.commands.count ? $0 : nil }
            body +=
                "<li>training: "
                + record.commands.enumerated().map { index, command in
                    "<code>\(SVGChart.escape(shellLine(command)))</code>"
                        + (hosts.map { " on \(SVGChart.escape($0[index].summary))" } ?? "")
                }.joined(separator: "<br>") + "</li>"
            if let analysis = run.analysis {
                body += "<li>analysis: <code>\(SVGChart.escape(shellLine(analysis.command)))</code></li>"
            }
            if let evaluation = run.evaluation {
                body +=
                    "<li>evaluation (edlcm \(SVGChart.escape(evaluation.provenance.edlcmVersion)), libtorch \(SVGChart.escape(evaluation.provenance.libtorchVersion)), \(evaluation.provenance.threads) thread(s), seed \(evaluation.settings.seeding.seed), \(evaluation.samples.count) images): "
                    + evaluation.provenance.commands.map { "<code>\(SVGChart.escape(shellLine($0)))</code>" }.joined(
                        separator: "<br>") + "</li>"
            }
            body += "</ul>"
        }
        return page(title: "EDLCM report", body: body)
    }

    public static func page(title: String, body: String) -> String {
        """
        <!DOCTYPE html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
        <title>\(SVGChart.escape(title))</title>
        <style>
        body { font-family: "DejaVu Sans", "Liberation Sans", Helvetica, Arial, sans-serif; margin: 24px auto; max-width: 1180px; color: #1a1a1a; line-height: 1.45; padding: 0 16px; }
        h1 { font-size: 26px; margin-bottom: 4px; } h2 { font-size: 20px; margin-top: 32px; border-bottom: 1px solid #ddd; padding-bottom: 4px; } h3 { font-size: 16px; }
        .meta { color: #555; font-size: 13px; }
        table { border-collapse: collapse; margin: 8px 0 16px; font-size: 13px; }
        th, td { border: 1px solid #d0d0d0; padding: 4px 8px; text-align: left; vertical-align: top; } th { background: #f2f2f2; }
        td.number { text-align: right; font-variant-numeric: tabular-nums; } td.best { background: #eef6ee; }
        .pass { color: #1b7f2a; font-weight: bold; } .fail { color: #b3261e; font-weight: bold; }
        .charts { display: flex; flex-wrap: wrap; gap: 12px; }
        svg.chart { background: #fff; border: 1px solid #e3e3e3; }
        \(SVGChart.style)
        code { font-size: 12px; background: #f6f6f6; padding: 1px 3px; word-break: break-all; }
        </style></head><body>
        \(body)
        </body></html>
        """
    }
}
