import Foundation
import Testing

@testable import EDLCMReport
@testable import EDLCMStudy

@Suite("The study's verdict: EDLCM against each method")
struct StudyVerdictTests {
    @Test("a lead whose interval over seeds excludes 0 is beyond the seed-to-seed spread")
    func ahead() throws {
        // Differences 0.16, 0.18, 0.17: mean 0.17, sd 0.01, half-width 4.303·0.01/√3 = 0.0248434.
        let verdict = StudyVerdict(
            method: "plain", radius: 0.1, edlcmRobust: [0.36, 0.40, 0.38], otherRobust: [0.20, 0.22, 0.21],
            edlcmClean: [0.836, 0.840, 0.838], otherClean: [0.844, 0.846, 0.845])
        #expect(verdict.seeds == 3 && verdict.outcome == .ahead)
        #expect(abs(verdict.robust - 0.17) < 1e-12)
        let interval = try #require(verdict.robustInterval)
        #expect(abs(interval.lower - (0.17 - 0.0248434)) < 1e-6 && abs(interval.upper - (0.17 + 0.0248434)) < 1e-6)
        // EDLCM's robust sd over seeds is 0.02, the plain ensemble's 0.01: the larger is the spread.
        #expect(abs(try #require(verdict.spread) - 0.02) < 1e-12)
        // Test set: differences −0.008, −0.006, −0.007, sd 0.001: an interval below 0.
        #expect(abs(try #require(verdict.clean) + 0.007) < 1e-12)
        #expect(try #require(verdict.cleanInterval).upper < 0)
        #expect(verdict.robustText == "+17.0 [+14.5, +19.5]")
        #expect(verdict.cleanText == "-0.7 [-0.9, -0.5]")
        #expect(
            verdict.sentence
                == "EDLCM ahead by 17.0 points, beyond the seed-to-seed spread (the 95 % interval over 3 seeds excludes 0; seed sd at most 2.0 points); test-set accuracy -0.7 points, beyond its seed-to-seed spread"
        )
    }

    @Test("a lead larger than the seeds' sd but with an interval that includes 0, and a difference within the spread")
    func withinInterval() throws {
        // Differences 0.10, −0.02, 0.13: mean 0.07, sd √((0.03² + 0.09² + 0.06²)/2) = 0.0793725,
        // half-width 4.303·0.0793725/√3 = 0.197187: the interval includes 0.
        // Seed sds: EDLCM [0.40, 0.30, 0.43] 0.0680686; other [0.30, 0.32, 0.30] 0.0115470.
        let lead = StudyVerdict(
            method: "gal", radius: 0.1, edlcmRobust: [0.40, 0.30, 0.43], otherRobust: [0.30, 0.32, 0.30], edlcmClean: [],
            otherClean: [])
        #expect(lead.outcome == .leadsWithinInterval)
        let interval = try #require(lead.robustInterval)
        #expect(abs(interval.lower - (0.07 - 0.197187)) < 1e-5 && !interval.excludesZero)
        #expect(abs(try #require(lead.spread) - 0.0680686) < 1e-6)
        #expect(lead.clean == nil && lead.cleanText == "–")
        #expect(
            lead.sentence
                == "EDLCM ahead by 7.0 points, more than either method's seed sd (6.8 points) but the 95 % interval over 3 seeds includes 0"
        )
        // Mean difference −0.01, below the seed sds (EDLCM 0.0680686; TRS [0.43, 0.30, 0.43] 0.0750555): within the spread.
        let tie = StudyVerdict(
            method: "trs", radius: 0.1, edlcmRobust: [0.40, 0.30, 0.43], otherRobust: [0.43, 0.30, 0.43],
            edlcmClean: [0.8, 0.8, 0.8],
            otherClean: [0.7, 0.7, 0.7])
        #expect(tie.outcome == .withinSpread)
        // Clean differences all 0.1: sd 0, so the interval is the single point 0.1, which excludes 0.
        #expect(
            tie.sentence
                == "no clear winner: -1.0 points, within the seed-to-seed spread (seed sd up to 7.5 points); test-set accuracy +10.0 points, beyond its seed-to-seed spread"
        )
    }

    @Test("one seed gives a direction and no spread")
    func oneSeed() {
        let behind = StudyVerdict(
            method: "trs", radius: 0.2, edlcmRobust: [0.0], otherRobust: [0.15], edlcmClean: [0.836], otherClean: [0.695])
        #expect(behind.outcome == .oneSeed && behind.robustInterval == nil && behind.spread == nil)
        #expect(
            behind.sentence
                == "EDLCM behind by 15.0 points on one seed (no seed-to-seed spread yet); test-set accuracy +14.1 points")
        let tied = StudyVerdict(method: "plain", radius: 0.2, edlcmRobust: [0], otherRobust: [0], edlcmClean: [], otherClean: [])
        #expect(tied.sentence == "tied on one seed (no seed-to-seed spread yet)")
    }
}
