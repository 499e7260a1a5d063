import Foundation
import Testing

@testable import EDLCMReport

@Suite("Statistics for comparing methods")
struct StatisticsTests {
    @Test("mean, sample standard deviation and quantiles against hand computations")
    func descriptive() {
        #expect(Statistics.mean([1, 2, 3, 4]) == 2.5)
        #expect(Statistics.mean([]) == nil)
        // √((1.5² + 0.5² + 0.5² + 1.5²)/3) = √(5/3)
        #expect(abs(Statistics.standardDeviation([1, 2, 3, 4])! - (5.0 / 3).squareRoot()) < 1e-12)
        #expect(Statistics.standardDeviation([7]) == nil)
        // NumPy's default rule: position p·(n − 1), interpolated.
        #expect(Statistics.quantile([1, 2, 3, 4], 0.25) == 1.75)
        #expect(Statistics.quantile([1, 2, 3, 4], 1) == 4)
        #expect(Statistics.quantile([5], 0.3) == 5)
    }

    @Test("the mean of per-seed differences with its Student-t interval")
    func studentInterval() throws {
        #expect(Statistics.studentT975(degrees: 2) == 4.303 && Statistics.studentT975(degrees: 100) == 1.96)
        // Three seeds: mean 1/30, sd √(0.00046667/2) = 0.0152753, half-width 4.303·sd/√3 = 0.0379490.
        let interval = try #require(Statistics.meanInterval([0.02, 0.05, 0.03]))
        #expect(abs(interval.estimate - 1.0 / 30) < 1e-12)
        #expect(abs(interval.lower - (1.0 / 30 - 0.0379490)) < 1e-6)
        #expect(abs(interval.upper - (1.0 / 30 + 0.0379490)) < 1e-6)
        #expect(!interval.excludesZero)
        let clear = try #require(Statistics.meanInterval([0.10, 0.11, 0.12]))
        #expect(clear.excludesZero && abs(clear.lower - (0.11 - 4.303 * 0.01 / 3.0.squareRoot())) < 1e-9)
        #expect(Statistics.meanInterval([0.1]) == nil)
    }

    @Test("the paired bootstrap over images")
    func pairedBootstrap() {
        let same = [true, false, true, true]
        #expect(Statistics.pairedBootstrap(same, same) == Statistics.Interval(estimate: 0, lower: 0, upper: 0))
        let all = Statistics.pairedBootstrap([true, true, true], [false, false, false])
        #expect(all == Statistics.Interval(estimate: 1, lower: 1, upper: 1))
        // Two images, differences +1 and 0: a resample's mean is 0, ½ or 1 with probabilities ¼, ½, ¼.
        let two = Statistics.pairedBootstrap([true, true], [false, true], resamples: 4000, seed: 3)
        #expect(two.estimate == 0.5 && two.lower == 0 && two.upper == 1)
        // 100 images: 30 won, 10 lost, 60 tied. Estimate 0.2; the resampled mean has sd √(0.36/100) = 0.06,
        // so the interval is about 0.2 ± 1.96·0.06.
        let a = (0..<100).map { $0 < 30 || $0 >= 40 && $0 < 70 }
        let b = (0..<100).map { $0 >= 30 && $0 < 70 }
        let interval = Statistics.pairedBootstrap(a, b, resamples: 10_000, seed: 1)
        #expect(abs(interval.estimate - 0.2) < 1e-12)
        #expect(abs(interval.lower - (0.2 - 1.96 * 0.06)) < 0.015, "lower \(interval.lower)")
        #expect(abs(interval.upper - (0.2 + 1.96 * 0.06)) < 0.015, "upper \(interval.upper)")
        #expect(interval.excludesZero)
        // The same seed gives the same interval.
        #expect(Statistics.pairedBootstrap(a, b, resamples: 10_000, seed: 1) == interval)
    }

