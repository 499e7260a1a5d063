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
    }

    public var method: String
    public var radius: Double
    /// Seeds both methods have.
    public var seeds: Int
    /// EDLCM's worst-case robust accuracy minus the method's, mean over seeds.
    public var robust: Double
    /// Its 95 % Student-t interval over seeds (nil for one seed).
    public var robustInterval: Statistics.Interval?
    /// The larger of the two methods' sample sd of robust accuracy over those seeds (nil for one seed).
    public var spread: Double?
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
    /// - Precondition: the robust arrays are non-empty and of one length; the clean arrays too, or empty.
    public init(
        method: String, radius: Double, edlcmRobust: [Double], otherRobust: [Double], edlcmClean: [Double],
        otherClean: [Double]
    ) {
        precondition(!edlcmRobust.isEmpty && edlcmRobust.count == otherRobust.count, "StudyVerdict: paired robust accuracies")
        precondition(edlcmClean.count == otherClean.count, "StudyVerdict: paired clean accuracies")
        self.method = method
        self.radius = radius
        seeds = edlcmRobust.count
        let differences = zip(edlcmRobust, otherRobust).map { $0 - $1 }
        robust = Statistics.mean(differences)!
        robustInterval = Statistics.meanInterval(differences)
        if let mine = Statistics.standardDeviation(edlcmRobust), let theirs = Statistics.standardDeviation(otherRobust) {
            spread = Swift.max(mine, theirs)
        } else {
            spread = nil
        }
        let cleanDifferences = zip(edlcmClean, otherClean).map { $0 - $1 }
        clean = Statistics.mean(cleanDifferences)
        cleanInterval = Statistics.meanInterval(cleanDifferences)
        if let interval = robustInterval, interval.excludesZero {
            outcome = interval.lower > 0 ? .ahead : .behind
        } else if let spread {
            outcome = abs(robust) > spread ? (robust > 0 ? .leadsWithinInterval : .trailsWithinInterval) : .withinSpread
        } else {
            outcome = .oneSeed
        }
    }

    static func points(_ value: Double) -> String { String(format: "%+.1f", value * 100) }

    static func interval(_ interval: Statistics.Interval) -> String {
        String(format: "[%+.1f, %+.1f]", interval.lower * 100, interval.upper * 100)
    }

    /// The robust difference in points with its interval: "+16.0 [+9.2, +22.8]".
    public var robustText: String { Self.points(robust) + (robustInterval.map { " " + Self.interval($0) } ?? "") }

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
        switch outcome {
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
                let pairs = seeds.compactMap { seed -> (Double, Double)? in
                    guard let mine = measure.value(edlcm.runs[seed]!), let theirs = measure.value(method.runs[seed]!) else {
                        return nil
                    }
                    return (mine, theirs)
                }
                guard !pairs.isEmpty else { continue }
                let cleanPairs = seeds.compactMap { seed -> (Double, Double)? in
                    guard let mine = testSetMeasure.value(edlcm.runs[seed]!),
                        let theirs = testSetMeasure.value(method.runs[seed]!)
                    else { return nil }
                    return (mine, theirs)
                }
                let clean = cleanPairs.count == seeds.count ? cleanPairs : []
                result.append(
                    StudyVerdict(
                        method: method.name, radius: radius, edlcmRobust: pairs.map(\.0), otherRobust: pairs.map(\.1),
                        edlcmClean: clean.map(\.0), otherClean: clean.map(\.1)))
            }
        }
        return result
    }

    static let verdictHeader = [
        "EDLCM against", "ε", "seeds", "robust: EDLCM − method (points, 95 % t interval)", "test set: EDLCM − method (points)",
        "verdict",
    ]

    static let verdictNote =
        "Robust: the per-image worst case over the whole evaluation, EDLCM's minus the method's, per seed, then the mean with its Student-t interval over seeds. Beyond the seed-to-seed spread: that interval excludes 0. Test set: clean accuracy on the whole test set after the last epoch, the same way. The per-image paired bootstrap is in the table of differences below."

    var verdictRows: [[String]] {
        verdicts.map {
            [
                $0.method, SVGChart.label($0.radius), String($0.seeds), $0.robustText, $0.cleanText, $0.outcome.rawValue,
            ]
        }
    }
}
