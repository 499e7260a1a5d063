import EDLCMCore
import EDLCMEvaluation
import EDLCMReport
import Foundation

/// A study's fronts as its report reads them: every sweep point's clean and robust accuracy on the
/// validation images (`sweep.json`), each point's per-image outcomes (its `evaluation.json` under
/// `sweep/`), and the comparison the fronts exist for: each method's robust accuracy at the clean
/// accuracy of EDLCM's operating point.
public struct StudyFronts {
    public let selection: StudySweepSelection
    /// The sweep's radii, ascending.
    public let epsilons: [Double]
    /// The seed every point was trained with.
    public let seed: UInt64?
    /// Per point (by run folder name): per validation image (by index), clean-correct and robust at
    /// each radius.
    let outcomes: [String: [Int: (clean: Bool, robust: [Bool])]]
    /// The validation images every point was attacked on, ascending.
    let images: [Int]

    /// Fronts from their parts (the tests build them by hand).
    init(
        selection: StudySweepSelection, epsilons: [Double], seed: UInt64?,
        outcomes: [String: [Int: (clean: Bool, robust: [Bool])]]
    ) {
        self.selection = selection
        self.epsilons = epsilons
        self.seed = seed
        self.outcomes = outcomes
        let sets = outcomes.values.map { Set($0.keys) }
        images = (sets.dropFirst().reduce(sets.first ?? []) { $0.intersection($1) }).sorted()
    }

    /// Reads the fronts of a study folder; nil when the folder has no `sweep.json`.
    ///
    /// - Throws: ``EDLCMError`` when `sweep.json` or a point's run files cannot be read.
    public init?(folder: URL) throws {
        let url = StudyRunner.selectionURL(of: folder)
        guard FileManager.default.fileExists(atPath: url.path) else { return nil }
        let selection = try Document.read(StudySweepSelection.self, from: url, limits: .records, label: url.path)
        let epsilons = selection.points.first?.epsilons ?? []
        var outcomes: [String: [Int: (clean: Bool, robust: [Bool])]] = [:]
        var seed: UInt64?
        for point in selection.points {
            let summary = try RunSummary(
                folder: StudyRunner.sweepFolder(of: folder).appendingPathComponent(point.run, isDirectory: true))
            seed = seed ?? summary.record.config.seeding.seed
            guard let evaluation = summary.evaluation else {
                throw EDLCMError("\(summary.folder.path): the sweep point has no evaluation.json")
            }
            let columns = epsilons.map { radius in evaluation.robustness.firstIndex { $0.epsilon == radius } }
            guard columns.allSatisfy({ $0 != nil }) else {
                throw EDLCMError("\(summary.folder.path): not evaluated at the sweep's radii \(epsilons.map(\.argument))")
            }
            outcomes[point.run] = Dictionary(
                uniqueKeysWithValues: evaluation.perExample.map { example in
                    (example.index, (example.cleanCorrect, columns.map { example.cleanCorrect && example.brokenBy[$0!] == nil }))
                })
        }
        self.init(selection: selection, epsilons: epsilons, seed: seed, outcomes: outcomes)
    }

    /// The methods in the file's order.
    public var methods: [String] {
        var result: [String] = []
        for point in selection.points where !result.contains(point.method) { result.append(point.method) }
        return result
    }

    /// A method's points in the file's order.
    public func points(of method: String) -> [StudySweepPoint] { selection.points.filter { $0.method == method } }

    /// A method's operating point: the chosen value's point, or its only point when it is not swept.
    public func operatingPoint(of method: String) -> StudySweepPoint? {
        let front = points(of: method)
        if let value = selection.chosen[method] { return front.first { $0.value == value } }
        return front.count == 1 ? front.first : nil
    }

    // MARK: - The comparison at matched clean accuracy

    /// EDLCM against one method's front at one radius, at a clean accuracy both reach.
    public struct Match: Sendable {
        public enum Outcome: Sendable {
            /// The interval of the difference decides (over images and seeds where the operating
            /// points give a seed spread, else over images), as in
            /// ``StudyVerdict/Outcome/init(interval:)``; where one side's point is more accurate
            /// (``Reading/methodAbove``, ``Reading/edlcmAbove``), only a difference in its favour
            /// counts: the more accurate side also more robust.
            case ahead, behind, cannotTell
            /// The more robust side is the less accurate one (a point above the other's front): no
            /// matched comparison says who wins.
            case tradeOff
            /// No comparison: EDLCM's clean accuracy is above the method's front, and the method has
            /// no operating point to read EDLCM's front at.
            case notReached
            /// No comparison: the method's front lies above EDLCM's clean accuracy, and the method
            /// has no operating point to read EDLCM's front at.
            case aboveFront

