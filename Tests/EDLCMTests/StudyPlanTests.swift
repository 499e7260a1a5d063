import Foundation
import Testing

@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMStudy
@testable import EDLCMTraining

@Suite("Study files")
struct StudyPlanTests {
    static let valid = """
        name: tiny
        training:
          members: 2
          epochs: 3
          train-limit: 512
        seeds: [0, 1]
        methods:
          - name: plain
            method: baseline
          - name: lr-only
            method: edlcm
            alpha: 0
        evaluation:
          preset: standard
          eps: [0.1]
          steps: 5
        analysis:
          samples: 100
        """

    static func plan(_ text: String, format: DocumentFormat = .yaml) throws -> StudyPlan {
        try StudyPlan(data: Data(text.utf8), format: format, label: "s.yaml", defaultName: "s")
    }

    @Test("a study file becomes one run per method and seed, each keyed like the flags")
    func valid() throws {
        let plan = try Self.plan(Self.valid)
        #expect(plan.name == "tiny" && plan.seeds == [0, 1] && plan.methods.map(\.name) == ["plain", "lr-only"])
        #expect(plan.runs.map(\.folderName) == ["plain-seed0", "plain-seed1", "lr-only-seed0", "lr-only-seed1"])
        let run = plan.runs[3]
        #expect(run.training.method == .edlcm && run.training.alpha == 0 && run.training.beta == TrainingConfig().beta)
        #expect(run.training.members == 2 && run.training.epochs == 3 && run.training.trainLimit == 512)
        #expect(run.training.seeding.seed == 1)
        // The preset applies as on the command line; the file's keys override it.
        #expect(plan.evaluation.preset == .standard && plan.evaluation.attacks == [.apgdCE, .apgdT, .fabT, .square])
        #expect(plan.evaluation.steps == 5 && plan.evaluation.queries == 5000 && plan.evaluation.epsilons == [0.1])
        #expect(plan.analysis.samples == 100)
        // The same study in JSON.
        let json = """
            {"name": "tiny", "training": {"members": 2, "epochs": 3, "train-limit": 512}, "seeds": [0, 1],
             "methods": [{"name": "plain", "method": "baseline"}, {"name": "lr-only", "method": "edlcm", "alpha": 0}],
             "evaluation": {"preset": "standard", "eps": [0.1], "steps": 5}, "analysis": {"samples": 100}}
            """
        #expect(try Self.plan(json, format: .json) == plan)
        // Without a name, the file's.
        #expect(try Self.plan("seeds: [3]\nmethods:\n  - name: a\n").name == "s")
    }

    @Test(
        "bad study files give one line naming the file, the line and the key",
        arguments: [
            (
                "training:\n  epochs: 2\nseeds: [0]\nmethods:\n  - name: a\n    method: magic\n",
                "s.yaml: line 6: method 'a': wrong type at 'method': expected one of baseline, edlcm, cure, adp, gal, dverge, trs, got \"magic\""
            ),
            (
                "seeds: [0]\nmethod:\n  - name: a\n",
                "s.yaml: line 2: unknown key 'method' (did you mean 'methods'?); a study has name, training, seeds, methods, evaluation, analysis"
            ),
            (
                "seeds: [0]\nmethods:\n  - name: a\n    alpah: 1\n",
                "s.yaml: line 4: method 'a': unknown key 'alpah' (did you mean 'alpha'?)"
            ),
            (
                "training:\n  epoch: 3\nseeds: [0]\nmethods:\n  - name: a\n",
                "s.yaml: line 2: training: unknown key 'epoch' (did you mean 'epochs'?)"
            ),
            (
                "seeds: [0]\nmethods:\n  - name: a\n  - name: b\n  - name: a\n    method: edlcm\n",
                "s.yaml: line 5: the method name 'a' is used twice (first by method 1)"
            ),
            ("seeds: [0, -1]\nmethods:\n  - name: a\n", "s.yaml: line 1: seeds must be integers ≥ 0, got -1"),
            ("seeds:\n  - 0\n  - 0\nmethods:\n  - name: a\n", "s.yaml: line 3: seed 0 is listed twice"),
            (
                "seeds: [0]\nmethods:\n  - name: a\nevaluation:\n  preset: strong\n",
                "s.yaml: line 5: evaluation: wrong type at 'preset': expected one of quick, standard, ensemble, got \"strong\""
            ),
            ("seeds: [0]\nmethods:\n  - method: edlcm\n", "s.yaml: line 3: method 1 has no name (name: TEXT)"),
            (
                "training:\n  seed: 4\nseeds: [0]\nmethods:\n  - name: a\n",
                "s.yaml: line 2: training: 'seed' is not set here: seeds are the study's 'seeds' list"
            ),
            ("seeds: [0]\nmethods:\n  - name: a\n    alpha: -1\n", "s.yaml: line 4: method 'a': --alpha must be ≥ 0, got -1"),
            ("methods:\n  - name: a\n", "s.yaml: no 'seeds' (a list such as [0, 1, 2])"),
            ("seeds: [0]\nmethods:\n  - name: a/b\n", "s.yaml: line 3: method name 'a/b' must be letters, digits, '-' or '_'"),
        ])
    func badFiles(text: String, expected: String) {
        #expect(throws: EDLCMError(expected)) { try Self.plan(text) }
    }

    @Test("key lines of nested keys and list elements, in YAML and JSON")
    func keyLines() {
        let yaml = Document.keyLines(Data("a: 1\nb:\n  c: 2\n  d:\n    - x\n    - e: 3\n".utf8), format: .yaml)
        #expect(yaml == ["a": 1, "b": 2, "b.c": 3, "b.d": 4, "b.d.0": 5, "b.d.1": 6, "b.d.1.e": 6])
        let json = Document.keyLines(
            Data("{\"a\": 1,\n \"b\": {\"c\": 2,\n  \"d\": [\"x\",\n   {\"e\": 3}]}}".utf8), format: .json)
        #expect(json == ["a": 1, "b": 2, "b.c": 2, "b.d": 3, "b.d.0": 3, "b.d.1": 4, "b.d.1.e": 4])
    }
}
