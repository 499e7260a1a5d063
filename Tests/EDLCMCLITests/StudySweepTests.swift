import Foundation
import TestSupport
import Testing

@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMReport
@testable import EDLCMStudy
@testable import EDLCMTraining

/// A tiny study with fronts: the plain ensemble (one point), ADP swept over 4 values of α and EDLCM
/// over 4 scales of (α, β), on 384 training images with 200 held out for validation, 1 epoch, 2 seeds.
private let sweepStudy = """
    name: tiny-sweep
    training:
      members: 2
      epochs: 1
      train-limit: 384
      validation: 200
      batch-size: 64
      test-limit: 100
      threads: 1
    seeds: [0, 1]
    methods:
      - name: plain
        method: baseline
      - name: adp
        method: adp
        sweep: {adp-alpha: [0, 0.5, 2, 8]}
      - name: edlcm
        method: edlcm
        sweep: {scale: [0, 0.5, 2, 8], keys: [alpha, beta]}
    evaluation:
      attacks: [apgd-ce]
      samples: 24
      eps: [0.1]
      steps: 2
      checks: false
      matrix: false
      threads: 1
    analysis:
      samples: 12
      power-iterations: 2
      threads: 1
    sweep:
      seed: 0
      evaluation: {attacks: [apgd-ce], eps: [0.05, 0.1], steps: 3, samples: 60, checks: false, matrix: false, threads: 1}
      select: {within: 3, of: plain}
    """

@Suite("edlcm study: sweeps", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized)
struct StudySweepTests {
    @Test("every point is trained and attacked on the validation split; the rule picks each method's operating point")
    func sweepThenComparison() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("sweep.yaml")
        try sweepStudy.write(to: file, atomically: true, encoding: .utf8)
        let out = root.appendingPathComponent("out")
        let result = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", out.path])
        try #require(result.status == 0, "\(result.output)")
        #expect(result.output.contains("sweep/adp-adp-alpha-8-seed0: done in"))

