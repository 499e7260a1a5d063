import Foundation
import TestSupport
import Testing

/// Replays the fuzz seeds and every saved regression input through the replay build of
/// `edlcm-fuzz`: each must exit 0 (a parser error is fine; a trap is not).
@Suite("Fuzz regressions")
struct FuzzReplayTests {
    @Test(arguments: ["idx", "cifar", "jpeg", "safetensors", "config", "records"])
    func replaysSeedsAndRegressions(target: String) throws {
        let binary = URL(fileURLWithPath: edlcmBinary).deletingLastPathComponent().appendingPathComponent("edlcm-fuzz").path
        try #require(
            FileManager.default.isExecutableFile(atPath: binary), "build edlcm-fuzz first (swift build --build-tests builds it)")
        let files = ["seeds", "regressions"].flatMap { kind -> [String] in
            let folder = repositoryRoot.appendingPathComponent("fuzz/\(kind)/\(target)")
            let names = (try? FileManager.default.contentsOfDirectory(atPath: folder.path)) ?? []
            return names.filter { !$0.hasPrefix(".") }.map { folder.appendingPathComponent($0).path }
        }
        #expect(!files.isEmpty)
        let result = try runProcess(binary, [target] + files)
        #expect(result.status == 0, "\(result.output)")
    }

    @Test func anUnknownTargetIsRefused() throws {
        let binary = URL(fileURLWithPath: edlcmBinary).deletingLastPathComponent().appendingPathComponent("edlcm-fuzz").path
        let result = try runProcess(binary, ["yaml"])
        #expect(result.status == 2)
        #expect(result.output.contains("usage: edlcm-fuzz idx|cifar|jpeg|safetensors|config|records"))
    }
}
