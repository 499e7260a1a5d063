import EDLCMCore
import EDLCMEvaluation
import EDLCMReport
import EDLCMTraining
import Foundation

/// The comparison a study's runs add up to: per method, each measure's mean ± sd over seeds, and
/// each method's robust accuracy against the plain ensemble's and EDLCM's with 95 % intervals over
/// seeds (Student t) and over attacked images (a paired bootstrap).
public struct StudyReport {
    /// One method's finished runs, by seed.
    public struct MethodRuns {
        public var name: String
        public var config: TrainingConfig
        public var runs: [UInt64: RunSummary]
    }

    public let name: String
    public let folders: [URL]
    public let methods: [MethodRuns]
    /// The radii every evaluated run shares, ascending.
    public let radii: [Double]
    /// Runs of the study that have no finished evaluation yet (listed in the report).
    public let missing: [String]
    /// The sweep's fronts, when the study has a finished sweep (`sweep.json` in one of its folders).
    public let fronts: StudyFronts?
    /// While the sweep runs (no `sweep.json` yet): the points finished so far, by run folder name,
    /// with their validation clean accuracy and worst-case robust accuracy at each radius.
    public let sweepProgress: [(run: String, clean: Double, robust: [(epsilon: Double, accuracy: Double)])]

    /// Reads the runs of one or more study folders (the shards of one study).
    ///
    /// - Throws: ``EDLCMError`` when a folder holds no study, the folders hold different studies,
    ///   or a run appears in two of them.
    public init(folders: [URL]) throws {
        guard !folders.isEmpty else { throw EDLCMError("study report: name at least one study folder") }
        var name: String?
        var order: [String] = []
        var found: [String: URL] = [:]
        for folder in folders {
            let recordURL = StudyRunner.recordURL(of: folder)
            guard FileManager.default.fileExists(atPath: recordURL.path) else {
                throw EDLCMError("\(folder.path): holds no study (no study.json)")
            }
            let record = try StudyRunner.readRecord(recordURL)
            if let name, name != record.name {
                throw EDLCMError("\(folder.path): holds the study '\(record.name)', not '\(name)'; report one study at a time")
            }
            name = record.name
            for run in record.runs where !order.contains(run) { order.append(run) }
            let runs = folder.appendingPathComponent("runs", isDirectory: true)
            for run in record.runs
            where FileManager.default.fileExists(atPath: RunDirectory(url: runs.appendingPathComponent(run)).evaluationURL.path) {
                if let other = found[run] {
                    throw EDLCMError("the run \(run) is in both \(other.path) and \(folder.path); keep one")
                }
                found[run] = folder
            }
        }
        self.name = name!
        self.folders = folders
        var methods: [MethodRuns] = []
        var missing: [String] = []
        for run in order {
            guard let folder = found[run] else {
                missing.append(run)
                continue
            }
            let summary = try RunSummary(folder: folder.appendingPathComponent("runs/\(run)", isDirectory: true))
            let config = summary.record.config
            let method = String(run.dropLast("-seed\(config.seeding.seed)".count))
            if let index = methods.firstIndex(where: { $0.name == method }) {
                methods[index].runs[config.seeding.seed] = summary
            } else {
                methods.append(MethodRuns(name: method, config: config, runs: [config.seeding.seed: summary]))
            }
        }
        self.methods = methods
        self.missing = missing
        var fronts: StudyFronts?
        for folder in folders where fronts == nil { fronts = try StudyFronts(folder: folder) }
        self.fronts = fronts
        var progress: [(run: String, clean: Double, robust: [(epsilon: Double, accuracy: Double)])] = []
        if fronts == nil {
            for folder in folders {
                let sweep = StudyRunner.sweepFolder(of: folder)
                let names = (try? FileManager.default.contentsOfDirectory(atPath: sweep.path)) ?? []
                for name in names.sorted() {
                    let url = RunDirectory(url: sweep.appendingPathComponent(name, isDirectory: true)).evaluationURL
                    guard FileManager.default.fileExists(atPath: url.path) else { continue }
                    let result = try EvaluationReport.read(from: url)
                    progress.append(
                        (name, result.clean.accuracy, result.robustness.map { ($0.epsilon, $0.worstCaseAccuracy) }))
                }
            }
        }
        sweepProgress = progress
        let sets = methods.flatMap { $0.runs.values.compactMap { $0.evaluation.map { Set($0.robustness.map(\.epsilon)) } } }
        radii = (sets.dropFirst().reduce(sets.first ?? []) { $0.intersection($1) }).sorted()
    }

