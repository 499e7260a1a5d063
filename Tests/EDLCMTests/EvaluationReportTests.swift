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

/// The result files: JSON that reads back, tidy CSV, a Markdown report that shows the command,
/// and `--out` validation.
@Suite("Evaluation: reports and files")
struct EvaluationReportTests {
    static func result() throws -> EvaluationResult {
        var config = EvaluationFixture.config(attacks: [.fgsm, .square], epsilons: [0.1, 0.15])
        config.matrix = true
        config.checks = true
        config.checkSamples = 12
        let surrogate = Surrogate(
            name: "s,1", ensemble: AttackFixtures.ensemble(seeds: [9]), checkpointSHA256: "s9", trainingSeed: 9)
        config.transferAttacks = [.mpgd]
        return try Evaluator(
            config: config.validated(), input: EvaluationFixture.input(count: 24, surrogates: [surrogate]), stateURL: nil,
            command: ["edlcm", "evaluate", "--run", "runs/a b", "--eps", "0.1", "0.15"]
        ).run()
    }

    @Test("JSON, CSV and Markdown carry the numbers, the settings and the command")
    func formats() throws {
        let result = try Self.result()
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        let files = try EvaluationFiles(out: folder.appendingPathComponent("nested/eval.json").path)
        try EvaluationReport.write(result, to: files)
        #expect(
            files.csv.lastPathComponent == "eval.csv" && files.markdown.lastPathComponent == "eval.md"
                && files.state.lastPathComponent == "eval.state.json")

        // JSON reads back to the same result, with provenance.
        let read = try EvaluationReport.read(from: files.json)
        #expect(read == result)
        #expect(read.format == "edlcm-evaluation/1")
        #expect(read.provenance.libtorchVersion == Runtime.libtorchVersion && read.provenance.edlcmVersion == edlcmVersion)
        #expect(read.settings.epsilons == [0.1, 0.15] && read.settings.seeding.seed == 0)
        #expect(read.attackSettings.contains { $0.role == "suite" && $0.attack == "fgsm" })
        let json = try String(contentsOf: files.json, encoding: .utf8)
        #expect(json.contains("\"worst_case_accuracy\""))
        #expect(json.contains("\"sanity_checks\""))

        // CSV: one number per row, fields with commas quoted.
        let csv = try String(contentsOf: files.csv, encoding: .utf8).split(separator: "\n").map(String.init)
        #expect(csv[0] == "section,epsilon,attack,target,metric,value")
        #expect(csv.allSatisfy { !$0.isEmpty })
        #expect(csv.contains(String(format: "worst_case,0.1,,,accuracy,%.6g", result.robustness[0].worstCaseAccuracy)))
        #expect(csv.contains { $0.hasPrefix("transfer,0.1,m-pgd,\"surrogate:s,1\",target_accuracy,") })
        #expect(csv.contains { $0.hasPrefix("transferability,0.15,pgd,member0,success_on:ensemble,") })
        #expect(csv.contains { $0.hasPrefix("sanity,,,gradients-finite-and-non-zero,passed,") })
        #expect(csv.filter { $0.hasPrefix("run,") }.count == 2 * 4 * 6)

        // Markdown: the number to quote first, the command that made it, and every check's verdict.
        let markdown = try String(contentsOf: files.markdown, encoding: .utf8)
        #expect(markdown.contains("**Worst-case robust accuracy**"))
        #expect(markdown.contains("edlcm evaluate --run 'runs/a b' --eps 0.1 0.15"))
        #expect(markdown.contains("## Transferability matrix, ε=0.15"))
        for check in result.sanityChecks {
            #expect(markdown.contains("| \(check.name.rawValue) | \(check.passed ? "pass" : "**FAIL**")"))
        }
        #expect(markdown.contains("| fgsm | probabilities |"))
    }

    @Test("--out must be a .json file that is not a folder or a foreign file")
    func outValidation() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(
            throws: EDLCMError(
                "--out \(folder.path)/eval.txt: must name a .json file (the .csv, .md and .state.json files go beside it)")
        ) {
            try EvaluationFiles(out: folder.appendingPathComponent("eval.txt").path)
        }
        let directory = folder.appendingPathComponent("dir.json")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        #expect(throws: EDLCMError("--out \(directory.path): is a folder; name a .json file")) {
            try EvaluationFiles(out: directory.path)
        }
        let foreign = folder.appendingPathComponent("notes.json")
        try Data("{\"hello\": 1}".utf8).write(to: foreign)
        expectError(startingWith: "\(foreign.path): not an edlcm evaluation result") {
            _ = try EvaluationFiles(out: foreign.path)
        }
        #expect(try String(contentsOf: foreign, encoding: .utf8) == "{\"hello\": 1}", "a foreign file is left alone")
    }
}
