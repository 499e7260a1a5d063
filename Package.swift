// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch: Debian's `libtorch-dev` by default; `LIBTORCH=/path` (a root holding include/ and lib/, the
// convention of tch-rs) selects another build, for example a CUDA one.
let libtorch = ProcessInfo.processInfo.environment["LIBTORCH"]
let torchInclude = libtorch.map { "\($0)/include" } ?? "/usr/include"
// USE_C10D_GLOO exposes c10d's Gloo process group (distributed training; headers from libgloo-dev).
let torchCxxFlags = [
    "-I\(torchInclude)", "-I\(torchInclude)/torch/csrc/api/include", "-Wno-deprecated-declarations", "-DUSE_C10D_GLOO",
]
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
                .linkedLibrary("torch"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"),
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
    ],
    cxxLanguageStandard: .cxx17
)
