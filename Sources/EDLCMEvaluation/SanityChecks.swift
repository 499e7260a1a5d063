import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation

/// The thresholds of the gradient-masking sanity checks.
public struct SanityThresholds: Codable, Sendable, Equatable {
    /// "About zero": an accuracy at or below this counts as zero (0.01, one image in a hundred).
    public var floor: Double = 0.01
    /// The slack of comparisons between attacks (0.01), and never less than one image, so that a
    /// comparison is not decided by a single image that one run happened to break and another not.
    public var tolerance: Double = 0.01
    /// An image's input gradient counts as zero when its largest |∂ℓ/∂x| is at most this.
    public var zeroGradient: Double = 1e-12

    public init() {}
}

/// The checks, after Athalye, Carlini and Wagner (ICML 2018) §3 and Carlini et al., "On
/// Evaluating Adversarial Robustness" (2019) §5: each signals a way an evaluation can look robust
/// because its attacks fail, not because the model resists them.
public enum SanityCheckName: String, Codable, CaseIterable, Sendable {
    case iterativeBeatsSingleStep = "iterative-beats-single-step"
    case whiteBoxBeatsBlackBox = "white-box-beats-black-box"
    case accuracyFallsWithEpsilon = "accuracy-falls-with-epsilon"
    case unboundedReachesZero = "unbounded-epsilon-reaches-zero"
    case moreEffortDoesNotHelp = "more-steps-and-restarts-do-not-raise-accuracy"
    case gradientsFiniteAndNonZero = "gradients-finite-and-non-zero"
}

/// One number behind a check.
public struct Measurement: Codable, Equatable, Sendable {
    public var label: String
    public var value: Double

    public init(_ label: String, _ value: Double) {
        self.label = label
        self.value = value
    }
}

/// A check's verdict, its rule and the numbers it was decided on.
public struct SanityCheckResult: Codable, Equatable, Sendable {
    public var name: SanityCheckName
    public var passed: Bool
    /// The rule, in words, with its thresholds.
    public var rule: String
    public var measurements: [Measurement]
    /// Why it failed (empty when it passed).
    public var failures: [String]
}

/// Input-gradient statistics of one objective on the evaluated images.
public struct GradientStatistics: Codable, Equatable, Sendable {
    public var target: String
    public var images: Int
    /// Images whose gradient has a NaN or infinite entry.
    public var nonFinite: Int
    /// Images whose gradient is zero (largest |entry| ≤ the threshold).
    public var zero: Int
    /// The mean over images of the mean |∂ℓ/∂x|.
    public var meanAbsolute: Double

    enum CodingKeys: String, CodingKey {
        case target, images, zero
        case nonFinite = "non_finite", meanAbsolute = "mean_absolute"
    }
}

/// What the checks are decided on: the accuracies of the checks' own attack runs on the same
/// clean-correct images (so every accuracy starts from 1), and gradient statistics.
public struct SanityMeasurements: Codable, Equatable, Sendable {
    /// The clean-correct images the attack runs used.
    public var images: Int
    /// The radii, ascending.
    public var epsilons: [Double]
    /// Accuracy under FGSM, BIM and PGD at each radius, and the per-image worst case of those and
    /// APGD-CE (the white-box side of the checks).
    public var fgsm: [Double]
    public var bim: [Double]
    public var pgd: [Double]
    public var whiteBox: [Double]
    /// Accuracy under the Square attack at each radius.
    public var square: [Double]
    /// Accuracy under each transfer source ("surrogate/attack") at each radius.
    public var transfer: [String: [Double]]
    /// PGD at each radius with twice the steps, and with one more restart.
    public var pgdMoreSteps: [Double]
    public var pgdMoreRestarts: [Double]
    /// APGD-CE at each radius with the evaluation's steps and restarts, with twice the steps, and
    /// with one more restart (nil when not measured).
    public var apgd: [Double]?
    public var apgdMoreSteps: [Double]?
    public var apgdMoreRestarts: [Double]?
    /// PGD at a radius that holds the whole [0, 1] box.
    public var unboundedRadius: Double
    public var unbounded: Double
    public var gradients: [GradientStatistics]
    public var steps: Int
    public var restarts: Int

