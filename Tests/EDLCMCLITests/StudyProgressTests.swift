import Testing

@testable import EDLCMCLI

@Suite("study run's time-left line")
struct StudyProgressTests {
    @Test("sweep points and comparison runs are estimated from their own kind's measured times")
    func estimatesEachKindApart() {
        let progress = StudyProgress(runs: [
            (id: "sweep/a", isSweep: true), (id: "sweep/b", isSweep: true), (id: "x-seed0", isSweep: false),
            (id: "x-seed1", isSweep: false), (id: "x-seed2", isSweep: false),
        ])
        #expect(progress.eta(done: 0) == "")
        progress.handle(.finished(run: "sweep/a", seconds: 600, done: 1, total: 5))
        // Nothing of the comparison measured yet: every run left at the sweep's 600 s.
        #expect(progress.eta(done: 1) == ", about 40 min left")
        progress.handle(.finished(run: "sweep/b", seconds: 1000, done: 2, total: 5))
        progress.handle(.finished(run: "x-seed0", seconds: 3000, done: 3, total: 5))
        // x-seed1 (starting, counted whole) and x-seed2 left at 3 000 s each, not at the mean of all
        // three runs measured (1 533 s).
        #expect(progress.eta(done: 3) == ", about 1.7 h left")
        #expect(progress.eta(done: 4) == ", about 50 min left")
        #expect(progress.eta(done: 5) == "")
    }

    @Test("with --jobs the time left is shared among the runs that go at once")
    func dividesAmongJobs() {
        let progress = StudyProgress(runs: (0..<5).map { (id: "x-seed\($0)", isSweep: false) }, parallel: 2)
        progress.handle(.finished(run: "x-seed0", seconds: 1200, done: 1, total: 5))
        #expect(progress.eta(done: 1) == ", about 40 min left")  // 4 runs of 1 200 s, two at a time
        #expect(progress.eta(done: 4) == ", about 20 min left")  // the last one alone
    }
}
