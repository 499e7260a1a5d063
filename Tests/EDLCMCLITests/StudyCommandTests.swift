import Foundation
import TestSupport
import Testing

@testable import EDLCMCore
@testable import EDLCMReport
@testable import EDLCMStudy

/// A tiny study: 2 methods × 2 seeds, each trained for 2 epochs on 384 images and attacked on 24.
private let tinyStudy = """
    name: tiny
    training:
      members: 2
      epochs: 2
      train-limit: 384
      batch-size: 64
      test-limit: 100
      threads: 1
    seeds: [0, 1]
    methods:
      - name: plain
        method: baseline
      - name: edlcm
        method: edlcm
    evaluation:
      samples: 24
      eps: [0.05, 0.1]
      steps: 2
      queries: 10
      check-samples: 8
      matrix-samples: 8
      threads: 1
    analysis:
      samples: 12
      power-iterations: 2
      threads: 1
    """

/// Every number of a study report but the timings: per method and measure the values over seeds,
/// and the difference rows.
private func reportNumbers(_ folders: [URL]) throws -> [String] {
    let report = try StudyReport(folders: folders)
    var numbers: [String] = []
    for method in report.methods {
        for measure in report.measures where measure.name != "s/epoch" {
            numbers.append("\(method.name) \(measure.name) \(report.values(measure, of: method))")
        }
    }
    return numbers + report.differenceRows.map { $0.joined(separator: " ") }
}

private func studyRun(_ arguments: [String]) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: edlcmBinary)
    process.arguments = ["study", "run"] + arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    try process.run()
    return process
}

/// Waits until `path` exists (or the process ends), then kills the process with SIGKILL.
private func kill(_ process: Process, once path: URL, after delay: TimeInterval) {
    while process.isRunning && !FileManager.default.fileExists(atPath: path.path) { usleep(20_000) }
    Thread.sleep(forTimeInterval: delay)
    if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL) }
    process.waitUntilExit()
}

@Suite("edlcm study", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized)
struct StudyCommandTests {
    @Test(
        "a study runs end to end; killed in training and in an evaluation, then rerun, it reports the same numbers; shards merge to the same report"
    )
    func killedAndSharded() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("tiny.yaml")
        try tinyStudy.write(to: file, atomically: true, encoding: .utf8)

        let whole = root.appendingPathComponent("whole")
        let first = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", whole.path])
        try #require(first.status == 0, "\(first.output)")
        #expect(first.output.contains("[4/4] edlcm-seed1: done in"))
        let expected = try reportNumbers([whole])
        #expect(expected.count == 2 * 8 + 4, "2 methods × 8 measures and 4 difference rows: \(expected)")

        // Killed (SIGKILL) while training its second run, then while evaluating it; then rerun to the end.
        let killed = root.appendingPathComponent("killed")
        let training = try studyRun([file.path, "--out", killed.path])
        kill(training, once: killed.appendingPathComponent("runs/plain-seed1/metrics.jsonl"), after: 0.3)
        let evaluating = try studyRun([file.path, "--out", killed.path])
        kill(evaluating, once: killed.appendingPathComponent("runs/plain-seed1/evaluation.state.json"), after: 0.5)
        let finish = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", killed.path])
        try #require(finish.status == 0, "\(finish.output)")
        #expect(finish.output.contains("plain-seed0: finished before, kept"))
        #expect(try reportNumbers([killed]) == expected)

        // Two shards in two folders, merged by the report.
        let shards = (1...2).map { root.appendingPathComponent("shard\($0)") }
        for (index, folder) in shards.enumerated() {
            let result = try runProcess(
                edlcmBinary, ["study", "run", file.path, "--out", folder.path, "--shard", "\(index + 1)/2"])
            try #require(result.status == 0, "\(result.output)")
        }
        #expect(FileManager.default.fileExists(atPath: shards[0].appendingPathComponent("runs/plain-seed0/evaluation.json").path))
        #expect(!FileManager.default.fileExists(atPath: shards[0].appendingPathComponent("runs/plain-seed1").path))
        #expect(try reportNumbers(shards) == expected)

        // The pages.
        let html = root.appendingPathComponent("report.html")
        let report = try runProcess(edlcmBinary, ["study", "report"] + shards.map(\.path) + ["--out", html.path])
        #expect(report.status == 0, "\(report.output)")
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(page.contains("<h1>Study <code>tiny</code></h1>") && page.contains("Robust accuracy against the references"))
        #expect(page.contains("data-method=\"edlcm\"") && page.contains("<svg"))

        // A finished run whose settings no longer match the file is refused, naming the setting.
        try tinyStudy.replacingOccurrences(of: "epochs: 2", with: "epochs: 3").write(to: file, atomically: true, encoding: .utf8)
        let changed = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", whole.path])
        #expect(changed.status == 1)
        #expect(
            changed.output
                == "edlcm: error: \(whole.path)/runs/plain-seed0: was trained with other settings than the study's: --epochs (2 recorded, 3 in the study); delete the run folder to retrain it\n"
        )
        // A folder holding another study is refused, and nothing in it changes.
        let before = try String(contentsOf: whole.appendingPathComponent("study.json"), encoding: .utf8)
        try tinyStudy.replacingOccurrences(of: "name: tiny", with: "name: other").write(
            to: file, atomically: true, encoding: .utf8)
        let other = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", whole.path])
        #expect(other.status == 1)
        #expect(other.output == "edlcm: error: --out \(whole.path): holds the study 'tiny', not 'other'; choose another --out\n")
        #expect(try String(contentsOf: whole.appendingPathComponent("study.json"), encoding: .utf8) == before)
    }

    @Test("bad study files and flags give one-line errors")
    func badInput() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("bad.yaml")
        try "seeds: [0]\nmethods:\n  - name: a\n    method: magic\n".write(to: file, atomically: true, encoding: .utf8)
        let result = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", root.appendingPathComponent("o").path])
        #expect(result.status == 1)
        #expect(
            result.output
                == "edlcm: error: \(file.path): line 4: method 'a': wrong type at 'method': expected one of baseline, edlcm, cure, adp, gal, dverge, trs, got \"magic\"\n"
        )
        #expect(!FileManager.default.fileExists(atPath: root.appendingPathComponent("o").path))
        try "seeds: [0]\nmethods:\n  - name: a\n".write(to: file, atomically: true, encoding: .utf8)
        let shard = try runProcess(edlcmBinary, ["study", "run", file.path, "--shard", "3/2"])
        #expect(shard.status == 1 && shard.output == "edlcm: error: --shard 3/2: expected K/N with 1 ≤ K ≤ N, for example 2/4\n")
        let notStudy = try runProcess(
            edlcmBinary, ["study", "report", root.path, "--out", root.appendingPathComponent("r.html").path])
        #expect(notStudy.status == 1 && notStudy.output == "edlcm: error: \(root.path): holds no study (no study.json)\n")
    }
}
