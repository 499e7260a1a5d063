import EDLCMReport
import Foundation

/// EDLCM against one other method of a study at one radius: the question the study is run for
/// (does EDLCM beat it on robust accuracy, at what clean accuracy, and is the difference larger
/// than the seed-to-seed spread?), answered from the seeds both methods finished.
public struct StudyVerdict: Equatable, Sendable {
    /// How EDLCM's robust accuracy compares with the other method's.
    public enum Outcome: String, Sendable {
        /// The 95 % t interval of the per-seed differences lies above 0.
        case ahead = "EDLCM ahead"
        /// The interval lies below 0.
        case behind = "EDLCM behind"
        /// The mean difference exceeds both methods' seed-to-seed sd, but the interval includes 0.
        case leadsWithinInterval = "EDLCM ahead, interval includes 0"
        case trailsWithinInterval = "EDLCM behind, interval includes 0"
        /// The mean difference is no larger than the seed-to-seed sd.
        case withinSpread = "within the seed-to-seed spread"
        /// One seed: no spread to compare with.
        case oneSeed = "one seed"
        /// The two-level bootstrap's interval includes 0.
        case cannotTell = "cannot be told apart"

        /// Ahead or behind when a 95 % interval of the differences excludes 0, else cannot be told apart.
        init(interval: Statistics.Interval) {
            self = interval.excludesZero ? (interval.lower > 0 ? .ahead : .behind) : .cannotTell
        }
    }

    public var method: String
    public var radius: Double
    /// Seeds both methods have.
    public var seeds: Int
    /// EDLCM's worst-case robust accuracy minus the method's, mean over seeds.
    public var robust: Double
    /// Its 95 % Student-t interval over seeds (nil for one seed).
    public var robustInterval: Statistics.Interval?
    /// Its 95 % interval from the two-level bootstrap over seeds and then images (nil without
    /// per-image outcomes). When present, the outcome is decided by it.
    public var bootstrapInterval: Statistics.Interval?
    /// The larger of the two methods' sample sd of robust accuracy over those seeds (nil for one seed).
    public var spread: Double?
    /// The sample sd of the per-seed differences (nil for one seed): how far one seed's difference
    /// strays, which the comparison at matched clean accuracy borrows for its one-seed fronts.
    public var differenceSpread: Double?
    /// EDLCM's test-set accuracy minus the method's, mean over seeds (nil when a run lacks it).
    public var clean: Double?
    /// Its 95 % Student-t interval over seeds.
    public var cleanInterval: Statistics.Interval?
    public var outcome: Outcome

    /// Compares per-seed values (same seeds, same order) of EDLCM and another method.
    ///
    /// - Parameters:
    ///   - edlcmRobust, otherRobust: worst-case robust accuracy per seed.
    ///   - edlcmClean, otherClean: test-set accuracy per seed (empty when unknown).
    ///   - perImage: per seed (same order), per image both attacked: +1 where only EDLCM kept it,
    ///     −1 where only the method did, 0 otherwise; empty leaves the verdict to the seeds alone.
    /// - Precondition: the robust arrays are non-empty and of one length; the clean arrays too, or
    ///   empty; `perImage` empty or one non-empty entry per seed.
    public init(
        method: String, radius: Double, edlcmRobust: [Double], otherRobust: [Double], edlcmClean: [Double],
        otherClean: [Double], perImage: [[Int]] = []
    ) {
        precondition(!edlcmRobust.isEmpty && edlcmRobust.count == otherRobust.count, "StudyVerdict: paired robust accuracies")
        precondition(edlcmClean.count == otherClean.count, "StudyVerdict: paired clean accuracies")
        self.method = method
        self.radius = radius
        seeds = edlcmRobust.count
        let differences = zip(edlcmRobust, otherRobust).map { $0 - $1 }
        robust = Statistics.mean(differences)!
        robustInterval = Statistics.meanInterval(differences)
        differenceSpread = Statistics.standardDeviation(differences)
        if let mine = Statistics.standardDeviation(edlcmRobust), let theirs = Statistics.standardDeviation(otherRobust) {
            spread = Swift.max(mine, theirs)
        } else {
            spread = nil
        }
        let cleanDifferences = zip(edlcmClean, otherClean).map { $0 - $1 }
        clean = Statistics.mean(cleanDifferences)
        cleanInterval = Statistics.meanInterval(cleanDifferences)
        precondition(perImage.isEmpty || perImage.count == seeds, "StudyVerdict: per-image outcomes per seed")
        bootstrapInterval = perImage.isEmpty ? nil : Statistics.twoLevelBootstrap(perImage, resamples: 2000, seed: 0)
        if let interval = bootstrapInterval {
            outcome = Outcome(interval: interval)
        } else if let interval = robustInterval, interval.excludesZero {
            outcome = interval.lower > 0 ? .ahead : .behind
        } else if let spread {
            outcome = abs(robust) > spread ? (robust > 0 ? .leadsWithinInterval : .trailsWithinInterval) : .withinSpread
        } else {
            outcome = .oneSeed
        }
    }

