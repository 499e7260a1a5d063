import Foundation

// `edlcm-fuzz TARGET ARGS…`: TARGET is one of FuzzTarget's names. Built with -sanitize=fuzzer
// (-DFUZZING, see scripts/fuzz.sh) the remaining arguments go to libFuzzer's driver; in a normal
// build they are files to replay (the seeds and regression inputs that `make test` replays).

/// The target chosen on the command line, read by libFuzzer's callback (a C function pointer that
/// cannot capture it).
nonisolated(unsafe) var chosenTarget = FuzzTarget.config

let arguments = CommandLine.arguments
guard arguments.count >= 2, let target = FuzzTarget(rawValue: arguments[1]) else {
    FileHandle.standardError.write(
        Data(
            "usage: edlcm-fuzz \(FuzzTarget.allCases.map(\.rawValue).joined(separator: "|")) [libFuzzer options | files…]\n".utf8)
    )
    exit(2)
}
chosenTarget = target

/// libFuzzer's entry point (its runtime refers to it by name): one input through the chosen target.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    chosenTarget.run(UnsafeBufferPointer(start: data, count: size))
    return 0
}

#if FUZZING
    @_silgen_name("LLVMFuzzerRunDriver")
    func LLVMFuzzerRunDriver(
        _ argc: UnsafeMutablePointer<Int32>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
        _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> Int32
    ) -> Int32

    // libFuzzer sees the program name and the arguments after TARGET.
    var driverArguments: [UnsafeMutablePointer<CChar>?] = ([arguments[0]] + arguments.dropFirst(2)).map { strdup($0) } + [nil]
    var count = Int32(arguments.count - 1)
    let status = driverArguments.withUnsafeMutableBufferPointer { buffer -> Int32 in
        var pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>? = buffer.baseAddress
        return LLVMFuzzerRunDriver(&count, &pointer, fuzzOneInput)
    }
    exit(status)
#else
    for path in arguments.dropFirst(2) {
        guard let data = FileManager.default.contents(atPath: path) else {
            FileHandle.standardError.write(Data("edlcm-fuzz: cannot read \(path)\n".utf8))
            exit(1)
        }
        Array(data).withUnsafeBufferPointer { target.run($0) }
    }
#endif