            init(interval: Statistics.Interval) {
                switch StudyVerdict.Outcome(interval: interval) {
                case .ahead: self = .ahead
                case .behind: self = .behind
                default: self = .cannotTell
                }
            }
        }

        /// Which front was read, at which operating point's clean accuracy, in order of preference.
        public enum Reading: Sendable, Equatable {
            /// The method's front at EDLCM's operating point's clean accuracy.
            case methodFront
            /// EDLCM's front at the method's operating point's clean accuracy, where EDLCM's
            /// operating point lies off the method's front.
            case edlcmFront
            /// Neither lies on the other's front, and EDLCM's clean accuracy is below the method's
            /// front: the method's least accurate front point, more accurate than EDLCM's.
            case methodAbove
            /// As ``methodAbove`` the other way: the method's operating point is below EDLCM's
            /// front, read at EDLCM's least accurate front point.
            case edlcmAbove
        }

        public var method: String
        public var radius: Double
        /// Which front was read; nil when there is nothing to compare.
        public var reading: Reading?
        /// The validation clean accuracy the two were compared at: the operating point's of the
        /// side not read (EDLCM's when there is no comparison).
        public var clean: Double
        /// For ``Reading/methodAbove`` and ``Reading/edlcmAbove``: how much more accurate the
        /// point read is than `clean`.
        public var accuracyGap: Double?
        /// EDLCM's robust accuracy: its operating point's, or its front's.
        public var edlcmRobust: Double
        /// The method's robust accuracy: its front's, or its operating point's (nil without a
        /// comparison).
        public var methodRobust: Double?
        /// The method's clean-accuracy range over all its points.
        public var range: ClosedRange<Double>
        /// EDLCM's minus the method's robust accuracy with its 95 % bootstrap interval over the images.
        public var difference: Statistics.Interval?
        /// The seed-to-seed sd of EDLCM's minus the method's robust accuracy at this radius, from
        /// the operating points' comparison runs (nil with fewer than 2 seeds there).
        public var seedSpread: Double?
        /// The same difference with its 95 % interval over the images and the seeds: each resample
        /// of the images adds a normal draw with sd ``seedSpread`` (nil without one).
        public var differenceOverSeeds: Statistics.Interval?
        /// Resamples in which the clean accuracy fell above the front read (left out).
        public var outside: Int
        public var outcome: Outcome

        /// The interval that decides: over images and seeds where there is one, else over images.
        public var deciding: Statistics.Interval? { differenceOverSeeds ?? difference }

        /// The outcome in the report's words.
        public var text: String {
            let gap = accuracyGap.map { String(format: "%.1f points", $0 * 100) } ?? ""
            switch (outcome, reading) {
            case (.notReached, _): return "no clean accuracy both fronts reach (the method's front is less accurate)"
            case (.aboveFront, _): return "no clean accuracy both fronts reach (the method's front is more accurate)"
            case (.ahead, .edlcmAbove): return "EDLCM ahead: more accurate (by \(gap)) and more robust"
            case (.behind, .methodAbove): return "EDLCM behind: the method more accurate (by \(gap)) and more robust"
            case (.cannotTell, .methodAbove): return "cannot be told apart; the method more accurate (by \(gap))"
            case (.cannotTell, .edlcmAbove): return "cannot be told apart; EDLCM more accurate (by \(gap))"
            case (.tradeOff, .methodAbove): return "not matched: EDLCM more robust, the method more accurate (by \(gap))"
            case (.tradeOff, _): return "not matched: the method more robust, EDLCM more accurate (by \(gap))"
            case (.ahead, _): return StudyVerdict.Outcome.ahead.rawValue
            case (.behind, _): return StudyVerdict.Outcome.behind.rawValue
            case (.cannotTell, _): return StudyVerdict.Outcome.cannotTell.rawValue
            }
        }
    }