    /// Whether the verdict (the two-level bootstrap) is ahead or behind while the t interval over the
    /// seeds alone includes 0. With few seeds the bootstrap's seed level draws from those few values
    /// and understates their spread (with 3, its seed part is about 2.7 × narrower than the t
    /// interval with 2 degrees of freedom: 1.96·√(2/3) against 4.30), so such a verdict rests on the
    /// seeds' agreement; the report says so beside it.
    public var seedsAloneIncludeZero: Bool {
        guard bootstrapInterval != nil, outcome == .ahead || outcome == .behind, let robustInterval else { return false }
        return !robustInterval.excludesZero
    }

    /// "; over the 3 seeds alone the 95 % t interval, [−4.9, +24.9], includes 0" where
    /// ``seedsAloneIncludeZero``, else empty.
    var seedsAloneText: String {
        guard seedsAloneIncludeZero, let robustInterval else { return "" }
        return "; over the \(seeds) seeds alone the 95 % t interval, \(Self.interval(robustInterval)), includes 0"
    }

    static func points(_ value: Double) -> String { String(format: "%+.1f", value * 100) }

    static func interval(_ interval: Statistics.Interval) -> String {
        String(format: "[%+.1f, %+.1f]", interval.lower * 100, interval.upper * 100)
    }

    /// The robust difference in points with its interval: "+16.0 [+9.2, +22.8]".
    public var robustText: String { Self.points(robust) + (robustInterval.map { " " + Self.interval($0) } ?? "") }

    /// The two-level bootstrap's difference (the mean over seeds of each seed's difference on the
    /// images both attacked) with its interval, "–" without per-image outcomes.
    public var bootstrapText: String {
        bootstrapInterval.map { Self.points($0.estimate) + " " + Self.interval($0) } ?? "–"
    }

    /// The clean difference in points with its interval, "–" when unknown.
    public var cleanText: String {
        clean.map { Self.points($0) + (cleanInterval.map { " " + Self.interval($0) } ?? "") } ?? "–"
    }

    /// The verdict in words, e.g. "EDLCM ahead by 16.0 points, beyond the seed-to-seed spread (the
    /// 95 % interval over 3 seeds excludes 0; seed sd at most 2.1 points); test-set accuracy −0.8
    /// points, within the spread".
    public var sentence: String {
        let size = String(format: "%.1f", abs(robust) * 100)
        let sd = spread.map { String(format: "%.1f points", $0 * 100) } ?? "–"
        var text: String
        let bootstrap = bootstrapInterval.map { Self.interval($0) } ?? ""
        let scope = seeds == 1 ? "1 seed and its images" : "\(seeds) seeds and their images"
        switch outcome {
        case _ where bootstrapInterval != nil && outcome != .cannotTell:
            text =
                "EDLCM \(outcome == .ahead ? "ahead" : "behind") by \(size) points (the 95 % interval over \(scope), \(bootstrap), excludes 0)\(seedsAloneText)"
        case .cannotTell:
            text =
                "cannot be told apart: \(Self.points(robust)) points, and the 95 % interval over \(scope), \(bootstrap), includes 0"
        case .ahead, .behind:
            text =
                "EDLCM \(outcome == .ahead ? "ahead" : "behind") by \(size) points, beyond the seed-to-seed spread (the 95 % interval over \(seeds) seeds excludes 0; seed sd at most \(sd))"
        case .leadsWithinInterval, .trailsWithinInterval:
            text =
                "EDLCM \(outcome == .leadsWithinInterval ? "ahead" : "behind") by \(size) points, more than either method's seed sd (\(sd)) but the 95 % interval over \(seeds) seeds includes 0"
        case .withinSpread:
            text = "no clear winner: \(Self.points(robust)) points, within the seed-to-seed spread (seed sd up to \(sd))"
        case .oneSeed:
            text =
                robust == 0
                ? "tied on one seed (no seed-to-seed spread yet)"
                : "EDLCM \(robust > 0 ? "ahead" : "behind") by \(size) points on one seed (no seed-to-seed spread yet)"
        }
        if let clean {
            let cleanPoints = Self.points(clean)
            if let cleanInterval {
                text +=
                    cleanInterval.excludesZero
                    ? "; test-set accuracy \(cleanPoints) points, beyond its seed-to-seed spread"
                    : "; test-set accuracy \(cleanPoints) points, within its seed-to-seed spread"
            } else {
                text += "; test-set accuracy \(cleanPoints) points"
            }
        }
        return text
    }
}

