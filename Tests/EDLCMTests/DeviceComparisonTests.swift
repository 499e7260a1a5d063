import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMBenchmark
@testable import EDLCMModels

/// `edlcm device-check`'s arithmetic, and its run where a CPU is the only device: the CPU against
/// itself must agree exactly (the same weights, batches and draws on both sides).
@Suite("Device comparison", .exclusiveRandomGenerator)
struct DeviceComparisonTests {
    @Test("differences are max |b − a| / max |a|, against the tolerance")
    func arithmetic() {
        let a = [Tensor([1, -4, 2] as [Float]), Tensor([0.5] as [Float])]
        let b = [Tensor([1, -4.02, 2] as [Float]), Tensor([0.5] as [Float])]
        let check = DeviceComparison.compare("toy", a, b)
        #expect(abs(check.difference - 0.02 / 4) < 1e-6)
        #expect(check.passed == (0.005 <= DeviceComparison.valueTolerance))
        let far = DeviceComparison.compare("toy", a, [Tensor([1, -4.1, 2] as [Float]), Tensor([0.5] as [Float])])
        #expect(abs(far.difference - 0.025) < 1e-6 && !far.passed)
    }

    @Test("the CPU against itself: every check exactly equal")
    func cpuAgainstItself() throws {
        let checks = try DeviceComparison.run(device: .cpu, architectures: [.cnn])
        #expect(checks.count == 2 + 8 + 2)
        #expect(checks.contains { $0.name == "cnn trs step" } && checks.contains { $0.name == "cnn Square" })
        for check in checks { #expect(check.difference == 0, "\(check.name)") }
    }
}
