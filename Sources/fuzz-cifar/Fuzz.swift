import FuzzSupport

/// libFuzzer's entry point: one input through the cifar parser.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    FuzzBodies.cifar(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
/// SwiftPM links an executable's entry point as `<module>_main`; libFuzzer's driver takes over.
@_cdecl("fuzz_cifar_main")
public func fuzzMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    FuzzBodies.runLibFuzzer(argc, argv, fuzzOneInput)
}
#else
/// Without libFuzzer: replay the files named on the command line.
@main
enum Replay {
    static func main() {
        FuzzBodies.replay(Array(CommandLine.arguments.dropFirst())) { FuzzBodies.cifar($0) }
    }
}
#endif
