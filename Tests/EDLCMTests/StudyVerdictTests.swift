import Foundation
import Testing

@testable import EDLCMEvaluation
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
        #expect(abs(verdict.robust - 0.17) < 1e-12 && abs(verdict.differenceSpread! - 0.01) < 1e-12)
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

    @Test("with per-image outcomes the verdict reads the bootstrap over seeds and images")
    func overSeedsAndImages() throws {
        // Per seed, 100 images both attacked: EDLCM keeps 12 more than the method on seed 0, 8 more on
        // seed 1, 10 more on seed 2 (no image the method keeps and EDLCM loses).
        let perImage = [12, 8, 10].map { Array(repeating: 1, count: $0) + Array(repeating: 0, count: 100 - $0) }
        let ahead = StudyVerdict(
            method: "plain", radius: 0.1, edlcmRobust: [0.42, 0.38, 0.40], otherRobust: [0.30, 0.30, 0.30],
            edlcmClean: [], otherClean: [], perImage: perImage)
        let interval = try #require(ahead.bootstrapInterval)
        #expect(abs(interval.estimate - 0.10) < 1e-12 && interval.lower > 0 && ahead.outcome == .ahead)
        #expect(interval == Statistics.twoLevelBootstrap(perImage, resamples: 2000, seed: 0))
        #expect(ahead.sentence.hasPrefix("EDLCM ahead by 10.0 points (the 95 % interval over 3 seeds and their images, [+"))
        // 4 images per seed, EDLCM keeps one more on each: the per-seed differences (all 0.25) have no
        // spread, so the t interval is the point 0.25 and excludes 0; but a resample draws none of
        // the 3 deciding images among its 12 with probability 0.75¹² = 3.2 % > 2.5 %, so the
        // bootstrap's lower end is 0 and the verdict cannot tell the two apart.
        let noisy = StudyVerdict(
            method: "gal", radius: 0.1, edlcmRobust: [0.25, 0.25, 0.25], otherRobust: [0, 0, 0], edlcmClean: [],
            otherClean: [], perImage: Array(repeating: [1, 0, 0, 0], count: 3))
        #expect(try #require(noisy.robustInterval).excludesZero)
        #expect(noisy.outcome == .cannotTell && noisy.bootstrapInterval!.lower == 0)
        #expect(
            noisy.sentence.hasPrefix("cannot be told apart: +25.0 points, and the 95 % interval over 3 seeds and their images, [")
        )
    }

    @Test("at matched clean accuracy: each front read at EDLCM's operating point, with a bootstrap over images")
    func matchedAccuracy() throws {
        // 10 validation images. A point is (images clean-correct, images robust) as first-k prefixes.
        func point(_ method: String, _ value: Double?, _ clean: Int, _ robust: Int) -> (StudySweepPoint, [Int: (Bool, [Bool])]) {
            let run = "\(method)-\(value.map(\.argument) ?? "one")"
            return (
                StudySweepPoint(
                    method: method, value: value, run: run, cleanAccuracy: Double(clean) / 10,
                    robustAccuracy: [Double(robust) / 10], epsilons: [0.1]),
                Dictionary(uniqueKeysWithValues: (0..<10).map { ($0, ($0 < clean, [$0 < robust])) })
            )
        }
        let parts = [
            point("edlcm", 1, 8, 5),
            // m: (0.6, 0.6), (0.7, 0.3), (1.0, 0.2) on its front, (0.6, 0.4) beaten by (0.6, 0.6).
            point("m", 1, 6, 6), point("m", 2, 7, 3), point("m", 3, 10, 2), point("m", 4, 6, 4),
            point("far", 1, 9, 1), point("far", 2, 10, 0),  // every point more accurate than 0.8
            point("low", 1, 5, 5), point("low", 2, 6, 1),  // none reaches 0.8
            // One point at 0.7: no front at 0.8, so EDLCM's front is read at 0.7 instead, between
            // EDLCM's (0.6, 0.6) and (0.8, 0.5): 0.55.
            point("mir", nil, 7, 4), point("edlcm", 2, 6, 6),
            // One point at 0.5, below EDLCM's front (0.6–0.8): EDLCM's least accurate front point
            // (0.6, 0.6) is read, more accurate by 0.1 and more robust.
            point("under", nil, 5, 1),
        ]
        let points = parts.map(\.0)
        let settings = StudySweepSettings(seed: 0, evaluation: EvaluationConfig(), reference: "edlcm", within: 100)
        var selection = try StudySweepSelection(points: points, settings: settings)
        selection.chosen["edlcm"] = 1
        selection.chosen["low"] = nil  // no operating point: nothing to read EDLCM's front at
        let fronts = StudyFronts(
            selection: selection, epsilons: [0.1], seed: 0,
            outcomes: Dictionary(uniqueKeysWithValues: parts.map { ($0.0.run, $0.1.mapValues { (clean: $0.0, robust: $0.1) }) }))
        let matches = fronts.matched(edlcm: "edlcm", resamples: 500, seed: 1)
        #expect(matches.map(\.method) == ["m", "far", "low", "mir", "under"])
        // m at 0.8: between (0.7, 0.3) and (1.0, 0.2): 0.3 − 0.1·(0.1/0.3) = 0.26667; EDLCM 0.5 − that.
        let m = matches[0]
        #expect(m.clean == 0.8 && m.edlcmRobust == 0.5 && abs(m.methodRobust! - (0.3 - 0.1 / 3)) < 1e-12)
        let interval = try #require(m.difference)
        #expect(abs(interval.estimate - (0.5 - (0.3 - 0.1 / 3))) < 1e-12 && interval.lower <= interval.estimate)
        #expect(interval.upper >= interval.estimate && m.range == 0.6...1.0)
        #expect(m.outcome == (interval.lower > 0 ? .ahead : .cannotTell))
        #expect(m.reading == .methodFront && m.seedSpread == nil && m.differenceOverSeeds == nil)
        // far: every point more accurate than 0.8, so its least accurate front point (0.9, 0.1) is read:
        // EDLCM more robust by 0.4 but less accurate by 0.1, a trade-off rather than a win.
        let far = matches[1]
        #expect(far.reading == .methodAbove && far.clean == 0.8 && far.methodRobust == 0.1 && far.edlcmRobust == 0.5)
        #expect(abs(far.accuracyGap! - 0.1) < 1e-12 && abs(far.difference!.estimate - 0.4) < 1e-12)
        #expect(far.difference!.lower > 0 && far.outcome == .tradeOff)
        #expect(far.text == "not matched: EDLCM more robust, the method more accurate (by 10.0 points)")
        #expect(
            StudyFronts.whereRead(far, edlcm: "edlcm") == "80.0% (edlcm's operating point; far's front starts above, at 90.0%)")
        #expect(matches[2].outcome == .notReached && matches[2].methodRobust == nil && matches[2].reading == nil)
        #expect(
            StudyFronts.matchRows([matches[2]], edlcm: "edlcm")[0] == [
                "low", "0.1", "80.0% (edlcm's operating point)", "50.0%", "– (front's clean 50.0–60.0%)", "–",
                "– (fewer than 2 seeds)", "–", "no clean accuracy both fronts reach (the method's front is less accurate)",
            ])
        // mir: EDLCM's operating point (0.8) is off mir's one-point front, so EDLCM's front is read at
        // mir's 0.7: 0.55 against mir's 0.4.
        let mir = matches[3]
        #expect(mir.reading == .edlcmFront && mir.clean == 0.7 && abs(mir.edlcmRobust - 0.55) < 1e-12 && mir.methodRobust == 0.4)
        #expect(abs(try #require(mir.difference).estimate - 0.15) < 1e-12)
        #expect(StudyFronts.whereRead(mir, edlcm: "edlcm") == "70.0% (mir's operating point, on edlcm's front)")
        // under: EDLCM's front starts at 0.6, above under's 0.5; read there, EDLCM is both more
        // accurate and more robust (0.6 against 0.1): ahead.
        let under = matches[4]
        #expect(under.reading == .edlcmAbove && under.clean == 0.5 && under.edlcmRobust == 0.6 && under.methodRobust == 0.1)
        #expect(abs(under.accuracyGap! - 0.1) < 1e-12 && under.difference!.lower > 0 && under.outcome == .ahead)
        #expect(under.text == "EDLCM ahead: more accurate (by 10.0 points) and more robust")

        // The seed term: a normal draw with the given sd added to every resample of the images. At
        // an sd of 10 (1 000 points) the images' spread is lost in it: the interval is about ±19.6.
        let widened = fronts.matched(edlcm: "edlcm", seedSpread: ["m": [0.1: 10]], resamples: 2000, seed: 1)
        let wide = try #require(widened[0].differenceOverSeeds)
        #expect(widened[0].seedSpread == 10 && wide.estimate == m.difference!.estimate)
        #expect(wide.lower > -19.6 - 2.5 && wide.lower < -19.6 + 2.5 && wide.upper > 19.6 - 2.5 && wide.upper < 19.6 + 2.5)
        #expect(widened[0].outcome == .cannotTell && widened[0].deciding == wide)
        // The images' own interval is the one without the seed term, drawn from the same stream.
        #expect(widened[0].difference == fronts.matched(edlcm: "edlcm", resamples: 2000, seed: 1)[0].difference)
        #expect(widened[3].seedSpread == nil && widened[3].differenceOverSeeds == nil)
        // A trade-off stays one in the headline's words.
        #expect(
            StudyReport.Headline(method: "far", radius: 0.1, verdict: nil, match: far).words
                == "not matched: EDLCM more robust, the method more accurate (by 10.0 points)")
        // The chart: m's front is a line of three points, its beaten point a marker of its own.
        let chart = fronts.chart(radius: 0.1, colours: [:])
        #expect(chart.contains("<title>m (dominated)</title>") && chart.contains("class=\"marked\""))
    }

    @Test("the headline says in words how both comparisons came out")
    func headlineWords() {
        let perImage = [[1, 1, 1, 1, 0, 1, 1, 1], [1, 1, 1, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1, 1]]
        let ahead = StudyVerdict(
            method: "m", radius: 0.1, edlcmRobust: [0.5, 0.52, 0.51], otherRobust: [0.2, 0.21, 0.22], edlcmClean: [],
            otherClean: [], perImage: perImage)
        #expect(ahead.outcome == .ahead)
        func match(_ outcome: StudyFronts.Match.Outcome) -> StudyFronts.Match {
            let compared = outcome != .notReached && outcome != .aboveFront
            return StudyFronts.Match(
                method: "m", radius: 0.1, reading: compared ? .methodFront : nil, clean: 0.8, edlcmRobust: 0.5,
                methodRobust: compared ? 0.3 : nil, range: 0.6...0.9, difference: nil, seedSpread: nil,
                differenceOverSeeds: nil, outside: 0, outcome: outcome)
        }
        func words(_ verdict: StudyVerdict?, _ outcome: StudyFronts.Match.Outcome?) -> String {
            StudyReport.Headline(method: "m", radius: 0.1, verdict: verdict, match: outcome.map(match)).words
        }
        #expect(words(ahead, .ahead) == "EDLCM wins at the operating points and at matched clean accuracy")
        #expect(words(ahead, .cannotTell) == "EDLCM wins at the operating points; cannot be told apart at matched clean accuracy")
        #expect(words(ahead, .behind) == "EDLCM wins at the operating points; EDLCM loses at matched clean accuracy")
        #expect(words(ahead, .notReached) == "EDLCM wins at the operating points; no clean accuracy both fronts reach")
        #expect(words(ahead, nil) == "EDLCM wins at the operating points")
        #expect(words(nil, .behind) == "EDLCM loses at matched clean accuracy")
        #expect(words(nil, .cannotTell) == "cannot be told apart at matched clean accuracy")
    }

    @Test("a verdict of the bootstrap that the t interval over the seeds alone does not carry says so")
    func seedsAlone() throws {
        // 500 images per seed; EDLCM keeps 50, 20 and 80 more than the method: per-seed differences
        // 0.10, 0.04, 0.16, mean 0.10, sd 0.06, t half-width 4.303·0.06/√3 = 0.149060, so the t
        // interval [−0.049, +0.249] includes 0. The bootstrap's seed level draws from the three
        // values: its lowest mean, all three draws seed 1 (0.04, probability 1/27 = 3.7 % > 2.5 %),
        // keeps its lower end near 0.04 (each such draw's image noise has sd about 0.005), above 0.
        let perImage = [50, 20, 80].map { Array(repeating: 1, count: $0) + Array(repeating: 0, count: 500 - $0) }
        let verdict = StudyVerdict(
            method: "dverge", radius: 0.1, edlcmRobust: [0.40, 0.34, 0.46], otherRobust: [0.30, 0.30, 0.30],
            edlcmClean: [], otherClean: [], perImage: perImage)
        let t = try #require(verdict.robustInterval)
        #expect(abs(t.lower - (0.10 - 0.149060)) < 1e-6 && abs(t.upper - (0.10 + 0.149060)) < 1e-6)
        let bootstrap = try #require(verdict.bootstrapInterval)
        #expect(bootstrap.lower > 0.02 && bootstrap.lower < 0.045 && verdict.outcome == .ahead)
        #expect(verdict.seedsAloneIncludeZero)
        #expect(
            verdict.sentence.hasSuffix(
                "excludes 0); over the 3 seeds alone the 95 % t interval, [-4.9, +24.9], includes 0"))
        let match = StudyFronts.Match(
            method: "dverge", radius: 0.1, reading: .methodFront, clean: 0.8, edlcmRobust: 0.5, methodRobust: 0.3,
            range: 0.6...0.9, difference: nil, seedSpread: nil, differenceOverSeeds: nil, outside: 0, outcome: .ahead)
        #expect(
            StudyReport.Headline(method: "dverge", radius: 0.1, verdict: verdict, match: match).words
                == "EDLCM wins at the operating points and at matched clean accuracy; at the operating points the t interval over the 3 seeds alone includes 0"
        )
        // The same lead on one seed has no t interval, and a t interval that excludes 0 adds nothing.
        let one = StudyVerdict(
            method: "dverge", radius: 0.1, edlcmRobust: [0.40], otherRobust: [0.30], edlcmClean: [], otherClean: [],
            perImage: [perImage[0]])
        #expect(one.outcome == .ahead && !one.seedsAloneIncludeZero && !one.sentence.contains("seeds alone"))
        let close = StudyVerdict(
            method: "dverge", radius: 0.1, edlcmRobust: [0.40, 0.40, 0.40], otherRobust: [0.30, 0.30, 0.30],
            edlcmClean: [], otherClean: [], perImage: Array(repeating: perImage[0], count: 3))
        #expect(close.outcome == .ahead && !close.seedsAloneIncludeZero)
    }
}
