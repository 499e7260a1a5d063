// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch: Debian's `libtorch-dev` by default; `LIBTORCH=/path` (a root holding include/ and lib/, the
// convention of tch-rs) selects another build, for example a CUDA one.
let libtorch = ProcessInfo.processInfo.environment["LIBTORCH"]
let torchInclude = libtorch.map { "\($0)/include" } ?? "/usr/include"
// USE_C10D_GLOO exposes c10d's Gloo process group (distributed training; headers from libgloo-dev).
let torchCxxFlags = ["-I\(torchInclude)", "-I\(torchInclude)/torch/csrc/api/include", "-Wno-deprecated-declarations", "-DUSE_C10D_GLOO"]
let torchLinkFlags = libtorch.map { ["-L\($0)/lib", "-Xlinker", "-rpath", "-Xlinker", "\($0)/lib"] } ?? []

let package = Package(
    name: "EDLCM",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
        .library(name: "EDLCM", targets: ["EDLCM"]),
        .executable(name: "edlcm", targets: ["edlcm"]),
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
        .target(name: "Torch", dependencies: ["CTorch"]),
        .target(
            name: "EDLCM",
            dependencies: ["Torch", "CZlib", "CJPEG", "COpenSSL", "Yams", .product(name: "Logging", package: "swift-log")]
        ),
        .executableTarget(
            name: "edlcm",
            dependencies: [
                "EDLCM", "Torch", "Yams",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The fuzz targets in one executable (scripts/fuzz.sh builds it with -sanitize=fuzzer; normal
        // builds replay files: `edlcm-fuzz TARGET FILE…`).
        .executableTarget(name: "edlcm-fuzz", dependencies: ["EDLCM", "Torch"]),
        .target(name: "TestSupport", dependencies: ["Torch"], path: "Tests/TestSupport"),
        .testTarget(name: "TorchTests", dependencies: ["Torch", "TestSupport"]),
        .testTarget(name: "EDLCMTests", dependencies: ["EDLCM", "Torch", "TestSupport"]),
        .testTarget(name: "edlcmTests", dependencies: ["edlcm", "TestSupport"]),
    ],
    cxxLanguageStandard: .cxx17
)