        let plan = try StudyPlan(path: file.path)
        #expect(
            plan.sweepRuns.map(\.id) == [
                "sweep/plain-seed0", "sweep/adp-adp-alpha-0-seed0", "sweep/adp-adp-alpha-0.5-seed0",
                "sweep/adp-adp-alpha-2-seed0", "sweep/adp-adp-alpha-8-seed0", "sweep/edlcm-x0-seed0",
                "sweep/edlcm-x0.5-seed0", "sweep/edlcm-x2-seed0", "sweep/edlcm-x8-seed0",
            ])
        // Each point: its value trained, attacked on 60 validation images at both radii.
        var points: [StudySweepPoint] = []
        for run in plan.sweepRuns {
            let folder = out.appendingPathComponent(run.id)
            let record = try RunDirectory.existing(folder).readRecord()
            if let value = run.sweepValue, run.method == "adp" { #expect(record.config.adpAlpha == value) }
            let evaluation = try EvaluationReport.read(from: folder.appendingPathComponent("evaluation.json"))
            #expect(evaluation.samples.split == "validation" && evaluation.samples.count == 60)
            #expect(evaluation.robustness.map(\.epsilon) == [0.05, 0.1])
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("analysis.json").path))
            points.append(
                StudySweepPoint(
                    method: run.method, value: run.sweepValue, run: run.folderName, cleanAccuracy: evaluation.clean.accuracy,
                    robustAccuracy: evaluation.robustness.map(\.worstCaseAccuracy), epsilons: [0.05, 0.1]))
        }
        // The rule by hand: each swept method's most robust point at ε 0.1 within 3 points of plain's accuracy.
        let plain = points[0].cleanAccuracy
        func best(_ method: String) -> StudySweepPoint {
            let front = points.filter { $0.method == method }
            let eligible = front.filter { $0.cleanAccuracy >= plain - 0.03 - 1e-12 }
            return eligible.isEmpty
                ? front.max { $0.cleanAccuracy < $1.cleanAccuracy }!
                : eligible.max { ($0.robustAccuracy[1], $0.cleanAccuracy) < ($1.robustAccuracy[1], $1.cleanAccuracy) }!
        }
        let selection = try Document.read(
            StudySweepSelection.self, from: out.appendingPathComponent("sweep.json"), limits: .records, label: "sweep.json")
        #expect(selection.points == points)
        #expect(selection.chosen == ["adp": best("adp").value!, "edlcm": best("edlcm").value!])
        #expect(selection.referenceAccuracy == plain)

        // The comparison: both seeds of each swept method at its chosen value, attacked on the test split.
        for seed in [0, 1] {
            let adp = out.appendingPathComponent("runs/adp-seed\(seed)")
            #expect(try RunDirectory.existing(adp).readRecord().config.adpAlpha == best("adp").value!)
            let edlcm = try RunDirectory.existing(out.appendingPathComponent("runs/edlcm-seed\(seed)")).readRecord().config
            let base = try StudyPlan(path: file.path).methods.first { $0.name == "edlcm" }!.training.resolved
            #expect(edlcm.alpha == base.alpha * best("edlcm").value! && edlcm.beta == base.beta * best("edlcm").value!)
            let evaluation = try EvaluationReport.read(from: adp.appendingPathComponent("evaluation.json"))
            #expect(evaluation.samples.split == "test" && evaluation.samples.count == 24)
        }

        // The report: fronts (an SVG beside the Markdown, charts in the HTML) and the verdict at
        // matched clean accuracy, each method's front read at EDLCM's operating point by hand.
        let markdown = root.appendingPathComponent("report.md")
        let report = try runProcess(edlcmBinary, ["study", "report", out.path, "--out", markdown.path, "--format", "markdown"])
        #expect(report.status == 0, "\(report.output)")
        let text = try String(contentsOf: markdown, encoding: .utf8)
        let svg = try String(contentsOf: root.appendingPathComponent("report-fronts.svg"), encoding: .utf8)
        #expect(text.contains("![Fronts: clean against robust accuracy on the validation images](report-fronts.svg)"))
        #expect(svg.hasPrefix("<svg xmlns=\"http://www.w3.org/2000/svg\"") && svg.contains("class=\"marked\""))
        #expect(svg.components(separatedBy: "class=\"title\">Fronts on the validation images, ε = ").count == 3)  // 0.05, 0.1
        #expect(text.contains("## At matched clean accuracy: EDLCM against each method's front"))
        #expect(text.contains("| edlcm | 8 | sweep/edlcm-x8-seed0 |"))
        let studyReport = try StudyReport(folders: [out])
        #expect(studyReport.fronts != nil)
        let operating = best("edlcm")
        let matches = studyReport.matches
        #expect(matches.count == 4)  // plain and ADP, at two radii
        #expect(studyReport.radii == [0.1])  // the comparison's evaluation: the seed spread is known at 0.1 only
        // By hand: sort a method's points by clean accuracy, keep those no other beats on both, and
        // read the line between the two around the clean accuracy asked for.
        func frontValue(_ front: [(Double, Double)], at x: Double) -> Double? {
            let kept = front.filter { p in !front.contains { $0.0 >= p.0 && $0.1 >= p.1 && ($0.0 > p.0 || $0.1 > p.1) } }
                .sorted { $0.0 < $1.0 }
            if kept.count == 1 { return kept[0].0 == x ? kept[0].1 : nil }
            for (a, b) in zip(kept, kept.dropFirst()) where a.0 <= x && x <= b.0 {
                return a.0 == b.0 ? max(a.1, b.1) : a.1 + (b.1 - a.1) * (x - a.0) / (b.0 - a.0)
            }
            return nil
        }
        // What a front reaches at x or more: its value there, or below it its least accurate point's.
        func reachValue(_ front: [(Double, Double)], at x: Double) -> Double? {
            if let value = frontValue(front, at: x) { return value }
            let kept = front.filter { p in !front.contains { $0.0 >= p.0 && $0.1 >= p.1 && ($0.0 > p.0 || $0.1 > p.1) } }
            let first = kept.min { $0.0 < $1.0 }!
            return x < first.0 ? first.1 : nil
        }
        for match in matches {
            let e = match.radius == 0.05 ? 0 : 1
            let front = { (method: String) in
                points.filter { $0.method == method }.map { ($0.cleanAccuracy, $0.robustAccuracy[e]) }
            }
            // The method's front at EDLCM's operating point, else EDLCM's front at the method's.
            let theirs = match.method == "plain" ? points[0] : best(match.method)
            if let expected = frontValue(front(match.method), at: operating.cleanAccuracy) {
                #expect(match.reading == .methodFront && match.clean == operating.cleanAccuracy)
                #expect(match.edlcmRobust == operating.robustAccuracy[e] && abs(match.methodRobust! - expected) < 1e-12)
            } else if let expected = frontValue(front("edlcm"), at: theirs.cleanAccuracy) {
                #expect(match.reading == .edlcmFront && match.clean == theirs.cleanAccuracy)
                #expect(abs(match.edlcmRobust - expected) < 1e-12 && match.methodRobust == theirs.robustAccuracy[e])
            } else if let expected = reachValue(front(match.method), at: operating.cleanAccuracy) {
                // Off both fronts: the front that starts above the other's operating point, at its start.
                #expect(match.reading == .methodAbove && match.clean == operating.cleanAccuracy)
                #expect(match.edlcmRobust == operating.robustAccuracy[e] && match.methodRobust == expected)
            } else if let expected = reachValue(front("edlcm"), at: theirs.cleanAccuracy) {
                #expect(match.reading == .edlcmAbove && match.clean == theirs.cleanAccuracy)
                #expect(match.edlcmRobust == expected && match.methodRobust == theirs.robustAccuracy[e])
            } else {
                #expect(match.reading == nil && match.methodRobust == nil && match.difference == nil)
                #expect(match.outcome == (operating.cleanAccuracy > match.range.upperBound ? .notReached : .aboveFront))
            }
            if let methodRobust = match.methodRobust {
                let interval = try #require(match.difference)
                #expect(abs(interval.estimate - (match.edlcmRobust - methodRobust)) < 1e-12)
                #expect(interval.lower <= interval.estimate && interval.estimate <= interval.upper)
                // Two seeds of every method: where the comparison was evaluated, the operating points'
                // seed spread widens the interval that decides.
                if match.radius == 0.1 {
                    let verdict = try #require(studyReport.verdicts.first { $0.method == match.method })
                    #expect(match.seedSpread == verdict.differenceSpread && match.differenceOverSeeds != nil)
                } else {
                    #expect(match.seedSpread == nil && match.differenceOverSeeds == nil)
                }
                let decides = try #require(match.differenceOverSeeds ?? match.difference)
                #expect(decides.estimate == interval.estimate)
                let sign = decides.lower > 0 ? 1 : decides.upper < 0 ? -1 : 0
                let expected: StudyFronts.Match.Outcome =
                    sign == 0
                    ? .cannotTell
                    : (match.reading == .methodAbove && sign > 0) || (match.reading == .edlcmAbove && sign < 0)
                        ? .tradeOff : sign > 0 ? .ahead : .behind
                #expect(match.outcome == expected)
            }
            let row = StudyFronts.matchRows([match], edlcm: "edlcm")[0]
            #expect(text.contains("| " + row.joined(separator: " | ") + " |"))
        }
        // The headline: both comparisons per method and radius, in words.
        #expect(text.contains("## Which method wins: EDLCM against each method"))
        for line in studyReport.headlines {
            #expect(text.contains("| " + line.method + " | " + SVGChart.label(line.radius) + " |"))
            #expect(text.contains(" | " + line.words + " |"))
        }
        #expect(
            studyReport.headlines.count == 4
                && studyReport.headlines.allSatisfy { $0.match != nil && ($0.verdict != nil) == ($0.radius == 0.1) })
        // The verdict at the operating points reads the bootstrap over seeds and images.
        #expect(
            text.contains("| EDLCM against | ε | seeds | robust: EDLCM − method (points, 95 % bootstrap over seeds and images) |")
        )
        let html = root.appendingPathComponent("report.html")
        #expect(try runProcess(edlcmBinary, ["study", "report", out.path, "--out", html.path]).status == 0)
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(page.contains("<h2 id=\"fronts\">") && page.contains("<h2 id=\"matched\">") && page.contains("class=\"marked\""))

        // While the sweep runs (no sweep.json yet) the report lists the points finished so far.
        let selectionFile = out.appendingPathComponent("sweep.json")
        let saved = try Data(contentsOf: selectionFile)
        try FileManager.default.removeItem(at: selectionFile)
        let partial = try StudyReport(folders: [out])
        #expect(partial.fronts == nil && partial.sweepProgress.map(\.run) == plan.sweepRuns.map(\.folderName).sorted())
        for (point, row) in zip(partial.sweepProgress, partial.sweepProgressRows) {
            let expected = points.first { $0.run == point.run }!
            #expect(point.clean == expected.cleanAccuracy && point.robust.map(\.accuracy) == expected.robustAccuracy)
            #expect(row[0] == "sweep/\(point.run)")
        }
        #expect(partial.markdown(command: [], base: root).contains("## The sweep so far"))
        try saved.write(to: selectionFile)

        // Rerun: everything is finished and kept.
        let again = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", out.path])
        #expect(again.status == 0 && again.output.contains("sweep/plain-seed0: finished before, kept"), "\(again.output)")
    }

    @Test("sweep mistakes name the line and the key")
    func errors() throws {
        func message(_ text: String) -> String {
            do {
                _ = try StudyPlan(data: Data(text.utf8), format: .yaml, label: "s.yaml", defaultName: "s")
                return "no error"
            } catch let error as EDLCMError { return error.message } catch { return "\(error)" }
        }
        let head = "training: {validation: 500}\nseeds: [0]\n"
        let select = "sweep: {select: {within: 2, of: plain}}\n"
        #expect(
            message(head + "methods:\n  - name: plain\n    method: adp\n    sweep: {adp-alpha: [1, 2]}\n")
                == "s.yaml: line 6: method 'plain': a sweep needs the study's 'sweep' section (seed, evaluation, select)")
        #expect(
            message(head + "methods:\n  - name: plain\n    method: adp\n    sweep: {adp-alfa: [1, 2]}\n" + select)
                == "s.yaml: line 6: method 'plain': unknown key 'adp-alfa' (did you mean 'adp-alpha'?)")
        #expect(
            message(head + "methods:\n  - name: plain\n    method: adp\n    sweep: {adp-alpha: [1]}\n" + select)
                == "s.yaml: line 6: method 'plain': sweep: adp-alpha must be a list of at least two numbers, got [1]")
        #expect(
            message(head + "methods:\n  - name: plain\n    method: adp\n    sweep: {adp-alpha: [1, -2]}\n" + select)
                == "s.yaml: line 6: method 'plain': --adp-alpha must be ≥ 0, got -2")
        #expect(
            message(head + "methods:\n  - name: e\n    method: edlcm\n    sweep: {scale: [1, 2], keys: [dataset]}\n" + select)
                .hasSuffix("method 'e': 'dataset' is not a numeric training setting, so it cannot be scaled"))
        #expect(
            message(head + "methods:\n  - name: plain\n    method: baseline\nsweep: {select: {within: 2, of: adp}}\n")
                == "s.yaml: line 6: sweep: select: of: 'adp' is not a method (plain)")
        #expect(
            message("seeds: [0]\nmethods:\n  - name: plain\n    method: baseline\n" + select)
                == "s.yaml: line 3: method 'plain': a sweep is evaluated on the validation split; set training.validation (held-out images)"
        )
        #expect(
            message(
                head
                    + "methods:\n  - name: plain\n    method: baseline\nsweep: {evaluation: {split: test}, select: {within: 2, of: plain}}\n"
            )
                == "s.yaml: line 6: sweep: the sweep is evaluated on the validation split; leave 'split' out")
    }
}