extension StudyReport {
    /// EDLCM against every other method at every radius (empty when the study has no EDLCM method),
    /// over the seeds both finished.
    public var verdicts: [StudyVerdict] {
        guard let edlcm = references.first(where: { $0.label == "EDLCM" })?.method else { return [] }
        var result: [StudyVerdict] = []
        for method in methods where method.name != edlcm.name {
            let seeds = method.runs.keys.filter { edlcm.runs[$0] != nil }.sorted()
            for (radius, measure) in zip(radii, robustMeasures) {
                let outcomes = pairedOutcomes(edlcm, method, radius: radius)
                let paired = seeds.compactMap { seed -> (Double, Double, [Int])? in
                    guard let mine = measure.value(edlcm.runs[seed]!), let theirs = measure.value(method.runs[seed]!) else {
                        return nil
                    }
                    return (mine, theirs, outcomes[seed] ?? [])
                }
                guard !paired.isEmpty else { continue }
                let cleanPairs = seeds.compactMap { seed -> (Double, Double)? in
                    guard let mine = testSetMeasure.value(edlcm.runs[seed]!),
                        let theirs = testSetMeasure.value(method.runs[seed]!)
                    else { return nil }
                    return (mine, theirs)
                }
                let clean = cleanPairs.count == seeds.count ? cleanPairs : []
                let perImage = paired.allSatisfy { !$0.2.isEmpty } ? paired.map(\.2) : []
                result.append(
                    StudyVerdict(
                        method: method.name, radius: radius, edlcmRobust: paired.map(\.0), otherRobust: paired.map(\.1),
                        edlcmClean: clean.map(\.0), otherClean: clean.map(\.1), perImage: perImage))
            }
        }
        return result
    }

    static let verdictHeader = [
        "EDLCM against", "ε", "seeds", "robust: EDLCM − method (points, 95 % bootstrap over seeds and images)",
        "over seeds only (95 % t interval)", "test set: EDLCM − method (points)", "verdict",
    ]

    static let verdictNote =
        "At the operating points. Robust: the per-image worst case over the whole evaluation, EDLCM's minus the method's. The verdict reads the two-level bootstrap: 2 000 resamples, each drawing the seeds with replacement and then, within each seed drawn, the images both runs attacked (paired by seed and image), so that its interval holds both the seed-to-seed spread and the sampling of images; ahead or behind when it excludes 0. Over seeds only: the mean of per-seed differences with its Student-t interval; with few seeds the bootstrap's seed level draws from those few values and understates their spread (with 3 seeds its seed part is about 2.7 × narrower than the t interval with 2 degrees of freedom), so where the verdict is ahead or behind and the t interval includes 0, the verdict's sentence and the headline say so. Test set: clean accuracy on the whole test set after the last epoch, per seed, with its t interval."

    static func verdictRows(_ verdicts: [StudyVerdict]) -> [[String]] {
        verdicts.map {
            [
                $0.method, SVGChart.label($0.radius), String($0.seeds), $0.bootstrapText, $0.robustText, $0.cleanText,
                $0.outcome.rawValue,
            ]
        }
    }
}

// MARK: - The headline: both comparisons side by side

extension StudyReport {
    /// The seed-to-seed sd of EDLCM's minus each method's robust accuracy at the operating points, by
    /// method and radius (methods with 2 or more seeds both finished).
    static func seedSpreads(_ verdicts: [StudyVerdict]) -> [String: [Double: Double]] {
        var result: [String: [Double: Double]] = [:]
        for verdict in verdicts {
            if let sd = verdict.differenceSpread { result[verdict.method, default: [:]][verdict.radius] = sd }
        }
        return result
    }

    /// EDLCM against each method's front at matched clean accuracy, widened by the operating points'
    /// seed spread (empty without fronts or a finished EDLCM run).
    public var matches: [StudyFronts.Match] { matches(verdicts) }

    /// ``matches`` widened by the seed spread of `verdicts` (the report's ``verdicts``).
    func matches(_ verdicts: [StudyVerdict]) -> [StudyFronts.Match] {
        guard let fronts, let edlcm = edlcmName else { return [] }
        return fronts.matched(edlcm: edlcm, seedSpread: Self.seedSpreads(verdicts))
    }

    /// The three comparisons of one page, each computed once (the matched one and the verdicts each
    /// run a bootstrap of 2 000 resamples): ``verdicts``, ``matches`` and ``headlines``.
    struct Comparisons {
        var verdicts: [StudyVerdict]
        var matches: [StudyFronts.Match]
        var headlines: [Headline]
    }

