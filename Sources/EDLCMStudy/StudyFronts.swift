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

    /// EDLCM's operating point against one method's front at one radius.
    public struct Match: Sendable {
        public enum Outcome: Sendable {
            /// Read on the front: the bootstrap interval of the difference decides, as in
            /// ``StudyVerdict/Outcome/init(interval:)``.
            case ahead, behind, cannotTell
            /// EDLCM's clean accuracy is above every point of the method's front.
            case notReached
            /// Every point of the method's front is more accurate than EDLCM's operating point.
            case aboveFront

            init(interval: Statistics.Interval) {
                switch StudyVerdict.Outcome(interval: interval) {
                case .ahead: self = .ahead
                case .behind: self = .behind
                default: self = .cannotTell
                }
            }

            /// The outcome in the report's words (StudyVerdict's for the three it shares).
            public var text: String {
                switch self {
                case .ahead: StudyVerdict.Outcome.ahead.rawValue
                case .behind: StudyVerdict.Outcome.behind.rawValue
                case .cannotTell: StudyVerdict.Outcome.cannotTell.rawValue
                case .notReached: "method does not reach EDLCM's clean accuracy"
                case .aboveFront: "method's front lies above EDLCM's clean accuracy"
                }
            }
        }

        public var method: String
        public var radius: Double
        /// EDLCM's operating point's validation clean accuracy: where the front is read.
        public var clean: Double
        public var edlcmRobust: Double
        /// The method's robust accuracy on its front at `clean` (nil outside the front).
        public var methodRobust: Double?
        /// The front's clean-accuracy range.
        public var range: ClosedRange<Double>
        /// EDLCM's minus the method's robust accuracy with its 95 % bootstrap interval over the images.
        public var difference: Statistics.Interval?
        /// Resamples in which EDLCM's clean accuracy fell outside the method's front (left out).
        public var outside: Int
        public var outcome: Outcome
    }

    /// Every method's front against EDLCM's operating point (method `edlcm`) at every radius, with
    /// intervals from `resamples` draws of the validation images (the same draw for every point).
    public func matched(edlcm: String, resamples: Int = 2000, seed: UInt64 = 0) -> [Match] {
        guard let operating = operatingPoint(of: edlcm), !images.isEmpty else { return [] }
        let methods = self.methods.filter { $0 != edlcm }
        let n = images.count
        // Per point: clean and robust outcomes over the shared images, as 0/1 in image order.
        func columns(_ point: StudySweepPoint) -> (clean: [Int], robust: [[Int]]) {
            let table = outcomes[point.run]!
            return (
                images.map { table[$0]!.clean ? 1 : 0 },
                epsilons.indices.map { e in images.map { table[$0]!.robust[e] ? 1 : 0 } }
            )
        }
        let mine = columns(operating)
        let fronts = methods.map { points(of: $0).map(columns) }
        func accuracy(_ outcomes: [Int], _ weights: [Int]?) -> Double {
            guard let weights else { return Double(outcomes.reduce(0, +)) / Double(n) }
            var sum = 0
            for i in 0..<n where weights[i] != 0 { sum += weights[i] * outcomes[i] }
            return Double(sum) / Double(n)
        }
        // One evaluation of every comparison on a weighting of the images (nil: each once).
        func differences(_ weights: [Int]?) -> [[Double?]] {
            let target = accuracy(mine.clean, weights)
            return fronts.map { front in
                let clean = front.map { accuracy($0.clean, weights) }
                return epsilons.indices.map { e in
                    let curve = zip(clean, front.map { accuracy($0.robust[e], weights) }).map { (x: $0, y: $1) }
                    return Statistics.frontValue(curve, at: target).map { accuracy(mine.robust[e], weights) - $0 }
                }
            }
        }
        var draws = Array(repeating: Array(repeating: [Double](), count: epsilons.count), count: methods.count)
        var generator = SeededGenerator(seed: seed)
        for _ in 0..<resamples {
            var weights = [Int](repeating: 0, count: n)
            for _ in 0..<n { weights[generator.nextInt(below: n)] += 1 }
            for (m, row) in differences(weights).enumerated() {
                for (e, value) in row.enumerated() { if let value { draws[m][e].append(value) } }
            }
        }
        let estimates = differences(nil)
        var result: [Match] = []
        for (m, method) in methods.enumerated() {
            let front = points(of: method)
            let cleans = front.map(\.cleanAccuracy)
            let range = cleans.min()!...cleans.max()!
            for (e, radius) in epsilons.enumerated() {
                let estimate = estimates[m][e]
                let sorted = draws[m][e].sorted()
                let interval = estimate.flatMap { estimate in
                    sorted.isEmpty
                        ? nil
                        : Statistics.Interval(
                            estimate: estimate, lower: Statistics.quantile(sorted, 0.025),
                            upper: Statistics.quantile(sorted, 0.975))
                }
                let outcome: Match.Outcome
                if let interval {
                    outcome = Match.Outcome(interval: interval)
                } else {
                    outcome = operating.cleanAccuracy > range.upperBound ? .notReached : .aboveFront
                }
                result.append(
                    Match(
                        method: method, radius: radius, clean: operating.cleanAccuracy, edlcmRobust: operating.robustAccuracy[e],
                        methodRobust: estimate.map { operating.robustAccuracy[e] - $0 }, range: range, difference: interval,
                        outside: resamples - sorted.count, outcome: outcome))
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
        "EDLCM against", "ε", "at clean (EDLCM's, validation)", "EDLCM robust", "method's robust on its front",
        "EDLCM − method (points, 95 % bootstrap over images)", "verdict",
    ]

    static func matchRows(_ matches: [Match]) -> [[String]] {
        matches.map { match in
            let range = String(
                format: "front's clean %.1f–%.1f%%", match.range.lowerBound * 100, match.range.upperBound * 100)
            return [
                match.method, SVGChart.label(match.radius), StudyReport.format(match.clean, percent: true),
                StudyReport.format(match.edlcmRobust, percent: true),
                match.methodRobust.map { StudyReport.format($0, percent: true) } ?? "– (\(range))",
                StudyReport.points(match.difference)
                    + (match.outside > 0 && match.difference != nil ? " (\(match.outside) resamples off the front)" : ""),
                match.outcome.text,
            ]
        }
    }

    /// What the matched comparison means, in the report's words.
    func matchNote(edlcm: String) -> String {
        "Read on the fronts of the sweep (seed \(seed.map(String.init) ?? "–"), \(images.count) validation images shared by every point): each method's robust accuracy at the clean accuracy of \(edlcm)'s operating point, linear between the two points of its upper front around it (a random choice between those two models reaches that pair in expectation), never extrapolated. The interval resamples the validation images 2 000 times (the same draw for every point, the operating point's clean accuracy recomputed in each); it does not cover seeds, since the sweep trains one seed per point. * marks an interval that excludes 0."
    }
}