    // MARK: - Measures

    /// A measure of one run, nil where the run lacks it.
    public struct Measure {
        public let name: String
        public let higherIsBetter: Bool
        public let percent: Bool
        /// Decimals of a value that is not a percentage.
        public var digits = 3
        public let value: (RunSummary) -> Double?
    }

    /// Clean accuracy on the attacked images.
    public var cleanMeasure: Measure {
        Measure(name: "clean", higherIsBetter: true, percent: true) { $0.evaluation?.clean.accuracy }
    }

    /// Worst-case robust accuracy at each radius, in the order of ``radii``.
    public var robustMeasures: [Measure] {
        radii.map { radius in
            Measure(name: "robust ε=\(SVGChart.label(radius))", higherIsBetter: true, percent: true) { run in
                run.evaluation?.robustness.first { $0.epsilon == radius }?.worstCaseAccuracy
            }
        }
    }

    /// The ensemble's accuracy on the whole test set after its last epoch (10 000 images on
    /// Fashion-MNIST): the precise clean accuracy, where the attacked images are a sample.
    public var testSetMeasure: Measure {
        Measure(name: "clean (test set)", higherIsBetter: true, percent: true) { $0.metrics.last?.testAccuracy }
    }

    /// Every measure of the comparison table, in order.
    public var measures: [Measure] {
        var result = [cleanMeasure, testSetMeasure] + robustMeasures
        result += [
            Measure(name: "HVP cos", higherIsBetter: false, percent: false) { $0.analysis?.report.meanHVPCosine },
            Measure(name: "HVP cos (Rademacher)", higherIsBetter: false, percent: false) {
                $0.analysis?.report.meanHVPCosineRademacher
            },
            Measure(name: "grad cos", higherIsBetter: false, percent: false) { $0.analysis?.report.meanGradientCosine },
            Measure(name: "transfer", higherIsBetter: false, percent: true) {
                $0.evaluation?.transferability.first.flatMap(ReportBuilder.meanTransfer)
            },
            Measure(name: "‖Hz‖", higherIsBetter: false, percent: false) { run in
                run.analysis.flatMap { Statistics.mean($0.report.hvpNorm) }
            },
            // The share of a method's runs whose gradient-masking checks all passed (docs/evaluation.md).
            Measure(name: "checks passed", higherIsBetter: true, percent: true) { run in
                run.evaluation.map { $0.allChecksPassed ? 1 : 0 }
            },
            Measure(name: "s/epoch", higherIsBetter: false, percent: false) { run in
                run.metrics.isEmpty ? nil : run.trainingSeconds / Double(run.metrics.count)
            },
        ]
        return result
    }

    /// Robust accuracy by attack family at each radius: after the white-box (gradient) attacks, after
    /// white-box and score-based (Square runs on the white-box survivors, AutoAttack's cascade),
    /// under transfer alone (examples from the held-out surrogates, on every image), and the worst
    /// case over everything.
    public var familyMeasures: [Measure] {
        radii.flatMap { radius -> [Measure] in
            let label = SVGChart.label(radius)
            func record(_ run: RunSummary) -> EpsilonRecord? { run.evaluation?.robustness.first { $0.epsilon == radius } }
            return [
                Measure(name: "white-box ε=\(label)", higherIsBetter: true, percent: true) { record($0)?.whiteBoxAccuracy },
                Measure(name: "+ score-based ε=\(label)", higherIsBetter: true, percent: true) { record($0)?.suiteAccuracy },
                Measure(name: "transfer ε=\(label)", higherIsBetter: true, percent: true) { record($0)?.transferAccuracy },
                Measure(name: "worst case ε=\(label)", higherIsBetter: true, percent: true) { record($0)?.worstCaseAccuracy },
            ]
        }
    }

