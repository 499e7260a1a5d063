import Foundation
import TestSupport
import Testing

@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMStudy
@testable import EDLCMTraining

/// A tiny study with fronts: the plain ensemble (one point) and ADP swept over 4 values of α, on
/// 384 training images with 200 held out for validation, 1 epoch, 2 seeds.
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
                "sweep/adp-adp-alpha-2-seed0",
                "sweep/adp-adp-alpha-8-seed0",
            ])
        // Each point: its value trained, attacked on 60 validation images at both radii.
        var points: [StudySweepPoint] = []
        for run in plan.sweepRuns {
            let folder = out.appendingPathComponent(run.id)
            let record = try RunDirectory.existing(folder).readRecord()
            if let value = run.sweepValue { #expect(record.config.adpAlpha == value) }
            let evaluation = try EvaluationReport.read(from: folder.appendingPathComponent("evaluation.json"))
            #expect(evaluation.samples.split == "validation" && evaluation.samples.count == 60)
            #expect(evaluation.robustness.map(\.epsilon) == [0.05, 0.1])
            #expect(!FileManager.default.fileExists(atPath: folder.appendingPathComponent("analysis.json").path))
            points.append(
                StudySweepPoint(
                    method: run.method, value: run.sweepValue, run: run.folderName, cleanAccuracy: evaluation.clean.accuracy,
                    robustAccuracy: evaluation.robustness.map(\.worstCaseAccuracy), epsilons: [0.05, 0.1]))
        }
        // The rule by hand: the most robust ADP point at ε 0.1 within 3 points of plain's accuracy.
        let plain = points[0].cleanAccuracy
        let eligible = points.dropFirst().filter { $0.cleanAccuracy >= plain - 0.03 - 1e-12 }
        let best =
            eligible.isEmpty
            ? points.dropFirst().max { $0.cleanAccuracy < $1.cleanAccuracy }!
            : eligible.max { ($0.robustAccuracy[1], $0.cleanAccuracy) < ($1.robustAccuracy[1], $1.cleanAccuracy) }!
        let selection = try Document.read(
            StudySweepSelection.self, from: out.appendingPathComponent("sweep.json"), limits: .records, label: "sweep.json")
        #expect(selection.points == points)
        #expect(selection.chosen == ["adp": best.value!] && selection.referenceAccuracy == plain)

        // The comparison: both seeds of ADP at the chosen α, attacked on the test split.
        for seed in [0, 1] {
            let folder = out.appendingPathComponent("runs/adp-seed\(seed)")
            #expect(try RunDirectory.existing(folder).readRecord().config.adpAlpha == best.value!)
            let evaluation = try EvaluationReport.read(from: folder.appendingPathComponent("evaluation.json"))
            #expect(evaluation.samples.split == "test" && evaluation.samples.count == 24)
        }
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