    public init(
        images: Int, epsilons: [Double], fgsm: [Double], bim: [Double], pgd: [Double], whiteBox: [Double], square: [Double],
        transfer: [String: [Double]], pgdMoreSteps: [Double], pgdMoreRestarts: [Double], apgd: [Double]? = nil,
        apgdMoreSteps: [Double]? = nil, apgdMoreRestarts: [Double]? = nil, unboundedRadius: Double, unbounded: Double,
        gradients: [GradientStatistics], steps: Int, restarts: Int
    ) {
        self.apgd = apgd
        self.apgdMoreSteps = apgdMoreSteps
        self.apgdMoreRestarts = apgdMoreRestarts
        self.images = images
        self.epsilons = epsilons
        self.fgsm = fgsm
        self.bim = bim
        self.pgd = pgd
        self.whiteBox = whiteBox
        self.square = square
        self.transfer = transfer
        self.pgdMoreSteps = pgdMoreSteps
        self.pgdMoreRestarts = pgdMoreRestarts
        self.unboundedRadius = unboundedRadius
        self.unbounded = unbounded
        self.gradients = gradients
        self.steps = steps
        self.restarts = restarts
    }
}

/// The rules of the sanity checks, as pure functions of the measurements.
public enum SanityChecks {
    /// Decides every check.
    public static func evaluate(_ m: SanityMeasurements, thresholds t: SanityThresholds = SanityThresholds())
        -> [SanityCheckResult]
    {
        [
            iterativeBeatsSingleStep(m, t), whiteBoxBeatsBlackBox(m, t), accuracyFallsWithEpsilon(m, t),
            unboundedReachesZero(m, t), moreEffortDoesNotHelp(m, t), gradientsFiniteAndNonZero(m, t),
        ]
    }