    /// Every method's front against EDLCM's (method `edlcm`) at every radius: the method's front read
    /// at the clean accuracy of EDLCM's operating point, or, where that lies off it, EDLCM's front
    /// read at the method's operating point's; with intervals from `resamples` draws of the
    /// validation images (the same draw for every point), widened by a normal draw with the
    /// seed-to-seed sd `seedSpread[method][radius]` where given.
    public func matched(
        edlcm: String, seedSpread: [String: [Double: Double]] = [:], resamples: Int = 2000, seed: UInt64 = 0
    ) -> [Match] {
        guard let operating = operatingPoint(of: edlcm), !images.isEmpty else { return [] }
        let methods = self.methods.filter { $0 != edlcm }
        let n = images.count
        // Per point: clean and robust outcomes over the shared images, as 0/1 in image order.
        typealias Columns = (clean: [Int], robust: [[Int]])
        func columns(_ point: StudySweepPoint) -> Columns {
            let table = outcomes[point.run]!
            return (
                images.map { table[$0]!.clean ? 1 : 0 },
                epsilons.indices.map { e in images.map { table[$0]!.robust[e] ? 1 : 0 } }
            )
        }
        func accuracy(_ outcomes: [Int], _ weights: [Int]?) -> Double {
            guard let weights else { return Double(outcomes.reduce(0, +)) / Double(n) }
            var sum = 0
            for i in 0..<n where weights[i] != 0 { sum += weights[i] * outcomes[i] }
            return Double(sum) / Double(n)
        }
        func front(_ points: [Columns], _ e: Int, _ weights: [Int]?) -> [(x: Double, y: Double)] {
            points.map { (x: accuracy($0.clean, weights), y: accuracy($0.robust[e], weights)) }
        }
        let mine = columns(operating)
        let edlcmFront = points(of: edlcm).map(columns)
        let fronts = methods.map { points(of: $0).map(columns) }
        let theirOperating = methods.map { operatingPoint(of: $0).map(columns) }
        // Which front each comparison reads, decided on the images as drawn and kept in every
        // resample: a front read between its points on either side first, then a point above.
        let readings: [[Match.Reading?]] = methods.indices.map { m in
            epsilons.indices.map { e in
                let target = accuracy(mine.clean, nil)
                let theirs = theirOperating[m].map { accuracy($0.clean, nil) }
                if Statistics.frontValue(front(fronts[m], e, nil), at: target) != nil { return .methodFront }
                if let theirs, Statistics.frontValue(front(edlcmFront, e, nil), at: theirs) != nil { return .edlcmFront }
                if Statistics.reachValue(front(fronts[m], e, nil), at: target) != nil { return .methodAbove }
                if let theirs, Statistics.reachValue(front(edlcmFront, e, nil), at: theirs) != nil { return .edlcmAbove }
                return nil
            }
        }
        // One evaluation of every comparison on a weighting of the images (nil: each once): where,
        // EDLCM's robust accuracy and the method's. In a resample the clean accuracy may cross the
        // end of the front read; what the front reaches there or above is read, as it is continuous.
        func read(_ m: Int, _ e: Int, _ weights: [Int]?) -> (clean: Double, edlcm: Double, method: Double)? {
            switch readings[m][e] {
            case .methodFront, .methodAbove:
                let target = accuracy(mine.clean, weights)
                return Statistics.reachValue(front(fronts[m], e, weights), at: target).map {
                    (target, accuracy(mine.robust[e], weights), $0)
                }
            case .edlcmFront, .edlcmAbove:
                let theirs = theirOperating[m]!
                let target = accuracy(theirs.clean, weights)
                return Statistics.reachValue(front(edlcmFront, e, weights), at: target).map {
                    (target, $0, accuracy(theirs.robust[e], weights))
                }
            case nil:
                return nil
            }
        }
        // How much more accurate the point read is, for a reading above the other's front.
        func gap(_ m: Int, _ e: Int) -> Double? {
            switch readings[m][e] {
            case .methodAbove: Statistics.upperFront(front(fronts[m], e, nil)).first!.x - accuracy(mine.clean, nil)
            case .edlcmAbove: Statistics.upperFront(front(edlcmFront, e, nil)).first!.x - accuracy(theirOperating[m]!.clean, nil)
            default: nil
            }
        }
        var draws = Array(repeating: Array(repeating: [Double](), count: epsilons.count), count: methods.count)
        var widened = draws
        var generator = SeededGenerator(seed: seed)
        // The seed term's normal draws come from their own stream, so the images' draws stay those
        // of a comparison without it.
        var noise = SeededGenerator(seed: seed &+ 0x5EED)
        for _ in 0..<resamples {
            var weights = [Int](repeating: 0, count: n)
            for _ in 0..<n { weights[generator.nextInt(below: n)] += 1 }
            for m in methods.indices {
                for (e, radius) in epsilons.enumerated() {
                    let z = noise.nextGaussian()
                    guard let value = read(m, e, weights) else { continue }
                    draws[m][e].append(value.edlcm - value.method)
                    if let sd = seedSpread[methods[m]]?[radius] { widened[m][e].append(value.edlcm - value.method + sd * z) }
                }
            }
        }
        func interval(_ estimate: Double, _ values: [Double]) -> Statistics.Interval? {
            guard !values.isEmpty else { return nil }
            let sorted = values.sorted()
            return Statistics.Interval(
                estimate: estimate, lower: Statistics.quantile(sorted, 0.025), upper: Statistics.quantile(sorted, 0.975))
        }
        var result: [Match] = []
        for (m, method) in methods.enumerated() {
            let cleans = points(of: method).map(\.cleanAccuracy)
            let range = cleans.min()!...cleans.max()!
            for (e, radius) in epsilons.enumerated() {
                let sd = seedSpread[method]?[radius]
                guard let estimate = read(m, e, nil) else {
                    result.append(
                        Match(
                            method: method, radius: radius, reading: nil, clean: operating.cleanAccuracy, accuracyGap: nil,
                            edlcmRobust: operating.robustAccuracy[e], methodRobust: nil, range: range, difference: nil,
                            seedSpread: sd, differenceOverSeeds: nil, outside: 0,
                            outcome: operating.cleanAccuracy > range.upperBound ? .notReached : .aboveFront))
                    continue
                }
                let difference = estimate.edlcm - estimate.method
                let overImages = interval(difference, draws[m][e])
                let overSeeds = sd == nil ? nil : interval(difference, widened[m][e])
                var outcome = (overSeeds ?? overImages).map(Match.Outcome.init(interval:)) ?? .cannotTell
                // Above the other's front, a difference for the less accurate side is a trade-off.
                if (readings[m][e] == .methodAbove && outcome == .ahead) || (readings[m][e] == .edlcmAbove && outcome == .behind)
                {
                    outcome = .tradeOff
                }
                result.append(
                    Match(
                        method: method, radius: radius, reading: readings[m][e], clean: estimate.clean, accuracyGap: gap(m, e),
                        edlcmRobust: estimate.edlcm, methodRobust: estimate.method, range: range, difference: overImages,
                        seedSpread: sd, differenceOverSeeds: overSeeds, outside: resamples - draws[m][e].count,
                        outcome: outcome))
            }
        }
        return result
    }