    @Test("the two-level bootstrap over seeds and then images")
    func twoLevelBootstrap() {
        // Seed A: every image +1; seed B: every image 0. Images add no variance; the seeds drawn are
        // {A, A}, {A, B}, {B, A}, {B, B}: means 1, ½, ½, 0 with probabilities ¼, ½, ¼.
        let split = Statistics.twoLevelBootstrap([Array(repeating: 1, count: 50), Array(repeating: 0, count: 50)], seed: 3)
        #expect(split == Statistics.Interval(estimate: 0.5, lower: 0, upper: 1))
        // Four seeds of 100 images, (wins, losses) per seed: the bootstrap statistic's variance is
        // (1/S)·[(1/S)·Σ(m_s − m̄)² + (1/S)·Σ v_s/n], v_s the seed's per-image variance (divisor n).
        let counts = [(30, 10), (20, 10), (25, 5), (35, 15)]
        let seeds = counts.map { wins, losses in
            Array(repeating: 1, count: wins) + Array(repeating: -1, count: losses)
                + Array(repeating: 0, count: 100 - wins - losses)
        }
        let means = counts.map { Double($0.0 - $0.1) / 100 }
        let grand = means.reduce(0, +) / 4
        let between = means.map { ($0 - grand) * ($0 - grand) }.reduce(0, +) / 4
        let within = zip(counts, means).map { (Double($0.0 + $0.1) / 100 - $1 * $1) / 100 }.reduce(0, +) / 4
        let sd = ((between + within) / 4).squareRoot()  // 0.0364
        let interval = Statistics.twoLevelBootstrap(seeds, resamples: 20_000, seed: 1)
        #expect(abs(interval.estimate - 0.175) < 1e-12)
        let halfWidth = (interval.upper - interval.lower) / 2
        #expect(abs(halfWidth / (1.96 * sd) - 1) < 0.12, "half-width \(halfWidth), expected about \(1.96 * sd)")
        // Seeds only would say less: the t interval of the four means has half-width 3.182·0.05/2 = 0.0796;
        // one seed alone is the paired bootstrap's question (same estimate, about the same interval).
        let one = Statistics.twoLevelBootstrap([seeds[0]], resamples: 10_000, seed: 1)
        let paired = Statistics.pairedBootstrap(
            seeds[0].map { $0 == 1 }, seeds[0].map { $0 == -1 }, resamples: 10_000, seed: 2)
        #expect(one.estimate == paired.estimate && abs(one.lower - paired.lower) < 0.02 && abs(one.upper - paired.upper) < 0.02)
        #expect(Statistics.twoLevelBootstrap(seeds, resamples: 20_000, seed: 1) == interval)
    }

    @Test("a front: the points no other beats on both, read linearly between them, never extrapolated")
    func front() {
        // (0.85, 0.1) loses to (0.9, 0.1) on clean; (0.7, 0.25) loses to (0.8, 0.3) on both.
        let points: [(x: Double, y: Double)] = [(0.9, 0.1), (0.8, 0.3), (0.85, 0.1), (0.7, 0.25)]
        let front = Statistics.upperFront(points)
        #expect(front.map(\.x) == [0.8, 0.9] && front.map(\.y) == [0.3, 0.1])
        #expect(abs(Statistics.frontValue(points, at: 0.85)! - 0.2) < 1e-12)
        #expect(abs(Statistics.frontValue(points, at: 0.875)! - 0.15) < 1e-12)
        #expect(Statistics.frontValue(points, at: 0.8) == 0.3 && Statistics.frontValue(points, at: 0.9) == 0.1)
        #expect(Statistics.frontValue(points, at: 0.75) == nil && Statistics.frontValue(points, at: 0.95) == nil)
        // One point: read only at its own clean accuracy.
        #expect(Statistics.frontValue([(0.8, 0.3)], at: 0.8) == 0.3 && Statistics.frontValue([(0.8, 0.3)], at: 0.79) == nil)
        // What a front reaches at a clean accuracy or more: below the front, its least accurate point
        // (0.8, 0.3), not the beaten (0.7, 0.25); above it, nothing.
        #expect(Statistics.reachValue(points, at: 0.75) == 0.3 && Statistics.reachValue(points, at: 0.5) == 0.3)
        #expect(abs(Statistics.reachValue(points, at: 0.85)! - 0.2) < 1e-12 && Statistics.reachValue(points, at: 0.95) == nil)
        #expect(Statistics.reachValue([(0.8, 0.3)], at: 0.79) == 0.3 && Statistics.reachValue([(0.8, 0.3)], at: 0.81) == nil)
    }
}