    private static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }

    /// The slack of comparisons on `images` images: the tolerance, but at least one image (plus
    /// a rounding guard).
    static func slack(_ t: SanityThresholds, images: Int) -> Double {
        Swift.max(t.tolerance, 1 / Double(Swift.max(images, 1))) + 1e-9
    }
    private static func eps(_ value: Double) -> String { String(format: "ε=%g", value) }

    /// One check: fails with `missing` when the measurements lack what it needs (`ready` false),
    /// else passes when `body`, which records what it measured, finds no failure.
    private static func check(
        _ name: SanityCheckName, rule: String, ready: Bool, missing: String = "no clean-correct images to attack",
        _ body: (_ measurements: inout [Measurement], _ failures: inout [String]) -> Void
    ) -> SanityCheckResult {
        guard ready else {
            return SanityCheckResult(name: name, passed: false, rule: rule, measurements: [], failures: [missing])
        }
        var measurements: [Measurement] = []
        var failures: [String] = []
        body(&measurements, &failures)
        return SanityCheckResult(
            name: name, passed: failures.isEmpty, rule: rule, measurements: measurements, failures: failures)
    }

    /// BIM (the iterated FGSM, from the same clean start) must do at least as well as FGSM at
    /// every radius, and strictly better at the largest unless FGSM already leaves ≤ floor.
    static func iterativeBeatsSingleStep(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "at every ε, accuracy under BIM (\(m.steps) steps) ≤ FGSM + \(percent(t.tolerance)) (at least one image); at the largest ε strictly below FGSM unless FGSM ≤ \(percent(t.floor))"
        return check(.iterativeBeatsSingleStep, rule: rule, ready: m.images > 0 && !m.epsilons.isEmpty) {
            measurements, failures in
            for (index, epsilon) in m.epsilons.enumerated() {
                measurements += [
                    Measurement("FGSM \(eps(epsilon))", m.fgsm[index]), Measurement("BIM \(eps(epsilon))", m.bim[index]),
                ]
                if m.bim[index] > m.fgsm[index] + slack(t, images: m.images) {
                    failures.append(
                        "\(eps(epsilon)): BIM leaves \(percent(m.bim[index])), more than FGSM's \(percent(m.fgsm[index]))")
                }
            }
            let last = m.epsilons.count - 1
            if !(m.bim[last] < m.fgsm[last] || m.fgsm[last] <= t.floor + 1e-9) {
                failures.append(
                    "\(eps(m.epsilons[last])): iterating does not help (BIM \(percent(m.bim[last])), FGSM \(percent(m.fgsm[last])))"
                )
            }
        }
    }

    /// The white-box worst case (FGSM, BIM, PGD, APGD-CE) must be at least as strong as the Square
    /// attack and as every transfer source, at every radius.
    static func whiteBoxBeatsBlackBox(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "at every ε, white-box accuracy (worst of FGSM, BIM, PGD, APGD-CE) ≤ accuracy under Square and under each transfer source + \(percent(t.tolerance)) (at least one image)"
        return check(.whiteBoxBeatsBlackBox, rule: rule, ready: m.images > 0) { measurements, failures in
            for (index, epsilon) in m.epsilons.enumerated() {
                measurements += [
                    Measurement("white-box \(eps(epsilon))", m.whiteBox[index]),
                    Measurement("Square \(eps(epsilon))", m.square[index]),
                ]
                var blackBox = [("Square", m.square[index])]
                for source in m.transfer.keys.sorted() {
                    measurements.append(Measurement("transfer \(source) \(eps(epsilon))", m.transfer[source]![index]))
                    blackBox.append(("transfer \(source)", m.transfer[source]![index]))
                }
                for (name, accuracy) in blackBox where m.whiteBox[index] > accuracy + slack(t, images: m.images) {
                    failures.append(
                        "\(eps(epsilon)): \(name) leaves \(percent(accuracy)), below white-box \(percent(m.whiteBox[index]))")
                }
            }
        }
    }

    /// White-box accuracy must not rise with ε, must fall below clean at the largest radius, and
    /// (with several radii) must be lower at the largest than at the smallest unless already ≤ floor.
    static func accuracyFallsWithEpsilon(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "white-box accuracy never rises by more than \(percent(t.tolerance)) (at least one image) as ε grows, is below clean (100%) at the largest ε, and is lower at the largest ε than at the smallest unless ≤ \(percent(t.floor)) there"
        return check(.accuracyFallsWithEpsilon, rule: rule, ready: m.images > 0 && !m.whiteBox.isEmpty) {
            measurements, failures in
            measurements.append(Measurement("clean ε=0", 1))
            for (index, epsilon) in m.epsilons.enumerated() {
                measurements.append(Measurement("white-box \(eps(epsilon))", m.whiteBox[index]))
                if index > 0, m.whiteBox[index] > m.whiteBox[index - 1] + slack(t, images: m.images) {
                    failures.append(
                        "accuracy rises from \(percent(m.whiteBox[index - 1])) at \(eps(m.epsilons[index - 1])) to \(percent(m.whiteBox[index])) at \(eps(epsilon))"
                    )
                }
            }
            let (first, last) = (m.whiteBox.first!, m.whiteBox.last!)
            if last >= 1 { failures.append("no image broken even at \(eps(m.epsilons.last!))") }
            if m.epsilons.count > 1, !(last < first || first <= t.floor + 1e-9) {
                failures.append(
                    "accuracy does not fall from \(eps(m.epsilons.first!)) (\(percent(first))) to \(eps(m.epsilons.last!)) (\(percent(last)))"
                )
            }
        }
    }

    /// PGD with a radius holding the whole [0, 1] box must leave accuracy at about zero.
    static func unboundedReachesZero(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "PGD (\(m.steps) steps) with an unbounded radius (ε=\(String(format: "%g", m.unboundedRadius))) leaves accuracy ≤ \(percent(t.floor))"
        return check(.unboundedReachesZero, rule: rule, ready: m.images > 0) { measurements, failures in
            measurements.append(Measurement("PGD unbounded", m.unbounded))
            if !(m.unbounded <= t.floor + 1e-9) { failures.append("an unbounded attack leaves \(percent(m.unbounded)) correct") }
        }
    }

    /// Doubling PGD's and APGD-CE's steps, or adding a restart, must not raise accuracy at any radius.
    static func moreEffortDoesNotHelp(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "at every ε, PGD and APGD-CE with \(2 * m.steps) steps and with \(m.restarts + 1) restarts leave at most \(percent(t.tolerance)) (at least one image) more than with \(m.steps) steps and \(m.restarts) restart(s)"
        return check(.moreEffortDoesNotHelp, rule: rule, ready: m.images > 0 && !m.pgd.isEmpty) { measurements, failures in
            var attacks = [("PGD", m.pgd, m.pgdMoreSteps, m.pgdMoreRestarts)]
            if let apgd = m.apgd, let moreSteps = m.apgdMoreSteps, let moreRestarts = m.apgdMoreRestarts {
                attacks.append(("APGD-CE", apgd, moreSteps, moreRestarts))
            }
            for (index, epsilon) in m.epsilons.enumerated() {
                for (name, base, moreSteps, moreRestarts) in attacks {
                    let (base, moreSteps, moreRestarts) = (base[index], moreSteps[index], moreRestarts[index])
                    if moreSteps > base + slack(t, images: m.images) {
                        failures.append(
                            "\(eps(epsilon)): \(name) with \(2 * m.steps) steps leaves \(percent(moreSteps)), more than \(m.steps) steps' \(percent(base))"
                        )
                    }
                    if moreRestarts > base + slack(t, images: m.images) {
                        failures.append(
                            "\(eps(epsilon)): \(name) with \(m.restarts + 1) restarts leaves \(percent(moreRestarts)), more than \(m.restarts) restart(s)' \(percent(base))"
                        )
                    }
                    measurements += [
                        Measurement("\(name) \(m.steps) steps \(eps(epsilon))", base),
                        Measurement("\(name) \(2 * m.steps) steps \(eps(epsilon))", moreSteps),
                        Measurement("\(name) \(m.restarts + 1) restarts \(eps(epsilon))", moreRestarts),
                    ]
                }
            }
        }
    }

    /// The margin-loss input gradient must be finite everywhere and non-zero on all but ≤ floor
    /// of the images, for every objective.
    static func gradientsFiniteAndNonZero(_ m: SanityMeasurements, _ t: SanityThresholds) -> SanityCheckResult {
        let rule =
            "for every objective, the margin loss's input gradient is finite on every image and zero (max |g| ≤ \(t.zeroGradient)) on at most \(percent(t.floor)) of them"
        return check(
            .gradientsFiniteAndNonZero, rule: rule, ready: !m.gradients.isEmpty && m.gradients.allSatisfy({ $0.images > 0 }),
            missing: "no gradients measured"
        ) { measurements, failures in
            for statistics in m.gradients {
                let zeroFraction = Double(statistics.zero) / Double(statistics.images)
                measurements += [
                    Measurement("\(statistics.target) non-finite", Double(statistics.nonFinite)),
                    Measurement("\(statistics.target) zero fraction", zeroFraction),
                    Measurement("\(statistics.target) mean |g|", statistics.meanAbsolute),
                ]
                if statistics.nonFinite > 0 {
                    failures.append("\(statistics.target): \(statistics.nonFinite) images have non-finite gradients")
                }
                if zeroFraction > t.floor + 1e-9 {
                    failures.append("\(statistics.target): \(percent(zeroFraction)) of images have zero gradients")
                }
            }
        }
    }
}