    var comparisons: Comparisons {
        let verdicts = self.verdicts
        let matches = self.matches(verdicts)
        return Comparisons(verdicts: verdicts, matches: matches, headlines: Self.headlines(verdicts, matches))
    }

    /// EDLCM against one method at one radius, both ways the study asks: at the operating points
    /// (test images, seeds) and at matched clean accuracy (the fronts, validation images).
    public struct Headline {
        public var method: String
        public var radius: Double
        public var verdict: StudyVerdict?
        public var match: StudyFronts.Match?

        /// One comparison's outcome as a verb: "wins", "loses", "cannot be told apart" (nil: none).
        static func term(_ verdict: StudyVerdict?) -> String? {
            guard let verdict else { return nil }
            switch verdict.outcome {
            case .ahead: return "wins"
            case .behind: return "loses"
            case .cannotTell: return "cannot be told apart"
            default: return verdict.outcome.rawValue
            }
        }

        static func term(_ match: StudyFronts.Match?) -> String? {
            switch match?.outcome {
            case .ahead: "wins"
            case .behind: "loses"
            case .cannotTell: "cannot be told apart"
            default: nil
            }
        }

        static func phrase(_ term: String, _ place: String) -> String {
            term == "wins" || term == "loses" ? "EDLCM \(term) \(place)" : "\(term) \(place)"
        }

        /// The verdict in words: "EDLCM wins at the operating points and at matched clean accuracy",
        /// "EDLCM wins at the operating points; cannot be told apart at matched clean accuracy", ….
        public var words: String {
            let operating = Self.term(verdict)
            let matched = Self.term(match)
            var parts: [String] = []
            if let operating, let matched, operating == matched {
                parts.append(Self.phrase(operating, "at the operating points and at matched clean accuracy"))
            } else {
                if let operating { parts.append(Self.phrase(operating, "at the operating points")) }
                if let matched { parts.append(Self.phrase(matched, "at matched clean accuracy")) }
            }
            if let match, match.reading == nil { parts.append("no clean accuracy both fronts reach") }
            if let match, match.outcome == .tradeOff { parts.append(match.text) }
            if let verdict, verdict.seedsAloneIncludeZero {
                parts.append("at the operating points the t interval over the \(verdict.seeds) seeds alone includes 0")
            }
            return parts.isEmpty ? "–" : parts.joined(separator: "; ")
        }
    }

    /// Every method against EDLCM at every radius that has either comparison, in the study's order.
    public var headlines: [Headline] { comparisons.headlines }

    static func headlines(_ verdicts: [StudyVerdict], _ matches: [StudyFronts.Match]) -> [Headline] {
        var result: [Headline] = verdicts.map { Headline(method: $0.method, radius: $0.radius, verdict: $0, match: nil) }
        for match in matches {
            if let index = result.firstIndex(where: { $0.method == match.method && $0.radius == match.radius }) {
                result[index].match = match
            } else {
                result.append(Headline(method: match.method, radius: match.radius, verdict: nil, match: match))
            }
        }
        return result
    }

    static let headlineHeader = [
        "EDLCM against", "ε", "seeds",
        "at the operating points: EDLCM − method (test images; points, 95 % over seeds and images)",
        "at matched clean accuracy: EDLCM − method (validation images; points, 95 % over images and seeds)",
        "matched at clean (validation)", "test-set accuracy: EDLCM − method (points)", "in words",
    ]

    static let headlineNote =
        "At the operating points: each method's chosen strength trained with every seed and attacked on the same test images (the worst case over the whole evaluation), the two-level bootstrap over seeds and images; the table below gives the per-seed t interval and each verdict's sentence. At matched clean accuracy: read on the sweep's fronts (one seed per point, the validation images), the method's front at EDLCM's operating point's clean accuracy, or EDLCM's front at the method's where EDLCM's lies off the method's front; its interval resamples the validation images and adds the seed-to-seed spread measured at the operating points (the section on the fronts says how). Wins or loses: the 95 % interval excludes 0."

    func headlineRows(_ headlines: [Headline]) -> [[String]] {
        headlines.map { line in
            [
                line.method, SVGChart.label(line.radius), line.verdict.map { String($0.seeds) } ?? "–",
                line.verdict?.bootstrapText ?? "–",
                line.match.map(StudyFronts.deciding) ?? "–",
                line.match.flatMap { $0.reading == nil ? nil : StudyFronts.whereRead($0, edlcm: edlcmName ?? "edlcm") } ?? "–",
                line.verdict?.cleanText ?? "–", line.words,
            ]
        }
    }
}
