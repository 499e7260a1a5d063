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
        #expect(plan.runs.map(\.folderName) == ["plain-seed0", "lr-only-seed0", "plain-seed1", "lr-only-seed1"])
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
                "s.yaml: line 2: unknown key 'method' (did you mean 'methods'?); a study has name, training, seeds, methods, evaluation, analysis, sweep"
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
            (
                "seeds: [0]\nmethods:\n  - name: d\n    method: dverge\n    from: plain\n  - name: plain\n",
                "s.yaml: line 5: method 'd': from: 'plain' is neither a method listed before it (none) nor an existing run folder"
            ),
            (
                "seeds: [0]\nmethods:\n  - name: plain\n  - name: d\n    method: dverge\n    members: 4\n    from: plain\n",
                "s.yaml: line 7: method 'd': from: 'plain' has another architecture or member count"
            ),
            (
                "training:\n  from: runs/x\nseeds: [0]\nmethods:\n  - name: a\n",
                "s.yaml: line 2: training: 'from' is set per method (from: METHOD names a method listed before it)"
            ),
        ])
    func badFiles(text: String, expected: String) {
        #expect(throws: EDLCMError(expected)) { try Self.plan(text) }
    }

    @Test("from: METHOD starts each run from that method's run of its seed, in the same shard")
    func fromMethod() throws {
        let plan = try Self.plan(
            "seeds: [0, 1]\nmethods:\n  - name: plain\n  - name: adp\n    method: adp\n  - name: dverge\n    method: dverge\n    from: plain\n"
        )
        #expect(plan.methods[2].fromMethod == "plain" && plan.methods[2].training.from == nil)
        let runs = plan.runs
        #expect(
            runs.map(\.folderName) == ["plain-seed0", "adp-seed0", "dverge-seed0", "plain-seed1", "adp-seed1", "dverge-seed1"])
        #expect(runs.map(\.fromFolderName) == [nil, nil, "plain-seed0", nil, nil, "plain-seed1"])
        #expect((0..<6).map(plan.rootPosition(of:)) == [0, 1, 0, 3, 4, 3])
        // Two shards: every run with the run it starts from.
        let folder = URL(fileURLWithPath: "/tmp/study")
        let first = StudyRunner(plan: plan, folder: folder, shard: StudyShard(index: 1, count: 2)).shardRuns.map(\.folderName)
        let second = StudyRunner(plan: plan, folder: folder, shard: StudyShard(index: 2, count: 2)).shardRuns.map(\.folderName)
        #expect(first == ["plain-seed0", "dverge-seed0", "adp-seed1"])
        #expect(second == ["adp-seed0", "plain-seed1", "dverge-seed1"])
        // The run's training settings name the source's folder; a recorded path with the same
        // folder name elsewhere (a moved study) is the same setting.
        let runner = StudyRunner(plan: plan, folder: folder)
        #expect(try runner.trainingConfig(for: runs[2]).from == "/tmp/study/runs/plain-seed0")
        var recorded = try runner.trainingConfig(for: runs[2])
        recorded.from = "/elsewhere/runs/plain-seed0"
        try runner.checkTraining(recorded, of: runs[2])
        recorded.from = "/elsewhere/runs/adp-seed0"
        #expect(throws: EDLCMError.self) { try runner.checkTraining(recorded, of: runs[2]) }
        // Surrogates the study trains: one folder per seed and size, given to every run's evaluation.
        let withSurrogates = try Self.plan(
            "seeds: [0, 1]\nmethods:\n  - name: plain\nevaluation:\n  train-surrogates: [1, 3]\n")
        let surrogated = StudyRunner(plan: withSurrogates, folder: folder)
        let config = try surrogated.evaluationConfig(for: withSurrogates.runs[1], machine: StudyMachine())
        #expect(config.surrogates == ["/tmp/study/surrogates/plain-m1-seed1", "/tmp/study/surrogates/plain-m3-seed1"])
        #expect(config.trainSurrogates.isEmpty)
    }

    @Test("the shipped studies: Fashion-MNIST's budget, and CIFAR-10 with the paper's setting once given its data folder")
    func shippedStudies() throws {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let names = ["plain", "adp", "gal", "dverge", "trs", "edlcm", "lr-only", "lg-only", "pgd-at"]
        let fashion = try StudyPlan(path: root.appendingPathComponent("studies/fashion-mnist.yaml").path)
        #expect(fashion.methods.map(\.name) == names && fashion.seeds == [0, 1, 2] && fashion.runs.count == 27)
        #expect(fashion.training.dataset == .fashionMNIST && fashion.training.members == 3 && fashion.training.epochs == 8)
        #expect(fashion.training.validation == 5000 && fashion.training.scheduleInterval == .batch)
        #expect(fashion.evaluation.preset == .standard && fashion.evaluation.samples == 500)
        #expect(fashion.evaluation.epsilons == [0.05, 0.1] && fashion.evaluation.lightEps == [0.05])
        #expect(fashion.evaluation.trainSurrogates == [3] && fashion.methods[3].fromMethod == "plain")
        // The protocol's sweep: 4 strengths for every method but plain, seed 0, the rule against plain.
        #expect(fashion.sweepRuns.count == 1 + 8 * 4 && fashion.sweep?.reference == "plain" && fashion.sweep?.within == 2)
        #expect(fashion.sweep?.evaluation.split == .validation && fashion.sweep?.evaluation.samples == 1000)
        let first = try StudyPlan(path: root.appendingPathComponent("studies/fashion-mnist-first.yaml").path)
        #expect(first.training.epochs == 2 && first.evaluation.samples == 100 && first.sweep == nil)
        let cifarPath = root.appendingPathComponent("studies/cifar10-resnet20.yaml").path
        let cifar = try StudyPlan(
            path: cifarPath, overrides: [try StudyOverride(parsing: "training.data-dir=/data/cifar-10-batches-bin")])
        #expect(cifar.methods.map(\.name) == names && cifar.seeds == [0, 1, 2])
        let plain = cifar.methods[0].training
        #expect(plain.dataset == .cifar10 && plain.architecture == .resnet20 && plain.members == 3 && plain.epochs == 200)
        #expect(plain.learningRate == 0.1 && plain.schedule == .multistep && plain.gamma == 0.1 && plain.batchSize == 128)
        #expect(plain.weightDecay == 1e-4 && plain.momentum == 0.9 && plain.data.directory == "/data/cifar-10-batches-bin")
        #expect(cifar.evaluation.epsilons == [0.01, 0.02, 0.03] && cifar.evaluation.preset == .standard)
        #expect(cifar.methods[8].training.adversarial == .pgd && cifar.methods[6].training.alpha == 0)
    }

    @Test("--set replaces or adds keys; its errors name the argument")
    func overrides() throws {
        let set = { (texts: [String]) in
            try StudyPlan(
                data: Data(Self.valid.utf8), format: .yaml, label: "s.yaml", defaultName: "s",
                overrides: texts.map(StudyOverride.init(parsing:)))
        }
        let plan = try set(["training.epochs=1", "seeds=[4]", "methods.lr-only.alpha=2", "evaluation.samples=8", "name=other"])
        #expect(plan.training.epochs == 1 && plan.seeds == [4] && plan.methods[1].training.alpha == 2)
        #expect(plan.methods[0].training.epochs == 1 && plan.evaluation.samples == 8 && plan.name == "other")
        #expect(throws: EDLCMError("--set methods.lr-only.alpha=-1: method 'lr-only': --alpha must be ≥ 0, got -1")) {
            try set(["methods.lr-only.alpha=-1"])
        }
        #expect(throws: EDLCMError("--set epochs: expected PATH=VALUE, for example training.epochs=1")) {
            _ = try StudyOverride(parsing: "epochs")
        }
        #expect(
            throws: EDLCMError("--set methods.alpha=1: a method's key is methods.NAME.KEY, for example methods.edlcm.alpha=0")
        ) {
            try set(["methods.alpha=1"])
        }
        #expect(
            throws: EDLCMError(
                "--set trainig.epochs=1: unknown key 'trainig' (did you mean 'training'?); a study has name, training, seeds, methods, evaluation, analysis, sweep"
            )
        ) { try set(["trainig.epochs=1"]) }
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
