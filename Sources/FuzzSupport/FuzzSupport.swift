import EDLCM
import Foundation
import Torch
import Yams

/// The fuzz targets' bodies: each parses arbitrary bytes with one of the project's parsers and
/// must either succeed or throw its one error type; anything else (a trap, a crash, a hang, a leak
/// under ASan) is a bug. The `fuzz-*` executables call these from libFuzzer's
/// `LLVMFuzzerTestOneInput` (built with `-sanitize=fuzzer`, see scripts/fuzz.sh) or, in a normal
/// build, replay files given on the command line (regression inputs).
public enum FuzzBodies {
    /// A scratch file in memory-backed storage for parsers that read paths.
    static let scratch = URL(fileURLWithPath: FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory())
        .appendingPathComponent("edlcm-fuzz-\(getpid())")

    static func withScratchFile(_ bytes: UnsafeBufferPointer<UInt8>, suffix: String, _ body: (URL) throws -> Void) {
        let url = scratch.appendingPathExtension(suffix)
        _ = FileManager.default.createFile(atPath: url.path, contents: Data(buffer: bytes))
        defer { try? FileManager.default.removeItem(at: url) }
        do { try body(url) } catch is EDLCMError {} catch is TorchError {} catch {
            fatalError("unexpected error type \(type(of: error)): \(error)")
        }
    }

    /// IDX images and labels, raw and (when the input starts with the gzip magic) gzipped.
    public static func idx(_ bytes: UnsafeBufferPointer<UInt8>) {
        withScratchFile(bytes, suffix: "idx") { url in
            _ = try? IDXFile.readLabels(at: url, classCount: 10)
            _ = try IDXFile.readImages(at: url, rows: 28, columns: 28)
        }
        withScratchFile(bytes, suffix: "gz") { url in _ = try IDXFile.readImages(at: url) }
    }

    /// CIFAR-10 and CIFAR-100 binary batches.
    public static func cifar(_ bytes: UnsafeBufferPointer<UInt8>) {
        withScratchFile(bytes, suffix: "bin") { url in
            _ = try? CIFARBinary.read(.cifar100, file: url)
            _ = try CIFARBinary.read(.cifar10, file: url)
        }
    }

    /// safetensors archives.
    public static func safetensors(_ bytes: UnsafeBufferPointer<UInt8>) {
        do { _ = try SafeTensors.decode(Array(bytes), source: "fuzz") } catch is TorchError {} catch {
            fatalError("unexpected error type \(type(of: error)): \(error)")
        }
    }

    /// Training configurations as JSON and as YAML, validated when they decode.
    public static func config(_ bytes: UnsafeBufferPointer<UInt8>) {
        let data = Data(buffer: bytes)
        if let config = try? JSONDecoder().decode(TrainingConfig.self, from: data) { _ = try? config.validate() }
        if let text = String(data: data, encoding: .utf8), let config = try? YAMLDecoder().decode(TrainingConfig.self, from: text) {
            _ = try? config.validate()
        }
    }

    #if FUZZING
    /// Hands control to libFuzzer's driver (the body of each fuzz executable's entry point).
    public static func runLibFuzzer(
        _ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
    ) -> Int32 {
        var count = argc
        var arguments = argv
        return LLVMFuzzerRunDriver(&count, &arguments, callback)
    }
    #endif

    /// Replays files (regression inputs) through a body, for normal builds.
    public static func replay(_ arguments: [String], _ body: (UnsafeBufferPointer<UInt8>) -> Void) {
        for path in arguments {
            guard let data = FileManager.default.contents(atPath: path) else { continue }
            Array(data).withUnsafeBufferPointer(body)
        }
    }
}

#if FUZZING
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
) -> Int32
#endif
