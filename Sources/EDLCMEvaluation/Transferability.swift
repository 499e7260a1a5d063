import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

extension Evaluator {
    /// The members' transferability matrices, one per radius: PGD (the evaluation's steps, one
    /// restart, no early stop, untargeted cross-entropy) crafted on member i alone, evaluated on
    /// every member j and on the deployed ensemble, over the first `matrixSamples` images that
    /// every member classifies correctly.
    ///
    /// Entry (i, j) is the fraction of those images the examples make model j misclassify: the
    /// diagonal is each member's white-box success, the off-diagonal how well attacks transfer
    /// between members (low values mean diverse members), the last column the effect on the
    /// ensemble.
    func transferabilityMatrices(clean: CleanOutcome, progress: (EvaluationEvent) -> Void) throws -> [TransferabilityMatrix] {
        let ensemble = input.ensemble
        let memberCount = ensemble.members.count
        let images = Array(
            (0..<sampleCount).filter { position in clean.members.allSatisfy { $0[position] } }.prefix(config.matrixSamples))
        let models = (0..<memberCount).map { "member\($0)" } + ["ensemble"]
        let attack = matrixAttack
        var matrices: [TransferabilityMatrix] = []
        for epsilon in epsilons {
            var rows: [[Double]] = []
            for member in 0..<memberCount {
                let key = "matrix/\(Self.format(epsilon))/member\(member)"
                let counts: [Int]
                if let done = state.matrix[key], state.matrixEnsembleFooled?[key] != nil {
                    counts = done
                } else {
                    let label = String(format: "ε=%g PGD on member%d", epsilon, member)
                    progress(.runStarted(label, images: images.count))
                    let start = Date()
                    var tally = [Int](repeating: 0, count: memberCount + 1)
                    var ensembleFooled: [Int] = []
                    let target = EnsembleTarget(ensemble: ensemble, objective: .member(member))
                    for batch in batches(images) {
                        let (batchImages, labels) = slice(batch)
                        let context = AttackContext(
                            epsilon: epsilon, norm: config.norm, seeds: seeds(batch, key: key), stopOnSuccess: false,
                            keepsFirstSuccess: false)
                        let adversarial = try attack.perturb(batchImages, labels: labels, target: target, context: context)
                            .adversarial
                        withEvaluationMode(of: target) {
                            withoutGradients {
                                let logits = ensemble.firstOrderMemberLogits(adversarial)
                                for (index, memberLogits) in logits.enumerated() {
                                    tally[index] +=
                                        attackSucceeded(memberLogits, labels: labels, targets: nil).filter { $0 }.count
                                }
                                let fooled = attackSucceeded(ensemble.combine(logits), labels: labels, targets: nil)
                                tally[memberCount] += fooled.filter { $0 }.count
                                ensembleFooled += zip(batch, fooled).filter(\.1).map(\.0)
                            }
                        }
                    }
                    counts = tally
                    state.matrix[key] = counts
                    state.matrixEnsembleFooled = (state.matrixEnsembleFooled ?? [:]).merging([key: ensembleFooled]) { $1 }
                    try checkpoint()
                    progress(
                        .runFinished(
                            label, attacked: images.count, succeeded: counts[member], accuracyAfter: nil,
                            seconds: Date().timeIntervalSince(start)))
                }
                rows.append(counts.map { images.isEmpty ? 0 : Double($0) / Double(images.count) })
            }
            matrices.append(TransferabilityMatrix(epsilon: epsilon, images: images.count, models: models, success: rows))
        }
        return matrices
    }

    /// The attack the matrix is built with.
    var matrixAttack: PGD {
        PGD(PGD.Configuration(steps: config.steps, restarts: 1))
    }
}
