// swift-tools-version:6.0
import Foundation
import PackageDescription

// libtorch: Debian's `libtorch-dev` by default; `LIBTORCH=/path` (a root holding include/ and lib/, the
// convention of tch-rs) selects another build, for example a CUDA one.
let libtorch = ProcessInfo.processInfo.environment["LIBTORCH"]
let torchInclude = libtorch.map { "\($0)/include" } ?? "/usr/include"
let torchCxxFlags = ["-I\(torchInclude)", "-I\(torchInclude)/torch/csrc/api/include", "-Wno-deprecated-declarations"]
let torchLinkFlags = libtorch.map { ["-L\($0)/lib", "-Xlinker", "-rpath", "-Xlinker", "\($0)/lib"] } ?? []

let package = Package(
    name: "EDLCM",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "Torch", targets: ["Torch"]),
    ],
    dependencies: [],
    targets: [
        .target(
            name: "CTorch",
            cxxSettings: [.unsafeFlags(torchCxxFlags)],
            linkerSettings: [
                .unsafeFlags(torchLinkFlags),
                .linkedLibrary("torch"), .linkedLibrary("torch_cpu"), .linkedLibrary("c10"),
            ]
        ),
        .target(name: "Torch", dependencies: ["CTorch"]),
        .testTarget(name: "TorchTests", dependencies: ["Torch"]),
    ],
    cxxLanguageStandard: .cxx17
)
