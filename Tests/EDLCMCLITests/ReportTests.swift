import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// Collects every `data-key`/`data-value` pair of the page's tables, per run row.
private func tableValues(_ html: String) -> [(run: String, key: String, value: Double)] {
    var result: [(String, String, Double)] = []
    var currentRun = ""
    let pattern = try! NSRegularExpression(pattern: #"data-run="([^"]*)"|data-value="([^"]*)" data-key="([^"]*)""#)
    for match in pattern.matches(in: html, range: NSRange(html.startIndex..., in: html)) {
        if let range = Range(match.range(at: 1), in: html) {
            currentRun = String(html[range])
        } else if let value = Range(match.range(at: 2), in: html), let key = Range(match.range(at: 3), in: html),
            let number = Double(html[value])
        {
            result.append((currentRun, String(html[key]), number))
        }
    }
    return result
}

@Suite("edlcm report", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized)
struct ReportTests {
    /// Two tiny trained, analysed and evaluated runs, shared by the tests below.
    static let fixture: Result<(URL, [URL]), any Error> = Result {
        let root = try temporaryDirectory()
        var runs: [URL] = []
        for method in ["baseline", "edlcm"] {
            let run = root.appendingPathComponent(method)
            let train = try runProcess(
                edlcmBinary,
                [
                    "train", "--method", method, "--members", "2", "--epochs", "2", "--train-limit", "256", "--batch-size", "64",
                    "--test-limit", "200", "--out", run.path,
                ])
            guard train.status == 0 else { throw EDLCMError("train failed: \(train.output)") }
            let analyze = try runProcess(
                edlcmBinary, ["analyze", "--run", run.path, "--samples", "50", "--power-iterations", "5"])
            guard analyze.status == 0 else { throw EDLCMError("analyze failed: \(analyze.output)") }
            let evaluate = try runProcess(edlcmBinary, EvaluateFixture.arguments(run: run))
            guard evaluate.status == 0 else { throw EDLCMError("evaluate failed: \(evaluate.output)") }
            runs.append(run)
        }
        return (root, runs)
    }

    @Test func everyTableNumberMatchesItsJSON() throws {
        let (root, runs) = try Self.fixture.get()
        let out = root.appendingPathComponent("report.html")
        let result = try runProcess(edlcmBinary, ["report"] + runs.map(\.path) + ["--out", out.path])
        #expect(result.status == 0, "\(result.output)")
        let html = try String(contentsOf: out, encoding: .utf8)
        // Self-contained: no external scripts, styles, fonts or images.
        #expect(!html.contains("<script"))
        #expect(
            !html.contains("http://")
                || html.components(separatedBy: "http://").count - 1 == html.components(
                    separatedBy: "xmlns=\"http://www.w3.org/2000/svg\""
                ).count - 1)
        #expect(!html.contains("https://"))
        let values = tableValues(html)
        #expect(values.count > 10)
        for run in runs {
            let summary = try RunSummary(folder: run)
            let evaluation = try #require(summary.evaluation)
            let analysis = try #require(summary.analysis)
            let rows = values.filter { $0.run == run.lastPathComponent }
            func value(_ key: String) -> Double? { rows.first { $0.key == key }?.value }
            #expect(value("clean") == evaluation.clean.accuracy)
            for record in evaluation.robustness { #expect(value("robust:\(record.epsilon)") == record.worstCaseAccuracy) }
            #expect(value("mean_hvp_cosine") == analysis.report.meanHVPCosine)
            #expect(value("mean_gradient_cosine") == analysis.report.meanGradientCosine)
            #expect(value("training_seconds") == summary.metrics.reduce(0) { $0 + $1.seconds })
            if let matrix = evaluation.transferability.first {
                #expect(value("mean_transfer") == ReportBuilder.meanTransfer(matrix))
            }
            for (member, eigenvalue) in analysis.report.topEigenvalue.enumerated() {
                #expect(values.contains { $0.key == "top_eigenvalue:\(member)" && $0.value == eigenvalue })
            }
        }
        // The page names the commands that made the numbers, the attack budget in words, and both HVP matrices.
        #expect(html.contains("edlcm") && html.contains(" train ") && html.contains(" evaluate ") && html.contains(" analyze "))
        // Each training command with its machine, as config.json records it.
        for run in runs {
            let record = try RunSummary(folder: run).record
            let host = try #require(record.hosts?.last)
            #expect(host.cpuCapability == Runtime.cpuCapability && host.vectorExtensions == Runtime.vectorExtensions)
            #expect(html.contains("</code> on \(host.summary)</li>"))
        }
        #expect(html.contains("Robust accuracy of baseline, edlcm: the quick preset ("))
        #expect(html.contains("baseline: HVP cosine, Rademacher probe") && html.contains("edlcm: HVP cosine, Rademacher probe"))
        // A run keeps its colour in every chart: the curvature term exists only for the second
        // run (edlcm), and its one line is drawn in the second palette colour, as in the others.
        let curvature = try #require(html.range(of: "loss: curvature"))
        let chart = html[curvature.lowerBound...]
        let svg = String(chart[..<(chart.range(of: "</svg>")?.lowerBound ?? chart.endIndex)])
        #expect(svg.contains("stroke=\"\(SVGChart.palette[1])\""))
        #expect(!svg.contains("stroke=\"\(SVGChart.palette[0])\""))
    }

    @Test func markdownHasTheSameTables() throws {
        let (root, runs) = try Self.fixture.get()
        let out = root.appendingPathComponent("report.md")
        let result = try runProcess(edlcmBinary, ["report"] + runs.map(\.path) + ["--out", out.path, "--format", "markdown"])
        #expect(result.status == 0, "\(result.output)")
        let markdown = try String(contentsOf: out, encoding: .utf8)
        #expect(markdown.contains("| run | method | clean |"))
        #expect(markdown.contains("| baseline | baseline |"))
        #expect(markdown.contains("| edlcm | edlcm |"))
        #expect(markdown.contains("HVP cosine"))
        #expect(!markdown.contains("<svg"))
    }

    /// Looks at the page as a person would: headless Chromium renders it and the screenshot has
    /// charts in it (many non-white pixels, the line colours and the heatmap colours present).
    @Test(.enabled(if: chromium != nil, "needs Debian's chromium")) func renderedPageShowsCharts() throws {
        let (root, runs) = try Self.fixture.get()
        let out = root.appendingPathComponent("report.html")
        #expect(try runProcess(edlcmBinary, ["report"] + runs.map(\.path) + ["--out", out.path]).status == 0)
        let rendered = try renderedPage(
            out, height: 6000, colours: [(0, 114, 178, 12), (213, 94, 0, 12), (68, 1, 84, 30), (253, 231, 37, 40)])
        let counts = rendered.colourCounts
        #expect(rendered.nonWhite > 0.03, "the page is nearly blank: \(rendered.nonWhite)")
        #expect(counts[0] > 200, "no run-1 line colour in the charts")
        #expect(counts[1] > 200, "no run-2 line colour in the charts")
        #expect(counts[2] + counts[3] > 500, "no heatmap colours")
    }
}

/// Small evaluation settings for report fixtures (seconds, not minutes, in a debug build).
enum EvaluateFixture {
    static func arguments(run: URL) -> [String] {
        [
            "evaluate", "--run", run.path, "--samples", "12", "--eps", "0.05", "0.1", "--steps", "3", "--attacks", "fgsm", "pgd",
            "--matrix-samples", "6", "--check-samples", "6", "--queries", "50", "--threads", "2",
        ]
    }
}