    /// What each run cost, in seconds: training (the sum of its epochs), the attacks at each radius
    /// (the sum of their units), and the evaluation from its start to its finish, left out for an
    /// evaluation that was resumed (its span holds the time it was stopped).
    public var costMeasures: [Measure] {
        var result = [
            Measure(name: "training s", higherIsBetter: false, percent: false, digits: 0) {
                $0.metrics.isEmpty ? nil : $0.trainingSeconds
            }
        ]
        result += radii.map { radius in
            Measure(name: "attacks ε=\(SVGChart.label(radius)) s", higherIsBetter: false, percent: false, digits: 0) { run in
                run.evaluation?.robustness.first { $0.epsilon == radius }.map { $0.units.reduce(0) { $0 + $1.seconds } }
            }
        }
        result.append(
            Measure(name: "evaluation s (start to finish)", higherIsBetter: false, percent: false, digits: 0) { run in
                guard let provenance = run.evaluation?.provenance, provenance.commands.count == 1,
                    let start = ISO8601DateFormatter().date(from: provenance.started),
                    let finish = ISO8601DateFormatter().date(from: provenance.finished)
                else { return nil }
                return finish.timeIntervalSince(start)
            })
        return result
    }

    static let costNote =
        "Seconds on the machine the runs ran on, at their thread count (each run's evaluation.json and metrics.jsonl). Training: the sum of its epochs. Attacks: the units of the suite at that radius. Evaluation: from its start to its finish as evaluation.json records them, so it holds the attacks, the transfer attacks, the matrix, the masking checks and the surrogate's training when the run was the first of its seed to need it; an evaluation that was resumed is left out (its span holds the stop)."

    static let familyNote =
        "White-box: after the gradient attacks of the suite on every objective. + score-based: after Square too, which runs on the images the white-box attacks left (AutoAttack's cascade, so Square alone is not measured). Transfer: under the examples crafted on the held-out surrogates alone, on every image. Worst case: over everything, the masking checks' own runs and the transferability matrix's examples included. An image broken at a smaller radius counts as broken."

    /// A method's values of a measure over its seeds, in seed order.
    public func values(_ measure: Measure, of method: MethodRuns) -> [Double] {
        method.runs.keys.sorted().compactMap { method.runs[$0].flatMap(measure.value) }
    }

    /// The plain ensemble (the first method trained with the baseline method and no adversarial
    /// training) and EDLCM (the first method trained with edlcm), when the study has them.
    public var references: [(label: String, method: MethodRuns)] {
        var result: [(String, MethodRuns)] = []
        if let plain = methods.first(where: { $0.config.method == .baseline && $0.config.adversarial == .disabled }) {
            result.append(("plain", plain))
        }
        if let edlcm = methods.first(where: { $0.config.method == .edlcm }) { result.append(("EDLCM", edlcm)) }
        return result
    }

    /// Per image of a run at a radius, whether it stayed robust, keyed by the image's test index.
    static func robustImages(_ run: RunSummary, radius: Double) -> [Int: Bool]? {
        guard let evaluation = run.evaluation, let e = evaluation.robustness.firstIndex(where: { $0.epsilon == radius }) else {
            return nil
        }
        return Dictionary(
            uniqueKeysWithValues: evaluation.perExample.map { ($0.index, $0.cleanCorrect && $0.brokenBy[e] == nil) })
    }

    /// Per seed both finished, per image both attacked (ascending test index): +1 where only
    /// `method` kept the image at `radius`, −1 where only `reference` did, 0 otherwise.
    public func pairedOutcomes(_ method: MethodRuns, _ reference: MethodRuns, radius: Double) -> [UInt64: [Int]] {
        var result: [UInt64: [Int]] = [:]
        for seed in method.runs.keys.sorted() {
            guard let run = method.runs[seed], let other = reference.runs[seed],
                let mine = Self.robustImages(run, radius: radius), let theirs = Self.robustImages(other, radius: radius)
            else { continue }
            let shared = mine.keys.filter { theirs[$0] != nil }.sorted()
            guard !shared.isEmpty else { continue }
            result[seed] = shared.map { (mine[$0]! ? 1 : 0) - (theirs[$0]! ? 1 : 0) }
        }
        return result
    }