    /// The chart: every method's points, clean against robust accuracy at `radius` on the validation
    /// images, its upper front drawn as a line, its operating point ringed.
    public func chart(radius: Double, colours: [String: Int]) -> String {
        guard let e = epsilons.firstIndex(of: radius) else { return "" }
        let series = methods.enumerated().map { index, method -> SVGChart.Series in
            let points = self.points(of: method).map { (x: $0.cleanAccuracy, y: $0.robustAccuracy[e]) }
            let front = Statistics.upperFront(points)
            var line = SVGChart.Series(name: method, points: front, colourIndex: colours[method] ?? index)
            if let operating = operatingPoint(of: method),
                let at = front.firstIndex(where: { $0.x == operating.cleanAccuracy && $0.y == operating.robustAccuracy[e] })
            {
                line.marked = [at]
            }
            return line
        }
        // Dominated points as their own unjoined markers, so that every trained point is on the page.
        let dominated = methods.enumerated().compactMap { index, method -> SVGChart.Series? in
            let points = self.points(of: method).map { (x: $0.cleanAccuracy, y: $0.robustAccuracy[e]) }
            let front = Statistics.upperFront(points)
            let rest = points.filter { p in !front.contains { $0.x == p.x && $0.y == p.y } }
            return rest.isEmpty
                ? nil
                : SVGChart.Series(
                    name: "\(method) (dominated)", points: rest, dashed: true, colourIndex: colours[method] ?? index)
        }
        return SVGChart.lineChart(
            title: "Fronts on the validation images, ε = \(SVGChart.label(radius)) (ringed: operating point)",
            xLabel: "clean accuracy (validation)", yLabel: "robust accuracy (validation)", series: series + dominated,
            percent: true)
    }

    // MARK: - Tables

    static let pointsHeader = ["method", "value", "run", "clean (validation)", "robust (validation)", "operating point"]

