import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMReport
@testable import EDLCMStudy
@testable import EDLCMTraining

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

/// Looks at a study page as a person would: headless Chromium renders it; the screenshot has the
/// charts' first two method colours in it, and the rendered DOM has the tables.
private func renderedStudyPage(_ html: URL) throws {
    guard let chromium else { return }
    let rendered = try renderedPage(html, height: 5000, colours: [(0, 114, 178, 12), (213, 94, 0, 12)])
    #expect(rendered.nonWhite > 0.03, "the page is nearly blank: \(rendered.nonWhite)")
    #expect(rendered.colourCounts.allSatisfy { $0 > 200 }, "the two methods' line colours are missing: \(rendered.colourCounts)")
    let dom = try runProcess(chromium, ["--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.absoluteString])
    #expect(
        dom.output.contains("Per method: mean ± sd over seeds") && dom.output.contains("Robust accuracy against the references"))
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

        // Two shards in two folders, merged by the report: the study run once, uninterrupted.
        let shards = (1...2).map { root.appendingPathComponent("shard\($0)") }
        for (index, folder) in shards.enumerated() {
            let result = try runProcess(
                edlcmBinary, ["study", "run", file.path, "--out", folder.path, "--shard", "\(index + 1)/2"])
            try #require(result.status == 0, "\(result.output)")
            #expect(result.output.contains("[2/2] \(index == 0 ? "plain" : "edlcm")-seed1: done in"), "\(result.output)")
        }
        // Runs go seed by seed: shard 1/2 has the plain runs, shard 2/2 the EDLCM runs.
        #expect(FileManager.default.fileExists(atPath: shards[0].appendingPathComponent("runs/plain-seed1/evaluation.json").path))
        #expect(!FileManager.default.fileExists(atPath: shards[0].appendingPathComponent("runs/edlcm-seed0").path))
        let expected = try reportNumbers(shards)
        #expect(expected.count == 2 * 10 + 4, "2 methods × 10 measures and 4 difference rows: \(expected)")

        // The whole study in one folder, killed (SIGKILL) while training its third run, then while
        // evaluating it; then rerun to the end: the same numbers as the shards'. The other three
        // runs are the shards' finished folders, copied in beside a shard's study.json: a study
        // keeps the finished runs it is given.
        let whole = root.appendingPathComponent("whole")
        try FileManager.default.createDirectory(
            at: whole.appendingPathComponent("runs"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(
            at: shards[1].appendingPathComponent("study.json"), to: whole.appendingPathComponent("study.json"))
        for (shard, run) in [(0, "plain-seed0"), (1, "edlcm-seed0"), (1, "edlcm-seed1")] {
            try FileManager.default.copyItem(
                at: shards[shard].appendingPathComponent("runs/\(run)"), to: whole.appendingPathComponent("runs/\(run)"))
        }
        let training = try studyRun([file.path, "--out", whole.path])
        kill(training, once: whole.appendingPathComponent("runs/plain-seed1/metrics.jsonl"), after: 0.3)
        let evaluating = try studyRun([file.path, "--out", whole.path])
        kill(evaluating, once: whole.appendingPathComponent("runs/plain-seed1/evaluation.state.json"), after: 0.5)
        let finish = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", whole.path])
        try #require(finish.status == 0, "\(finish.output)")
        #expect(finish.output.contains("plain-seed0: finished before, kept"))
        #expect(finish.output.contains("[3/4] plain-seed1: done in"), "\(finish.output)")
        #expect(finish.output.contains("[4/4] edlcm-seed1: finished before, kept"), "\(finish.output)")
        #expect(try reportNumbers([whole]) == expected)

        // The pages.
        let html = root.appendingPathComponent("report.html")
        let report = try runProcess(edlcmBinary, ["study", "report"] + shards.map(\.path) + ["--out", html.path])
        #expect(report.status == 0, "\(report.output)")
        let page = try String(contentsOf: html, encoding: .utf8)
        #expect(page.contains("<h1>Study <code>tiny</code></h1>") && page.contains("Robust accuracy against the references"))
        #expect(page.contains("data-method=\"edlcm\"") && page.contains("<svg"))
        #expect(page.contains("Robust accuracy by attack family") && page.contains("<a href=\"#runs-edlcm\">edlcm</a>"))
        // The verdict: EDLCM against the plain ensemble at both radii, over both seeds, its outcome
        // the same as the library's.
        let verdicts = try StudyReport(folders: shards).verdicts
        #expect(verdicts.map(\.method) == ["plain", "plain"] && verdicts.allSatisfy { $0.seeds == 2 })
        #expect(page.contains("Which method wins: EDLCM against each method"))
        #expect(page.contains("<tr data-outcome=\"\(verdicts[0].outcome)\"><td>plain</td><td>0.05</td><td>2</td>"))
        // Run folders are named relative to the page, so a moved or cloned study reads the same.
        #expect(page.contains("<code>shard1/runs/plain-seed0</code>") && !page.contains("<code>\(root.path)"))
        // Every run links to its files, relative to the page.
        #expect(page.contains("<a href=\"shard2/runs/edlcm-seed1/evaluation.md\">evaluation.md</a>"))
        try renderedStudyPage(html)

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

    @Test(
        "from: METHOD starts DVERGE from the plain run of its seed; the study's surrogates serve every run; families add up; a run kept without weights is retrained to the same weights, or refused where it does not come out the same"
    )
    func dependenciesAndSurrogates() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        let file = root.appendingPathComponent("deps.yaml")
        try """
        training:
          members: 2
          epochs: 1
          train-limit: 256
          batch-size: 64
          test-limit: 100
          threads: 1
        seeds: [3]
        methods:
          - name: plain
            method: baseline
          - name: dverge
            method: dverge
            from: plain
            dverge-steps: 2
        evaluation:
          samples: 24
          eps: [0.1]
          attacks: [apgd-ce, square]
          steps: 3
          queries: 10
          train-surrogates: [1]
          transfer-attacks: [m-pgd]
          transfer-steps: 3
          checks: false
          matrix: false
          threads: 1
        analysis:
          samples: 8
          power-iterations: 1
          threads: 1
        """.write(to: file, atomically: true, encoding: .utf8)
        let out = root.appendingPathComponent("out")
        let first = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", out.path])
        try #require(first.status == 0, "\(first.output)")
        let processor = "\(Runtime.cpuModel!), \(Runtime.vectorExtensions!), CPU capability \(Runtime.cpuCapability!)"
        #expect(first.output.contains("study deps on \(processor)\n"))
        let runs = out.appendingPathComponent("runs")
        let plainCheckpoint = runs.appendingPathComponent("plain-seed3/checkpoint.safetensors")
        let plainSHA = try sha256Hex(of: plainCheckpoint)
        let dverge = try RunDirectory(url: runs.appendingPathComponent("dverge-seed3")).readRecordIfPresent()
        #expect(dverge?.config.from == runs.appendingPathComponent("plain-seed3").path)
        #expect(dverge?.initialWeights?.sha256 == plainSHA && dverge?.initialWeights?.method == .baseline)
        // One surrogate for the seed, shared: the second run reads the first's transfer examples.
        let surrogates = try FileManager.default.contentsOfDirectory(atPath: out.appendingPathComponent("surrogates").path)
        #expect(surrogates.filter { !$0.hasSuffix(".lock") } == ["plain-m1-seed3"])
        let plainResult = try EvaluationReport.read(from: runs.appendingPathComponent("plain-seed3/evaluation.json"))
        let dvergeResult = try EvaluationReport.read(from: runs.appendingPathComponent("dverge-seed3/evaluation.json"))
        #expect(plainResult.transfer.map(\.surrogate) == ["plain-m1-seed3"] && !plainResult.transfer[0].reused)
        #expect(dvergeResult.transfer.map(\.surrogate) == ["plain-m1-seed3"] && dvergeResult.transfer[0].reused)
        // Families: the white-box stage is the last gradient attack's accuracy, the transfer
        // column the one transfer run's target accuracy, and the worst case is below both.
        for result in [plainResult, dvergeResult] {
            let record = result.robustness[0]
            #expect(record.whiteBoxAccuracy == record.units.last { $0.attack == "apgd-ce" }?.accuracyAfter)
            #expect(record.suiteAccuracy == record.units.last?.accuracyAfter)
            #expect(record.transferAccuracy == result.transfer[0].targetAccuracy)
            #expect(record.worstCaseAccuracy <= min(record.suiteAccuracy, record.transferAccuracy ?? 1))
            #expect(record.whiteBoxAccuracy! >= record.suiteAccuracy)
        }
        let before = try reportNumbers([out])
        // Results kept without weights (as a study folder committed to git): rerunning retrains
        // the plain run that DVERGE needs to the same weights, and redoes DVERGE to the same numbers.
        // Its metrics.jsonl, checked line by line against the retraining, stays byte for byte.
        let plainMetrics = runs.appendingPathComponent("plain-seed3/metrics.jsonl")
        let plainLines = try Data(contentsOf: plainMetrics)
        try FileManager.default.removeItem(at: plainCheckpoint)
        try FileManager.default.removeItem(at: runs.appendingPathComponent("dverge-seed3"))
        let again = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", out.path])
        try #require(again.status == 0, "\(again.output)")
        #expect(again.output.contains("plain-seed3: finished before, kept"))
        #expect(try sha256Hex(of: plainCheckpoint) == plainSHA)
        #expect(try reportNumbers([out]) == before)
        #expect(try Data(contentsOf: plainMetrics) == plainLines)
        // A machine that computes otherwise (here: a recorded line that the retraining cannot give)
        // stops the study at the plain run instead of starting DVERGE from other weights.
        let copy = root.appendingPathComponent("tampered")
        try FileManager.default.copyItem(at: out, to: copy)
        let copiedPlain = copy.appendingPathComponent("runs/plain-seed3")
        var tampered = try RunDirectory(url: copiedPlain).readMetrics()
        let testAccuracy = tampered[0].testAccuracy
        tampered[0].testAccuracy = 0.5
        let tamperedLines = Data(try tampered.map { try RunDirectory.jsonLine($0) }.joined().utf8)
        try tamperedLines.write(to: copiedPlain.appendingPathComponent("metrics.jsonl"))
        try FileManager.default.removeItem(at: copiedPlain.appendingPathComponent("checkpoint.safetensors"))
        try FileManager.default.removeItem(at: copy.appendingPathComponent("runs/dverge-seed3"))
        let refused = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", copy.path, "--only", "dverge-seed3"])
        #expect(refused.status != 0)
        #expect(
            refused.output.contains(
                "plain-seed3: epoch 1, recorded in metrics.jsonl but not in the checkpoint, came out different when trained again (test accuracy \(testAccuracy), recorded 0.5): this machine ("
            ), "\(refused.output)")
        #expect(try Data(contentsOf: copiedPlain.appendingPathComponent("metrics.jsonl")) == tamperedLines)
        #expect(!FileManager.default.fileExists(atPath: copiedPlain.appendingPathComponent("checkpoint.safetensors").path))
        // Two runs at once (--jobs 2, each its own process on one thread): the same numbers; DVERGE
        // waits for the plain run it starts from.
        let parallel = root.appendingPathComponent("parallel")
        let jobs = try runProcess(edlcmBinary, ["study", "run", file.path, "--out", parallel.path, "--jobs", "2"])
        try #require(jobs.status == 0, "\(jobs.output)")
        #expect(jobs.output.contains("[1/2] plain-seed3: done in") && jobs.output.contains("[2/2] dverge-seed3: done in"))
        #expect(try reportNumbers([parallel]) == before)
        let markdown = root.appendingPathComponent("report.md")
        let report = try runProcess(edlcmBinary, ["study", "report", out.path, "--out", markdown.path, "--format", "markdown"])
        #expect(report.status == 0, "\(report.output)")
        let text = try String(contentsOf: markdown, encoding: .utf8)
        #expect(text.contains("## Robust accuracy by attack family"))
        #expect(text.contains("2 methods × up to 1 seed, from `out`"), "\(text.prefix(300))")
        #expect(text.contains("[evaluation.md](out/runs/dverge-seed3/evaluation.md)"))
        // The cost table, by hand from DVERGE's files: its epochs' seconds, its attack units' seconds
        // per radius, and its evaluation's start and finish (one command: not resumed).
        let dvergeRun = runs.appendingPathComponent("dverge-seed3")
        let epochs = try String(contentsOf: dvergeRun.appendingPathComponent("metrics.jsonl"), encoding: .utf8)
            .split(separator: "\n").map { try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any] }
        let evaluation =
            try JSONSerialization.jsonObject(with: Data(contentsOf: dvergeRun.appendingPathComponent("evaluation.json")))
            as! [String: Any]
        let radii = (evaluation["robustness"] as! [[String: Any]]).map { record in
            (record["units"] as! [[String: Any]]).reduce(0.0) { $0 + ($1["seconds"] as! Double) }
        }
        let provenance = evaluation["provenance"] as! [String: Any]
        #expect((provenance["commands"] as! [Any]).count == 1)
        let span = ISO8601DateFormatter().date(from: provenance["finished"] as! String)!.timeIntervalSince(
            ISO8601DateFormatter().date(from: provenance["started"] as! String)!)
        let cost = [epochs.reduce(0.0) { $0 + ($1["seconds"] as! Double) }] + radii + [span]
        #expect(text.contains("| method | training s | attacks ε=0.1 s | evaluation s (start to finish) |"))
        #expect(text.contains("| dverge | " + cost.map { String(format: "%.0f", $0) }.joined(separator: " | ") + " |"))
    }

    @Test("the shipped CIFAR-10 study runs end to end with tiny overrides (--set) on a generated CIFAR-10 folder")
    func cifarStudy() throws {
        let root = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: root) }
        // CIFAR-10's binary format: records of a label byte and 3 072 pixel bytes (red, green, blue planes).
        let data = root.appendingPathComponent("cifar-10-batches-bin")
        try FileManager.default.createDirectory(at: data, withIntermediateDirectories: true)
        var generator = SeededGenerator(seed: 5)
        func batch(_ count: Int) -> Data {
            var bytes: [UInt8] = []
            for index in 0..<count {
                bytes.append(UInt8(index % 10))
                bytes += (0..<3072).map { _ in UInt8.random(in: 0...255, using: &generator) }
            }
            return Data(bytes)
        }
        for index in 1...5 { try batch(20).write(to: data.appendingPathComponent("data_batch_\(index).bin")) }
        try batch(20).write(to: data.appendingPathComponent("test_batch.bin"))
        let study = repositoryRoot.appendingPathComponent("studies/cifar10-resnet20.yaml").path
        let out = root.appendingPathComponent("out")
        let overrides = [
            "training.data-dir=\(data.path)", "training.epochs=1", "training.batch-size=50", "training.threads=1", "seeds=[0]",
            "methods.dverge.dverge-steps=1", "methods.trs.trs-steps=1", "methods.pgd-at.adv-steps=1", "evaluation.samples=10",
            "evaluation.eps=[0.03]", "evaluation.attacks=[apgd-ce, square]", "evaluation.steps=1", "evaluation.queries=2",
            "evaluation.checks=false", "evaluation.matrix-samples=2", "evaluation.transfer-steps=1", "evaluation.threads=1",
            "analysis.samples=4", "analysis.power-iterations=1", "analysis.threads=1",
        ]
        let result = try runProcess(
            edlcmBinary, ["study", "run", study, "--out", out.path] + overrides.flatMap { ["--set", $0] })
        try #require(result.status == 0, "\(result.output)")
        let report = try StudyReport(folders: [out])
        #expect(
            report.methods.map(\.name) == ["plain", "adp", "gal", "dverge", "trs", "edlcm", "lr-only", "lg-only", "pgd-at"])
        #expect(report.radii == [0.03] && report.missing.isEmpty)
        let pgdAT = try #require(report.methods.last?.runs[0])
        #expect(pgdAT.record.config.architecture == .resnet20 && pgdAT.record.config.dataset == .cifar10)
        #expect(pgdAT.record.config.learningRate == 0.1 && pgdAT.record.config.schedule == .multistep)
        #expect(pgdAT.record.config.advSteps == 1 && pgdAT.record.config.epochs == 1)
        // The overrides are part of the study's settings: a rerun without them is refused, naming one.
        let plain = try runProcess(edlcmBinary, ["study", "run", study, "--out", out.path])
        #expect(plain.status == 1)
        #expect(
            plain.output.hasPrefix(
                "edlcm: error: \(out.path)/runs/plain-seed0: was trained with other settings than the study's: --batch-size (50 recorded, 128 in the study)"
            )
                && plain.output.contains("--epochs (1 recorded, 200 in the study)") && !plain.output.dropLast().contains("\n"),
            "\(plain.output)")
        // A --set naming what the study does not have is one line.
        let bad = try runProcess(
            edlcmBinary, ["study", "run", study, "--out", out.path, "--set", "methods.cure.alpha=1"])
        #expect(bad.status == 1)
        #expect(
            bad.output
                == "edlcm: error: --set methods.cure.alpha=1: no method named 'cure' (plain, adp, gal, dverge, trs, edlcm, lr-only, lg-only, pgd-at)\n"
        )
        let typo = try runProcess(edlcmBinary, ["study", "run", study, "--out", out.path, "--set", "training.epoch=1"])
        #expect(typo.status == 1)
        #expect(typo.output == "edlcm: error: --set training.epoch=1: training: unknown key 'epoch' (did you mean 'epochs'?)\n")
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