    /// A method's robust accuracy minus a reference's at a radius: over the seeds both have, the mean
    /// difference with its Student-t interval, and the two-level bootstrap over seeds and then the
    /// images both attacked.
    public func difference(_ method: MethodRuns, from reference: MethodRuns, radius: Double) -> (
        seeds: Int, overSeeds: Statistics.Interval?, overSeedsAndImages: Statistics.Interval?
    ) {
        let outcomes = pairedOutcomes(method, reference, radius: radius)
        let seeds = outcomes.keys.sorted()
        let differences = seeds.map { seed in
            let accuracy = { (run: RunSummary) in
                Double(Self.robustImages(run, radius: radius)!.values.filter { $0 }.count)
                    / Double(Self.robustImages(run, radius: radius)!.count)
            }
            return accuracy(method.runs[seed]!) - accuracy(reference.runs[seed]!)
        }
        let bootstrap =
            seeds.isEmpty ? nil : Statistics.twoLevelBootstrap(seeds.map { outcomes[$0]! }, resamples: 2000, seed: 0)
        return (seeds.count, Statistics.meanInterval(differences), bootstrap)
    }

    // MARK: - Rendering

    /// The path of `target` relative to the folder `base` (both made absolute), for links from a
    /// report to the files behind its numbers.
    static func relativePath(to target: URL, from base: URL) -> String {
        let targetParts = target.standardizedFileURL.pathComponents
        let baseParts = base.standardizedFileURL.pathComponents
        var common = 0
        while common < min(targetParts.count, baseParts.count), targetParts[common] == baseParts[common] { common += 1 }
        let parts = Array(repeating: "..", count: baseParts.count - common) + targetParts[common...]
        return parts.isEmpty ? "." : parts.joined(separator: "/")
    }

    /// The files behind a run's numbers, as (label, path relative to `base`).
    static func runFiles(_ run: RunSummary, base: URL) -> [(String, String)] {
        RunDirectory.resultFiles.compactMap { name in
            let url = run.folder.appendingPathComponent(name)
            return FileManager.default.fileExists(atPath: url.path) ? (name, relativePath(to: url, from: base)) : nil
        }
    }

    /// An HTML anchor name for a method's runs.
    static func anchor(_ method: String) -> String { "runs-\(method)" }

    static func format(_ value: Double, percent: Bool) -> String {
        percent ? String(format: "%.1f%%", value * 100) : String(format: "%.3f", value)
    }

    /// "mean ± sd" over seeds (just the value for one seed, "–" for none).
    static func summary(_ values: [Double], percent: Bool, digits: Int = 3) -> String {
        guard let mean = Statistics.mean(values) else { return "–" }
        guard let sd = Statistics.standardDeviation(values) else {
            return percent ? format(mean, percent: true) : String(format: "%.\(digits)f", mean)
        }
        return percent
            ? String(format: "%.1f ± %.1f%%", mean * 100, sd * 100)
            : String(format: "%.\(digits)f ± %.\(digits)f", mean, sd)
    }

    static func points(_ interval: Statistics.Interval?) -> String {
        guard let interval else { return "–" }
        return String(
            format: "%+.1f [%+.1f, %+.1f]%@", interval.estimate * 100, interval.lower * 100, interval.upper * 100,
            interval.excludesZero ? " *" : "")
    }

    /// The rows of the difference tables: method, reference, radius, seeds, over seeds, over images.
    var differenceRows: [[String]] {
        var rows: [[String]] = []
        for (label, reference) in references {
            for method in methods where method.name != reference.name {
                for radius in radii {
                    let d = difference(method, from: reference, radius: radius)
                    rows.append([
                        method.name, label, SVGChart.label(radius), String(d.seeds), Self.points(d.overSeedsAndImages),
                        Self.points(d.overSeeds),
                    ])
                }
            }
        }
        return rows
    }

    static let differenceHeader = [
        "method", "against", "ε", "seeds", "difference (points, 95 % bootstrap over seeds and images)",
        "over seeds only (points, 95 % t interval)",
    ]

    /// The budget sentence of the evaluations (one per distinct budget).
    var budgetSentences: [String] {
        var seen: [String] = []
        for method in methods {
            for run in method.runs.values {
                if let sentence = run.evaluation?.budgetDescription, !seen.contains(sentence) { seen.append(sentence) }
            }
        }
        return seen.map { "Robust accuracies: \($0)." }
    }

    /// A Markdown section of one table: its heading, the table and the note under it.
    static func markdownSection(_ title: String, header: [String], rows: [[String]], note: String) -> [String] {
        ["## \(title)", ""] + ReportBuilder.markdownTable(header: header, rows: rows) + ["", note, ""]
    }