    /// One row per point: method, sweep value, run, clean, robust at each radius, whether it was chosen.
    var pointRows: [[String]] {
        selection.points.map { point in
            let chosen = operatingPoint(of: point.method).map { $0.run == point.run } ?? false
            return [
                point.method, point.value.map(\.argument) ?? "–", "sweep/\(point.run)",
                StudyReport.format(point.cleanAccuracy, percent: true),
                zip(epsilons, point.robustAccuracy).map { "ε \(SVGChart.label($0)): \(StudyReport.format($1, percent: true))" }
                    .joined(separator: ", "),
                chosen ? "✓" : "",
            ]
        }
    }

    static let matchHeader = [
        "EDLCM against", "ε", "at clean (validation)", "EDLCM robust", "method's robust",
        "EDLCM − method (points, 95 % bootstrap over images)", "seed sd of the difference (operating points)",
        "EDLCM − method (points, 95 % over images and seeds)", "verdict",
    ]

    /// Where a match was read, in words: "89.5% (edlcm's operating point, on adp's front)".
    static func whereRead(_ match: Match, edlcm: String) -> String {
        let clean = StudyReport.format(match.clean, percent: true)
        let above = match.accuracyGap.map { StudyReport.format(match.clean + $0, percent: true) } ?? ""
        switch match.reading {
        case .methodFront: return "\(clean) (\(edlcm)'s operating point, on \(match.method)'s front)"
        case .edlcmFront: return "\(clean) (\(match.method)'s operating point, on \(edlcm)'s front)"
        case .methodAbove: return "\(clean) (\(edlcm)'s operating point; \(match.method)'s front starts above, at \(above))"
        case .edlcmAbove: return "\(clean) (\(match.method)'s operating point; \(edlcm)'s front starts above, at \(above))"
        case nil: return "\(clean) (\(edlcm)'s operating point)"
        }
    }

    /// The difference and its deciding interval, with the resamples that fell off the front.
    static func deciding(_ match: Match) -> String {
        StudyReport.points(match.deciding)
            + (match.outside > 0 && match.deciding != nil ? " (\(match.outside) resamples off the front)" : "")
    }

    static func matchRows(_ matches: [Match], edlcm: String) -> [[String]] {
        matches.map { match in
            let range = String(
                format: "front's clean %.1f–%.1f%%", match.range.lowerBound * 100, match.range.upperBound * 100)
            return [
                match.method, SVGChart.label(match.radius), whereRead(match, edlcm: edlcm),
                StudyReport.format(match.edlcmRobust, percent: true),
                match.methodRobust.map { StudyReport.format($0, percent: true) } ?? "– (\(range))",
                StudyReport.points(match.difference)
                    + (match.outside > 0 && match.difference != nil ? " (\(match.outside) resamples off the front)" : ""),
                match.seedSpread.map { String(format: "%.1f points", $0 * 100) } ?? "– (fewer than 2 seeds)",
                StudyReport.points(match.differenceOverSeeds), match.text,
            ]
        }
    }

    /// What the matched comparison means, in the report's words.
    func matchNote(edlcm: String) -> String {
        "Read on the fronts of the sweep (seed \(seed.map(String.init) ?? "–"), \(images.count) validation images shared by every point): each method's robust accuracy at the clean accuracy of \(edlcm)'s operating point, linear between the two points of its upper front around it (a random choice between those two models reaches that pair in expectation), never extrapolated; where \(edlcm)'s operating point lies off the method's front, \(edlcm)'s front is read at the method's operating point instead; where neither lies on the other's front, the front that starts above the other's operating point is read at its least accurate point (it reaches that robustness at a higher clean accuracy), and only a difference in favour of that more accurate side decides (the other way it is a trade-off, not a matched win). Over images: the validation images resampled 2 000 times (the same draw for every point, the operating point's clean accuracy recomputed in each). Over images and seeds: the sweep trains one seed per point, so each resample also adds a normal draw whose sd is the seed-to-seed sd of \(edlcm)'s minus the method's robust accuracy at the operating points (the comparison runs, on the test images at the same radius; their image sampling is in it too, so it errs wide); the verdict reads it where there is one. A resample in which the clean accuracy to read at lies beyond the most accurate point of the front read has no matched value and is left out (counted as resamples off the front): reading the method's front, these are draws in which \(edlcm)'s operating point is more accurate than every point of the method's front; reading \(edlcm)'s, draws in which the method's is more accurate than every point of \(edlcm)'s; the interval is conditional on the rest. * marks an interval that excludes 0."
    }
}
