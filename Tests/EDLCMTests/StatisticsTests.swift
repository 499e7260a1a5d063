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
}