    /// The Markdown report; links to the runs' files are relative to `base`, the folder the report is
    /// written to; `frontsChart`, the path (relative to `base`) of the fronts' SVG (``frontsSVG``).
    public func markdown(command: [String], base: URL, frontsChart: String? = nil) -> String {
        var lines = ["# Study `\(name)`", ""]
        let seedCount = methods.map(\.runs.count).max() ?? 0
        lines.append(
            "\(methods.count) methods × up to \(seedCount) seed\(seedCount == 1 ? "" : "s"), from \(folders.map { "`\(Self.relativePath(to: $0, from: base))`" }.joined(separator: ", ")) (relative to this file). Made by `\(ReportBuilder.shellLine(command))`."
        )
        lines.append("")
        if !missing.isEmpty {
            lines.append("Not finished yet (left out): \(missing.joined(separator: ", ")).")
            lines.append("")
        }
        lines += budgetSentences.flatMap { [$0, ""] }
        let comparisons = self.comparisons
        let headlineRows = headlineRows(comparisons.headlines)
        if !headlineRows.isEmpty {
            lines += Self.markdownSection(
                "Which method wins: EDLCM against each method", header: Self.headlineHeader, rows: headlineRows,
                note: Self.headlineNote)
        }
        let verdictRows = Self.verdictRows(comparisons.verdicts)
        if !verdictRows.isEmpty {
            lines += Self.markdownSection(
                "At the operating points: EDLCM against each method on the test images", header: Self.verdictHeader,
                rows: verdictRows, note: Self.verdictNote)
            for verdict in comparisons.verdicts {
                lines.append("- \(verdict.method), ε = \(SVGChart.label(verdict.radius)): \(verdict.sentence).")
            }
            lines.append("")
        }
        if let fronts {
            lines += frontsMarkdown(fronts, matches: comparisons.matches, chart: frontsChart)
        } else if !sweepProgress.isEmpty {
            lines.append("## The sweep so far (no operating points until every point is finished)")
            lines.append("")
            lines += ReportBuilder.markdownTable(header: Self.sweepProgressHeader, rows: sweepProgressRows)
            lines.append("")
        }
        lines.append("## Per method: mean ± sd over seeds")
        lines.append("")
        lines += markdownTable(measures, withSeeds: true)
        lines.append("")
        lines.append(
            "Robust ε: the per-image worst case over the whole evaluation. HVP cos: the paper's transferability metric (lower is more dispersed), with the gradient-sign probe L_g trains on and with a Rademacher probe. Transfer: mean member-to-member success of PGD. ‖Hz‖: mean over members. Checks passed: the share of runs whose gradient-masking checks all passed (a failure is named in the run's evaluation.md)."
        )
        lines.append("")
        let families = familyMeasures
        if !families.isEmpty {
            lines.append("## Robust accuracy by attack family: mean ± sd over seeds")
            lines.append("")
            lines += markdownTable(families, withSeeds: false)
            lines.append("")
            lines.append(Self.familyNote)
            lines.append("")
        }
        lines.append("## Cost per run: mean ± sd over seeds")
        lines.append("")
        lines += markdownTable(costMeasures, withSeeds: false)
        lines.append("")
        lines.append(Self.costNote)
        lines.append("")
        let rows = differenceRows
        if !rows.isEmpty {
            lines.append("## Robust accuracy against the references")
            lines.append("")
            lines += ReportBuilder.markdownTable(header: Self.differenceHeader, rows: rows)
            lines.append("")
            lines.append(
                "Points of robust accuracy, method minus reference; * marks an interval that excludes 0. Bootstrap over seeds and images: 2 000 resamples, each drawing the seeds with replacement and then, within each seed drawn, the images both runs attacked (paired by seed and image). Over seeds only: the mean of per-seed differences with a Student-t interval (needs 2 seeds)."
            )
            lines.append("")
        }
        lines.append("## Runs and the commands that made them")
        lines.append("")
        for method in methods {
            for seed in method.runs.keys.sorted() {
                let run = method.runs[seed]!
                lines.append(
                    "- `\(Self.relativePath(to: run.folder, from: base))` ("
                        + Self.runFiles(run, base: base).map { "[\($0.0)](\($0.1))" }.joined(separator: ", ") + "): "
                        + (run.record.commands.map { "`\(ReportBuilder.shellLine($0))`" }.joined(separator: "; ")))
            }
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    static let sweepProgressHeader = ["sweep point", "clean (validation)", "robust (validation)"]

    var sweepProgressRows: [[String]] {
        sweepProgress.map { point in
            [
                "sweep/\(point.run)", Self.format(point.clean, percent: true),
                point.robust.map { "ε \(SVGChart.label($0.epsilon)): \(Self.format($0.accuracy, percent: true))" }.joined(
                    separator: ", "),
            ]
        }
    }

    /// The name of the study's EDLCM method (the first trained with edlcm), if any.
    var edlcmName: String? { references.first { $0.label == "EDLCM" }?.method.name }

    /// Each method's colour in the charts: its position in the study.
    var colours: [String: Int] {
        Dictionary(uniqueKeysWithValues: methods.enumerated().map { ($1.name, $0) })
    }

    /// The fronts' charts, one per sweep radius side by side, as one SVG file.
    public var frontsSVG: String? {
        fronts.map { fronts in SVGChart.standalone(fronts.epsilons.map { fronts.chart(radius: $0, colours: colours) }) }
    }

    func frontsNote(_ fronts: StudyFronts) -> String {
        "Each point trained with seed \(fronts.seed.map(String.init) ?? "–") and attacked on the same validation images (held out of the training set; the test split is never read for a choice). The operating point of each method (ringed; ✓): \(fronts.selection.rule). Reference: \(fronts.selection.reference) at \(Self.format(fronts.selection.referenceAccuracy, percent: true)). Lines join each method's upper front; dashed markers are points another point of the same method beats on both accuracies."
    }

    /// The Markdown sections of the fronts: the comparison at matched clean accuracy, the chart, every point.
    func frontsMarkdown(_ fronts: StudyFronts, matches: [StudyFronts.Match], chart: String?) -> [String] {
        var lines: [String] = []
        if let edlcm = edlcmName {
            if !matches.isEmpty {
                lines += Self.markdownSection(
                    "At matched clean accuracy: EDLCM against each method's front", header: StudyFronts.matchHeader,
                    rows: StudyFronts.matchRows(matches, edlcm: edlcm), note: fronts.matchNote(edlcm: edlcm))
            }
        }
        lines.append("## Fronts: every sweep point on the validation images")
        lines.append("")
        if let chart {
            lines.append("![Fronts: clean against robust accuracy on the validation images](\(chart))")
            lines.append("")
        }
        lines += ReportBuilder.markdownTable(header: StudyFronts.pointsHeader, rows: fronts.pointRows)
        lines.append("")
        lines.append(frontsNote(fronts))
        lines.append("")
        return lines
    }

    /// A plain HTML table of text cells.
    func htmlRows(header: [String], rows: [[String]]) -> String {
        "<table><thead><tr>" + header.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            + rows.map { "<tr>" + $0.map { "<td>\(SVGChart.escape($0))</td>" }.joined() + "</tr>" }.joined() + "</tbody></table>"
    }

    /// A table of measures, one row per method (linked to its runs), each cell the mean ± sd over
    /// seeds with the mean in `data-mean` for the page's tests.
    func htmlTable(id: String, title: String, measures: [Measure], withSeeds: Bool) -> String {
        var body = "<h2 id=\"\(id)\">\(SVGChart.escape(title))</h2><table data-table=\"\(id)\"><thead><tr>"
        body +=
            ((["method"] + (withSeeds ? ["seeds"] : []) + measures.map(\.name)).map { "<th>\(SVGChart.escape($0))</th>" }.joined())
            + "</tr></thead><tbody>"
        for method in methods {
            body +=
                "<tr data-method=\"\(SVGChart.escape(method.name))\"><td><a href=\"#\(Self.anchor(method.name))\">\(SVGChart.escape(method.name))</a></td>"
                + (withSeeds ? "<td>\(method.runs.count)</td>" : "")
            for measure in measures {
                let values = values(measure, of: method)
                let data =
                    Statistics.mean(values).map { " data-mean=\"\($0)\" data-key=\"\(SVGChart.escape(measure.name))\"" } ?? ""
                body +=
                    "<td class=\"number\"\(data)>\(SVGChart.escape(Self.summary(values, percent: measure.percent, digits: measure.digits)))</td>"
            }
            body += "</tr>"
        }
        return body + "</tbody></table>"
    }

    /// The same table in Markdown.
    func markdownTable(_ measures: [Measure], withSeeds: Bool) -> [String] {
        ReportBuilder.markdownTable(
            header: ["method"] + (withSeeds ? ["seeds"] : []) + measures.map(\.name),
            rows: methods.map { method in
                [method.name] + (withSeeds ? [String(method.runs.count)] : [])
                    + measures.map { Self.summary(values($0, of: method), percent: $0.percent, digits: $0.digits) }
            })
    }

    /// The HTML page: the same tables, and robust accuracy against ε (mean over seeds, error bars ±
    /// sd) and clean against robust accuracy per run.
    public func html(command: [String], base: URL) -> String {
        var body = "<h1>Study <code>\(SVGChart.escape(name))</code></h1>"
        body +=
            "<p class=\"meta\">\(methods.count) methods, from \(folders.map { "<code>\(SVGChart.escape(Self.relativePath(to: $0, from: base)))</code>" }.joined(separator: ", ")) (relative to this page) · made by <code>\(SVGChart.escape(ReportBuilder.shellLine(command)))</code></p>"
        if !missing.isEmpty { body += "<p>Not finished yet (left out): \(SVGChart.escape(missing.joined(separator: ", ")))</p>" }
        for sentence in budgetSentences { body += "<p class=\"budget\">\(SVGChart.escape(sentence))</p>" }
        let comparisons = self.comparisons
        let headlines = comparisons.headlines
        if !headlines.isEmpty {
            body +=
                "<h2 id=\"headline\">Which method wins: EDLCM against each method</h2><table data-table=\"headline\"><thead><tr>"
            body += Self.headlineHeader.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            for (row, line) in zip(headlineRows(headlines), headlines) {
                body +=
                    "<tr data-words=\"\(SVGChart.escape(line.words))\">" + row.map { "<td>\(SVGChart.escape($0))</td>" }.joined()
                    + "</tr>"
            }
            body += "</tbody></table><p>\(SVGChart.escape(Self.headlineNote))</p>"
        }
        let verdicts = comparisons.verdicts
        let verdictRows = Self.verdictRows(verdicts)
        if !verdictRows.isEmpty {
            body +=
                "<h2 id=\"verdicts\">At the operating points: EDLCM against each method on the test images</h2><table data-table=\"verdicts\"><thead><tr>"
            body += Self.verdictHeader.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            for (row, verdict) in zip(verdictRows, verdicts) {
                body +=
                    "<tr data-outcome=\"\(verdict.outcome)\">" + row.map { "<td>\(SVGChart.escape($0))</td>" }.joined() + "</tr>"
            }
            body += "</tbody></table><p>\(SVGChart.escape(Self.verdictNote))</p><ul>"
            for verdict in verdicts {
                body +=
                    "<li>\(SVGChart.escape(verdict.method)), ε = \(SVGChart.label(verdict.radius)): \(SVGChart.escape(verdict.sentence)).</li>"
            }
            body += "</ul>"
        }
        if let fronts, let edlcm = edlcmName {
            let matches = comparisons.matches
            if !matches.isEmpty {
                body += "<h2 id=\"matched\">At matched clean accuracy: EDLCM against each method's front</h2>"
                body += htmlRows(header: StudyFronts.matchHeader, rows: StudyFronts.matchRows(matches, edlcm: edlcm))
                body += "<p>\(SVGChart.escape(fronts.matchNote(edlcm: edlcm)))</p>"
            }
        }
        if let fronts {
            body += "<h2 id=\"fronts\">Fronts: every sweep point on the validation images</h2><div class=\"charts\">"
            body += fronts.epsilons.map { fronts.chart(radius: $0, colours: colours) }.joined() + "</div>"
            body += htmlRows(header: StudyFronts.pointsHeader, rows: fronts.pointRows)
            body += "<p>\(SVGChart.escape(frontsNote(fronts)))</p>"
        } else if !sweepProgress.isEmpty {
            body += "<h2 id=\"sweep-progress\">The sweep so far (no operating points until every point is finished)</h2>"
            body += htmlRows(header: Self.sweepProgressHeader, rows: sweepProgressRows)
        }
        body += htmlTable(id: "methods", title: "Per method: mean ± sd over seeds", measures: measures, withSeeds: true)
        let families = familyMeasures
        if !families.isEmpty {
            body += htmlTable(
                id: "families", title: "Robust accuracy by attack family: mean ± sd over seeds", measures: families,
                withSeeds: false)
            body += "<p>\(SVGChart.escape(Self.familyNote))</p>"
        }
        body += htmlTable(id: "cost", title: "Cost per run: mean ± sd over seeds", measures: costMeasures, withSeeds: false)
        body += "<p>\(SVGChart.escape(Self.costNote))</p>"
        let rows = differenceRows
        if !rows.isEmpty {
            body += "<h2 id=\"differences\">Robust accuracy against the references</h2><table><thead><tr>"
            body += Self.differenceHeader.map { "<th>\(SVGChart.escape($0))</th>" }.joined() + "</tr></thead><tbody>"
            for row in rows { body += "<tr>" + row.map { "<td>\(SVGChart.escape($0))</td>" }.joined() + "</tr>" }
            body +=
                "</tbody></table><p>Points of robust accuracy, method minus reference; * marks an interval that excludes 0.</p>"
        }
        // Robust accuracy against ε: means over seeds, ± one sd as dashed lines of the method's colour.
        body += "<h2 id=\"curves\">Robust accuracy against ε</h2><div class=\"charts\">"
        let clean = cleanMeasure
        let robustMeasures = self.robustMeasures
        let series = methods.enumerated().flatMap { index, method -> [SVGChart.Series] in
            let columns = [(0.0, clean)] + zip(radii, robustMeasures).map { ($0, $1) }
            let stats = columns.map { x, measure in
                (x, Statistics.mean(values(measure, of: method)) ?? 0, Statistics.standardDeviation(values(measure, of: method)))
            }
            var result = [SVGChart.Series(name: method.name, points: stats.map { ($0.0, $0.1) }, colourIndex: index)]
            if stats.contains(where: { $0.2 != nil }) {
                for (sign, label) in [(1.0, "+sd"), (-1.0, "−sd")] {
                    result.append(
                        SVGChart.Series(
                            name: "\(method.name) \(label)", points: stats.map { ($0.0, $0.1 + sign * ($0.2 ?? 0)) },
                            dashed: true,
                            colourIndex: index))
                }
            }
            return result
        }
        body += SVGChart.lineChart(
            title: "Worst-case robust accuracy (mean over seeds)", xLabel: "ε", yLabel: "accuracy", series: series, yRange: 0...1,
            percent: true)
        if let last = robustMeasures.last {
            let scatter = methods.enumerated().map { index, method in
                SVGChart.Series(
                    name: method.name,
                    points: method.runs.values.compactMap { run in
                        clean.value(run).flatMap { c in last.value(run).map { (c, $0) } }
                    }
                    .sorted { $0.0 < $1.0 }, colourIndex: index)
            }
            body += SVGChart.lineChart(
                title: "Clean against \(last.name), per run", xLabel: "clean accuracy", yLabel: "robust accuracy",
                series: scatter,
                percent: true)
        }
        body += "</div>"
        body += "<h2 id=\"commands\">Runs and the commands that made them</h2>"
        for method in methods {
            body += "<h3 id=\"\(Self.anchor(method.name))\">\(SVGChart.escape(method.name))</h3><ul>"
            for seed in method.runs.keys.sorted() {
                let run = method.runs[seed]!
                let files = Self.runFiles(run, base: base).map {
                    "<a href=\"\(SVGChart.escape($0.1))\">\(SVGChart.escape($0.0))</a>"
                }
                body +=
                    "<li><code>\(SVGChart.escape(Self.relativePath(to: run.folder, from: base)))</code> (\(files.joined(separator: ", "))): "
                    + run.record.commands.map { "<code>\(SVGChart.escape(ReportBuilder.shellLine($0)))</code>" }.joined(
                        separator: "; ")
                    + "</li>"
            }
            body += "</ul>"
        }
        return ReportBuilder.page(title: "Study \(name)", body: body)
    }
}
