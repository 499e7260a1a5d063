// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch, chosen at build time as tch-rs chooses it: Debian's `libtorch-dev` (1.13) by default;
// `LIBTORCH=DIR`, a root holding include/ and lib/ (a libtorch archive, or the torch/ folder of an
// installed PyTorch 1.13 … 2.x); or `LIBTORCH_USE_PYTORCH=1`, the torch package of the `python3` on
// the PATH (found without importing it, so a CPU machine needs none of its CUDA wheels to build).
let environment = ProcessInfo.processInfo.environment
func installedPyTorch() -> String? {
    let python = Process()
    python.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    python.arguments = [
        environment["PYTHON"] ?? "python3", "-c",
        "import importlib.util as u; s = u.find_spec('torch'); print(s.submodule_search_locations[0] if s else '')",
    ]
    let pipe = Pipe()
    python.standardOutput = pipe
    guard (try? python.run()) != nil else { return nil }
    python.waitUntilExit()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    let path = text.trimmingCharacters(in: .whitespacesAndNewlines)
    return python.terminationStatus == 0 && !path.isEmpty ? path : nil
}
let libtorch: String? =
    if let root = environment["LIBTORCH"], !root.isEmpty {
        root
    } else if ["1", "true", "yes"].contains(environment["LIBTORCH_USE_PYTORCH"]?.lowercased() ?? "") {
        installedPyTorch() ?? "LIBTORCH_USE_PYTORCH=1: no torch package found by python3"
    } else {
        nil
    }
let torchInclude = libtorch.map { "\($0)/include" } ?? "/usr/include"
// libtorch's major version, read from its headers (torch/version.h in 1.x, torch/headeronly/ in 2.x):
// ATen 2.x requires C++20, and 1.13's headers do not build with it.
func torchMajorVersion(include: String) -> Int {
    for file in ["torch/headeronly/version.h", "torch/csrc/api/include/torch/version.h"] {
        guard let text = try? String(contentsOfFile: "\(include)/\(file)", encoding: .utf8) else { continue }
        for line in text.split(separator: "\n") where line.hasPrefix("#define TORCH_VERSION_MAJOR ") {
            return Int(line.split(separator: " ").last ?? "") ?? 1
        }
    }
    return 1
}
let cxxStandard = torchMajorVersion(include: torchInclude) >= 2 ? "-std=c++20" : "-std=c++17"
// USE_C10D_GLOO exposes c10d's Gloo process group (distributed training; headers from libgloo-dev,
// or inside PyPI's torch/include).
let torchCxxFlags = [
    "-I\(torchInclude)", "-I\(torchInclude)/torch/csrc/api/include", "-Wno-deprecated-declarations", "-DUSE_C10D_GLOO",
    cxxStandard,
]
// The binary finds the chosen libtorch where it was built (an rpath), or through LD_LIBRARY_PATH
// (`make dist`). It links the CPU libraries only (every libtorch has them; PyPI's libtorch.so would
// pull in libtorch_cuda and the CUDA wheels); CUDA's are loaded when a CUDA device is asked for.
let torchLinkFlags = libtorch.map { ["-L\($0)/lib", "-Xlinker", "-rpath", "-Xlinker", "\($0)/lib"] } ?? []

