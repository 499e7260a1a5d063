import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

extension Evaluator {
    /// The sanity checks' attacks, declared once for what runs and what the results record: FGSM,
    /// BIM, PGD (the evaluation's steps and restarts) and Square (its queries) at every radius; at
    /// the largest radius PGD with twice the steps and with one more restart, and APGD-CE with the
    /// evaluation's steps and restarts, twice the steps and one more restart.
    var checkAttacks: (everyRadius: [(name: String, attack: any Attack)], largestRadius: [(name: String, attack: any Attack)]) {
        (
            everyRadius: [
                ("fgsm", FGSM()),
                ("bim", BIM(BIM.Configuration(steps: config.steps))),
                ("pgd", PGD(PGD.Configuration(steps: config.steps, restarts: config.restarts))),
                ("square", SquareAttack(SquareAttack.Configuration(queries: config.queries))),
            ],
            largestRadius: [
                ("pgd-\(2 * config.steps)-steps", PGD(PGD.Configuration(steps: 2 * config.steps, restarts: config.restarts))),
                (
                    "pgd-\(config.restarts + 1)-restarts",
                    PGD(PGD.Configuration(steps: config.steps, restarts: config.restarts + 1))
                ),
                ("apgd-ce", APGD(APGD.Configuration(steps: config.steps, restarts: config.restarts))),
                (
                    "apgd-ce-\(2 * config.steps)-steps",
                    APGD(APGD.Configuration(steps: 2 * config.steps, restarts: config.restarts))
                ),
                (
                    "apgd-ce-\(config.restarts + 1)-restarts",
                    APGD(APGD.Configuration(steps: config.steps, restarts: config.restarts + 1))
                ),
            ]
        )
    }

    /// The images the sanity checks attack: the first `checkSamples` clean-correct ones.
    func checkPositions(cleanCorrect: [Int]) -> [Int] {
        Array(cleanCorrect.prefix(config.checkSamples))
    }

    /// The sanity checks' own attack runs, on the deployed output, untargeted, on the same
    /// clean-correct images: FGSM, BIM and PGD (the evaluation's steps and restarts) and Square
    /// (its queries) at every radius; at the largest radius PGD again with twice the steps and with
    /// one more restart (same seeds, so the first restarts coincide); PGD with an unbounded
    /// radius; and margin-loss input gradients of every objective on all evaluated images.
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
        let attacks = checkAttacks
        var fgsm: [Double] = [], bim: [Double] = [], pgdAccuracy: [Double] = [], whiteBox: [Double] = [], square: [Double] = []
        for epsilon in epsilons {
            var fooled: [String: Set<Int>] = [:]
            for (name, attack) in attacks.everyRadius { fooled[name] = try run(name, attack, epsilon: epsilon) }
            let (f, b, p, s) = (fooled["fgsm"]!, fooled["bim"]!, fooled["pgd"]!, fooled["square"]!)
            fgsm.append(accuracy(f))
            bim.append(accuracy(b))
            pgdAccuracy.append(accuracy(p))
            whiteBox.append(accuracy(f.union(b).union(p)))
            square.append(accuracy(s))
        }
        // The stronger runs share the first restarts' seeds with their base run's (PGD's, APGD-CE's).
        let stronger = try attacks.largestRadius.map {
            try run($0.name, $0.attack, epsilon: epsilons.last!, seedKey: $0.name.hasPrefix("apgd-ce") ? "apgd-ce" : "pgd")
        }
        let spec = input.ensemble.members[0].spec
        let radius = config.norm.unboundedRadius(featureCount: spec.channels * spec.height * spec.width)
        let pgd = attacks.everyRadius.first { $0.name == "pgd" }!.attack
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
            images: count, epsilons: epsilons, fgsm: fgsm, bim: bim, pgd: pgdAccuracy, whiteBox: whiteBox, square: square,
            transfer: transfer, pgdMoreSteps: accuracy(stronger[0]), pgdMoreRestarts: accuracy(stronger[1]),
            apgd: accuracy(stronger[2]), apgdMoreSteps: accuracy(stronger[3]), apgdMoreRestarts: accuracy(stronger[4]),
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
