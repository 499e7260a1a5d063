import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

extension Evaluator {
    /// Builds the result record from the stages' outcomes.
    func assemble(
        clean: CleanOutcome, records: [EpsilonRecord], transfer: [TransferRecord], matrices: [TransferabilityMatrix],
        checks: [SanityCheckResult], brokenBy: [[String?]]
    ) -> EvaluationResult {
        let n = Double(sampleCount)
        var settings = config
        settings.epsilons = epsilons
        var suiteAttacks = config.attacks
        for name in config.lightEps.isEmpty ? [] : config.lightAttacks where !suiteAttacks.contains(name) {
            suiteAttacks.append(name)
        }
        var attackSettings = suiteAttacks.map { name in
            AttackSettingsRecord(
                role: "suite", attack: name.rawValue, configuration: name.makeAttack(config.budget).configurationJSON())
        }
        var recordedVariants = Set<String>()
        for run in transferRuns where recordedVariants.insert(run.variant).inserted {
            attackSettings.append(
                AttackSettingsRecord(
                    role: "transfer", attack: run.variant,
                    configuration: transferAttack(run.attack, loss: run.loss).configurationJSON()))
        }
        if config.matrix {
            attackSettings.append(
                AttackSettingsRecord(role: "matrix", attack: "pgd", configuration: matrixAttack.configurationJSON()))
        }
        if config.checks {
            let checks = checkAttacks
            attackSettings += checks.map {
                AttackSettingsRecord(role: "checks", attack: $0.name, configuration: $0.attack.configurationJSON())
            }
        }
        let labels = input.labels.scalars(as: Int64.self)
        let perExample = (0..<sampleCount).map { position in
            ExampleRecord(
                index: input.sampleIndices[position], label: Int(labels[position]), cleanCorrect: clean.deployed[position],
                brokenBy: brokenBy.map { clean.deployed[position] ? $0[position] : "clean" })
        }
        let memberAccuracies = clean.members.map { Double($0.filter { $0 }.count) / n }
        let correct = clean.deployed.filter { $0 }.count
        let surrogates = input.surrogates.map {
            SurrogateRecord(
                name: $0.name, run: $0.run, checkpointSHA256: $0.checkpointSHA256, members: $0.ensemble.members.count,
                trainingSeed: $0.trainingSeed, trainedHere: $0.trainedHere, cleanAccuracy: state.surrogateAccuracy[$0.name] ?? 0)
        }
        return EvaluationResult(
            provenance: Provenance(
                edlcmVersion: edlcmVersion, libtorchVersion: Runtime.libtorchVersion, commands: state.commands,
                started: state.started, finished: ISO8601DateFormatter().string(from: Date()), threads: Runtime.threadCount),
            settings: settings, attackSettings: attackSettings, thresholds: thresholds, model: input.model,
            samples: SamplesRecord(
                split: config.split.rawValue, count: sampleCount, indices: input.sampleIndices,
                indicesSHA256: sha256Hex(of: Data(input.sampleIndices.map(String.init).joined(separator: ",").utf8))),
            clean: CleanRecord(accuracy: Double(correct) / n, correct: correct, memberAccuracies: memberAccuracies),
            robustness: records, surrogates: surrogates, transfer: transfer, transferability: matrices, sanityChecks: checks,
            perExample: perExample)
    }
}
