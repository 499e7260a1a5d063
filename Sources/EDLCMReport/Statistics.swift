import EDLCMCore
import Foundation

/// The statistics that compare methods across seeds and attacked images: means, sample standard
/// deviations, Student-t intervals over seeds, and a paired bootstrap over images.
public enum Statistics {
    /// The arithmetic mean; nil for no values.
    public static func mean(_ values: [Double]) -> Double? {
        values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }

    /// The sample standard deviation (divisor n − 1); nil for fewer than two values.
    public static func standardDeviation(_ values: [Double]) -> Double? {
        guard values.count > 1, let mean = mean(values) else { return nil }
        let squares = values.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }
        return (squares / Double(values.count - 1)).squareRoot()
    }

    /// The 97.5 % quantile of Student's t distribution with `degrees` degrees of freedom (1…30 from
    /// the table, 1.96 beyond): the factor of a two-sided 95 % interval.
    public static func studentT975(degrees: Int) -> Double {
        precondition(degrees >= 1, "Statistics.studentT975: at least one degree of freedom")
        let table: [Double] = [
            12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131, 2.120,
            2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
        ]
        return degrees <= table.count ? table[degrees - 1] : 1.96
    }

    /// A value with a two-sided 95 % interval.
    public struct Interval: Equatable, Sendable {
        public var estimate: Double
        public var lower: Double
        public var upper: Double

        public init(estimate: Double, lower: Double, upper: Double) {
            self.estimate = estimate
            self.lower = lower
            self.upper = upper
        }

        /// Whether the interval lies entirely above or entirely below zero.
        public var excludesZero: Bool { lower > 0 || upper < 0 }
    }

    /// The mean of per-seed differences with its 95 % Student-t interval, mean ± t·sd/√n; nil for
    /// fewer than two differences.
    public static func meanInterval(_ differences: [Double]) -> Interval? {
        guard let mean = mean(differences), let sd = standardDeviation(differences) else { return nil }
        let half = studentT975(degrees: differences.count - 1) * sd / Double(differences.count).squareRoot()
        return Interval(estimate: mean, lower: mean - half, upper: mean + half)
    }

    /// The difference of two accuracies measured on the same images, mean(a) − mean(b), with a 95 %
    /// percentile interval from a paired bootstrap: `resamples` draws of the images with replacement
    /// (the same draw for both), from a generator seeded with `seed`.
    ///
    /// - Precondition: `a` and `b` have the same, non-zero length (one entry per image: robust or not).
    public static func pairedBootstrap(_ a: [Bool], _ b: [Bool], resamples: Int = 10_000, seed: UInt64 = 0) -> Interval {
        precondition(a.count == b.count && !a.isEmpty, "Statistics.pairedBootstrap: paired, non-empty outcomes")
        let n = a.count
        // Per image: +1, 0 or −1; the difference of accuracies is their mean.
        let paired = zip(a, b).map { ($0 ? 1 : 0) - ($1 ? 1 : 0) }
        var generator = SeededGenerator(seed: seed)
        var draws: [Double] = []
        draws.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var sum = 0
            for _ in 0..<n { sum += paired[generator.nextInt(below: n)] }
            draws.append(Double(sum) / Double(n))
        }
        draws.sort()
        return Interval(
            estimate: Double(paired.reduce(0, +)) / Double(n), lower: quantile(draws, 0.025), upper: quantile(draws, 0.975))
    }

    /// The difference of two accuracies measured over several seeds, each on its own set of images
    /// (paired: per seed, the same images for both), with a 95 % percentile interval from a two-level
    /// bootstrap: each of `resamples` draws picks the seeds with replacement, then, within every seed
    /// drawn, its images with replacement; the statistic is the mean over the drawn seeds of each
    /// seed's mean difference. So the interval holds both sources of chance a study has: which seeds
    /// trained the models and which images were attacked. With one seed it is the paired bootstrap.
    ///
    /// - Parameter differences: per seed, per image: +1 where only the first model kept the image,
    ///   −1 where only the second did, 0 otherwise.
    /// - Precondition: at least one seed, and every seed has at least one image.
    public static func twoLevelBootstrap(_ differences: [[Int]], resamples: Int = 2000, seed: UInt64 = 0) -> Interval {
        precondition(
            !differences.isEmpty && differences.allSatisfy { !$0.isEmpty }, "Statistics.twoLevelBootstrap: non-empty seeds")
        let seeds = differences.count
        let means = differences.map { Double($0.reduce(0, +)) / Double($0.count) }
        var generator = SeededGenerator(seed: seed)
        var draws: [Double] = []
        draws.reserveCapacity(resamples)
        for _ in 0..<resamples {
            var total = 0.0
            for _ in 0..<seeds {
                let images = differences[seeds == 1 ? 0 : generator.nextInt(below: seeds)]
                var sum = 0
                for _ in 0..<images.count { sum += images[generator.nextInt(below: images.count)] }
                total += Double(sum) / Double(images.count)
            }
            draws.append(total / Double(seeds))
        }
        draws.sort()
        return Interval(estimate: mean(means)!, lower: quantile(draws, 0.025), upper: quantile(draws, 0.975))
    }

    /// The upper front of (x, y) points: the points no other point beats on both (at least as high
    /// on each, higher on one), sorted by x ascending (so y descends).
    public static func upperFront(_ points: [(x: Double, y: Double)]) -> [(x: Double, y: Double)] {
        let front = points.filter { p in
            !points.contains { q in q.x >= p.x && q.y >= p.y && (q.x > p.x || q.y > p.y) }
        }
        var unique: [(x: Double, y: Double)] = []
        for point in front.sorted(by: { ($0.x, $0.y) < ($1.x, $1.y) })
        where !unique.contains(where: { $0.x == point.x && $0.y == point.y }) {
            unique.append(point)
        }
        return unique
    }

    /// The y of a front at `x`: linear between the two points of its ``upperFront`` that bracket x (a
    /// random choice between those two models reaches that pair of accuracies in expectation), the
    /// point's own y at one of its x; nil outside the front's x range (no extrapolation).
    public static func frontValue(_ points: [(x: Double, y: Double)], at x: Double) -> Double? {
        let front = upperFront(points)
        guard let first = front.first, let last = front.last, x >= first.x, x <= last.x else { return nil }
        if let exact = front.first(where: { $0.x == x }) { return exact.y }
        let above = front.firstIndex { $0.x > x }!
        let (a, b) = (front[above - 1], front[above])
        return a.y + (b.y - a.y) * (x - a.x) / (b.x - a.x)
    }

    /// What a front reaches at clean accuracy `x` or more: ``frontValue(_:at:)`` on the front, the y
    /// of its least accurate point below it (a point at least as accurate reaches that), nil above
    /// it (nothing is that accurate).
    public static func reachValue(_ points: [(x: Double, y: Double)], at x: Double) -> Double? {
        if let value = frontValue(points, at: x) { return value }
        guard let first = upperFront(points).first, x < first.x else { return nil }
        return first.y
    }

    /// The `p` quantile of sorted values, interpolating linearly between order statistics (the
    /// "type 7" rule of R and NumPy's default).
    public static func quantile(_ sorted: [Double], _ p: Double) -> Double {
        precondition(!sorted.isEmpty && (0...1).contains(p), "Statistics.quantile: values and p in [0, 1]")
        let position = p * Double(sorted.count - 1)
        let below = Int(position.rounded(.down))
        let above = Swift.min(below + 1, sorted.count - 1)
        return sorted[below] + (sorted[above] - sorted[below]) * (position - Double(below))
    }
}