let package = Package(
    name: "EDLCM",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "EDLCM", targets: ["EDLCM"]),
        .executable(name: "edlcm", targets: ["EDLCMCLI"]),
        .executable(name: "edlcm-fuzz", targets: ["EDLCMFuzz"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
    ],
    targets: [
        // The C ABI over libtorch: translation only (see include/ctorch.h).
        .target(
            name: "CTorch",
            cxxSettings: [.unsafeFlags(torchCxxFlags)],
            linkerSettings: [
                .unsafeFlags(torchLinkFlags),
                .linkedLibrary("torch_cpu"), .linkedLibrary("c10"), .linkedLibrary("dl"),
            ]
        ),
        .systemLibrary(name: "CZlib"),
        .systemLibrary(name: "COpenSSL"),
        .target(name: "CJPEG", linkerSettings: [.linkedLibrary("jpeg")]),
        // The engine: tensors, autograd, layers, optimizers, safetensors.
        .target(name: "Torch", dependencies: ["CTorch"]),
        // The product, one target per layer; each depends only on the layers below it
        // (docs/architecture.md): Core → Data → Models → Defenses, Attacks → Training → Evaluation
        // → Report; Benchmark beside Evaluation.
        .target(name: "EDLCMCore", dependencies: ["Torch", "COpenSSL", "Yams"]),
        .target(name: "EDLCMData", dependencies: ["EDLCMCore", "Torch", "CZlib", "CJPEG"]),
        .target(name: "EDLCMModels", dependencies: ["EDLCMData", "EDLCMCore", "Torch"]),
        .target(name: "EDLCMDefenses", dependencies: ["EDLCMModels", "EDLCMData", "EDLCMCore", "Torch"]),
        .target(name: "EDLCMAttacks", dependencies: ["EDLCMModels", "EDLCMCore", "Torch"]),
        .target(
            name: "EDLCMTraining",
            dependencies: [
                "EDLCMDefenses", "EDLCMModels", "EDLCMData", "EDLCMCore", "Torch",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "EDLCMEvaluation",
            dependencies: [
                "EDLCMTraining", "EDLCMAttacks", "EDLCMDefenses", "EDLCMModels", "EDLCMData", "EDLCMCore", "Torch",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .target(
            name: "EDLCMReport", dependencies: ["EDLCMEvaluation", "EDLCMTraining", "EDLCMModels", "EDLCMData", "EDLCMCore"]),
        // Studies: many (method, seed) runs trained, analysed, evaluated and compared.
        .target(
            name: "EDLCMStudy",
            dependencies: ["EDLCMReport", "EDLCMEvaluation", "EDLCMTraining", "EDLCMModels", "EDLCMData", "EDLCMCore", "Torch"]),
        .target(
            name: "EDLCMBenchmark",
            dependencies: ["EDLCMTraining", "EDLCMAttacks", "EDLCMDefenses", "EDLCMModels", "EDLCMData", "EDLCMCore", "Torch"]),
        // Everything above in one import.
        .target(
            name: "EDLCM",
            dependencies: [
                "EDLCMCore", "EDLCMData", "EDLCMModels", "EDLCMDefenses", "EDLCMAttacks", "EDLCMTraining", "EDLCMEvaluation",
                "EDLCMReport", "EDLCMStudy",
                "EDLCMBenchmark",
            ]
        ),
        // The command line (`edlcm`). It, the fuzzer and the tests import the layers themselves, not
        // the re-exporting EDLCM: incremental builds miss layout changes behind a re-export
        // (swiftlang/swift#89636).
        .executableTarget(
            name: "EDLCMCLI",
            dependencies: [
                "EDLCMCore", "EDLCMAttacks", "EDLCMTraining", "EDLCMEvaluation", "EDLCMReport", "EDLCMStudy", "EDLCMBenchmark",
                "Torch",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fuzz targets in one executable (scripts/fuzz.sh builds it with -sanitize=fuzzer; normal
        // builds replay files: `edlcm-fuzz TARGET FILE…`).
        .executableTarget(
            name: "EDLCMFuzz",
            dependencies: [
                "EDLCMCore", "EDLCMData", "EDLCMModels", "EDLCMDefenses", "EDLCMAttacks", "EDLCMTraining", "EDLCMEvaluation",
                "EDLCMReport", "EDLCMBenchmark", "Torch",
            ]),
        .target(name: "TestSupport", dependencies: ["EDLCMCore", "Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"]),
        .testTarget(
            name: "EDLCMTests",
            dependencies: [
                "EDLCMCore", "EDLCMData", "EDLCMModels", "EDLCMDefenses", "EDLCMAttacks", "EDLCMTraining", "EDLCMEvaluation",
                "EDLCMReport", "EDLCMStudy", "EDLCMBenchmark", "Torch", "TestSupport",
            ]),
        .testTarget(
            name: "EDLCMCLITests",
            dependencies: [
                "EDLCMCLI", "EDLCMCore", "EDLCMData", "EDLCMModels", "EDLCMDefenses", "EDLCMAttacks", "EDLCMTraining",
                "EDLCMEvaluation", "EDLCMReport", "EDLCMBenchmark", "TestSupport",
            ]),
    ]
    // No package-wide C++ standard: CTorch's flags choose it (cxxStandard above), and a package-wide
    // one would come after them on the compiler's command line.
)
