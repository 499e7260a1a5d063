import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

extension Evaluator {
    /// The sanity checks' attacks, declared once for what runs and what the results record, all at
    /// every radius: FGSM, BIM, PGD (the evaluation's steps and restarts), Square (its queries and
    /// schedule), APGD-CE (the suite's steps and restarts), and PGD and APGD-CE again with twice the
    /// steps and with one more restart.
    var checkAttacks: [(name: String, attack: any Attack)] {
        [
            ("fgsm", FGSM()),
            ("bim", BIM(BIM.Configuration(steps: config.steps))),
            ("pgd", PGD(PGD.Configuration(steps: config.steps, restarts: config.restarts))),
            (
                "square",
                SquareAttack(
                    SquareAttack.Configuration(
                        queries: config.queries, schedule: config.squareSchedule == .rescaled ? nil : config.squareSchedule))
            ),
            ("pgd-\(2 * config.steps)-steps", PGD(PGD.Configuration(steps: 2 * config.steps, restarts: config.restarts))),
            ("pgd-\(config.restarts + 1)-restarts", PGD(PGD.Configuration(steps: config.steps, restarts: config.restarts + 1))),
            ("apgd-ce", APGD(APGD.Configuration(steps: config.steps, restarts: config.restarts))),
            ("apgd-ce-\(2 * config.steps)-steps", APGD(APGD.Configuration(steps: 2 * config.steps, restarts: config.restarts))),
            (
                "apgd-ce-\(config.restarts + 1)-restarts",
                APGD(APGD.Configuration(steps: config.steps, restarts: config.restarts + 1))
            ),
        ]
    }

    /// The images the sanity checks attack: the first `checkSamples` clean-correct ones.
    func checkPositions(cleanCorrect: [Int]) -> [Int] {
        Array(cleanCorrect.prefix(config.checkSamples))
    }

    /// The sanity checks' own attack runs, on the deployed output, untargeted, on the same
    /// clean-correct images, at every radius: FGSM, BIM, PGD and APGD-CE (the evaluation's steps and
    /// restarts), Square (its queries), and PGD and APGD-CE again with twice the steps and with one
    /// more restart (same seeds, so the first restarts coincide); PGD with an unbounded radius; and
    /// margin-loss input gradients of every objective on all evaluated images.
    func sanityMeasurements(cleanCorrect: [Int], progress: (EvaluationEvent) -> Void) throws -> SanityMeasurements {
        let positions = checkPositions(cleanCorrect: cleanCorrect)
        let target = EnsembleTarget.deployed(input.ensemble)
        let count = positions.count
        func accuracy(_ fooled: Set<Int>) -> Double {
            count == 0 ? 0 : Double(positions.filter { !fooled.contains($0) }.count) / Double(count)
        }
        func run(_ name: String, _ attack: any Attack, epsilon: Double, seedKey: String? = nil) throws -> Set<Int> {
            guard count > 0 else { return [] }
            let key = "check/\(Self.format(epsilon))/\(name)"
            let outcome = try runAttack(
                key: key, seedKey: seedKey.map { "check/\(Self.format(epsilon))/\($0)" },
                label: String(format: "check ε=%g %@", epsilon, name),
                attack: attack, target: target, epsilon: epsilon, positions: positions, targeted: false,
                stopOnSuccess: true, progress: progress)
            return Set(outcome.succeeded)
        }
        var measured: [String: [Double]] = [:]
        var whiteBox: [Double] = []
        for epsilon in epsilons {
            var fooled: [String: Set<Int>] = [:]
            // The stronger runs share the first restarts' seeds with their base run's (PGD's, APGD-CE's).
            for (name, attack) in checkAttacks {
                let base = name.hasPrefix("apgd-ce-") ? "apgd-ce" : name.hasPrefix("pgd-") ? "pgd" : nil
                fooled[name] = try run(name, attack, epsilon: epsilon, seedKey: base)
                measured[name, default: []].append(accuracy(fooled[name]!))
            }
            whiteBox.append(accuracy(fooled["fgsm"]!.union(fooled["bim"]!).union(fooled["pgd"]!).union(fooled["apgd-ce"]!)))
        }
        let names = checkAttacks.map(\.name)
        let spec = input.ensemble.members[0].spec
        let radius = config.norm.unboundedRadius(featureCount: spec.channels * spec.height * spec.width)
        let pgd = checkAttacks.first { $0.name == "pgd" }!.attack
        let unbounded = try run("pgd-unbounded", pgd, epsilon: radius)

        var transfer: [String: [Double]] = [:]
        for run in transferRuns {
            transfer["\(run.surrogate.name)/\(run.variant)"] = epsilons.map { epsilon in
                let fooled = (0..<run.starts).flatMap {
                    state.transfer[run.key(epsilon: Self.format(epsilon), start: $0)]?.succeeded ?? []
                }
                return accuracy(Set(fooled))
            }
        }
        var gradients: [GradientStatistics] = []
        for objective in config.targets {
            gradients.append(try gradientStatistics(objective, progress: progress))
        }
        return SanityMeasurements(
            images: count, epsilons: epsilons, fgsm: measured["fgsm"]!, bim: measured["bim"]!, pgd: measured["pgd"]!,
            whiteBox: whiteBox, square: measured["square"]!, transfer: transfer, pgdMoreSteps: measured[names[4]]!,
            pgdMoreRestarts: measured[names[5]]!, apgd: measured["apgd-ce"]!, apgdMoreSteps: measured[names[7]]!,
            apgdMoreRestarts: measured[names[8]]!,
            unboundedRadius: radius, unbounded: accuracy(unbounded), gradients: gradients,
            steps: config.steps, restarts: config.restarts)
    }

    /// Input-gradient statistics of the margin loss on one objective over every evaluated image.
    func gradientStatistics(_ objective: TargetObjective, progress: (EvaluationEvent) -> Void) throws -> GradientStatistics {
        let key = "gradients/\(objective)"
        if let done = state.gradients[key] { return done }
        let target = EnsembleTarget(ensemble: input.ensemble, objective: objective)
        var nonFinite = 0, zero = 0
        var meanAbsolute = 0.0
        progress(.runStarted("gradients of \(objective)", images: sampleCount))
        withEvaluationMode(of: target) {
            for batch in batches(Array(0..<sampleCount)) {
                let (images, labels) = slice(batch)
                let gradient = evaluateLoss(images, labels: labels, targets: nil, target: target, loss: .margin).gradient!
                withoutGradients {
                    let flat = gradient.flattened(startAxis: 1)
                    let nonFiniteEntries = flat.isFinite().logicalNot().converted(to: .float32).sum(alongAxes: [1])
                    nonFinite += (nonFiniteEntries .> 0.0).scalars(as: Bool.self).filter { $0 }.count
                    let safe = `where`(flat.isFinite(), flat, flat.zerosLike()).abs()
                    zero += (safe.max(alongAxis: 1).values .<= thresholds.zeroGradient).scalars(as: Bool.self).filter { $0 }.count
                    meanAbsolute += safe.mean(alongAxes: [1]).sum().item()
                }
            }
        }
        let statistics = GradientStatistics(
            target: objective.description, images: sampleCount, nonFinite: nonFinite, zero: zero,
            meanAbsolute: meanAbsolute / Double(sampleCount))
        state.gradients[key] = statistics
        try saveState()
        return statistics
    }
}
