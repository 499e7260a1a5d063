import CTorch
import Foundation

/// Process-wide settings of the engine: threads, seeding and version.
public enum Runtime {
    /// The libtorch version this package runs on (for example "1.13.0").
    public static var libtorchVersion: String {
        var pointer: UnsafePointer<CChar>?
        check(ct_version(&pointer), "version")
        return pointer.map { String(cString: $0) } ?? "unknown"
    }

    /// How libtorch was built and what it runs on: `at::show_config()`, the text of PyTorch's
    /// `torch.__config__.show()`.
    public static var buildConfiguration: String {
        var pointer: UnsafePointer<CChar>?
        check(ct_build_config(&pointer), "build_config")
        return pointer.map { String(cString: $0) } ?? ""
    }

    /// The CPU kernels of ATen's own vectorised operations ("AVX2", "AVX512", "DEFAULT"; the line
    /// "CPU capability usage" of ``buildConfiguration``), nil when it does not say. libtorch 1.12
    /// and 1.13 choose AVX2 even on AVX-512 processors unless `ATEN_CPU_CAPABILITY=avx512` opts in
    /// (pytorch/pytorch#80253), so it does not tell those apart: ``vectorExtensions`` does. Float
    /// results on the CPU are reproducible bit for bit only between machines where both, and the
    /// thread count, agree.
    public static var cpuCapability: String? {
        let prefix = "CPU capability usage:"
        return buildConfiguration.split(separator: "\n")
            .map { $0.trimmingCharacters(in: CharacterSet(charactersIn: " -")) }
            .first { $0.hasPrefix(prefix) }
            .map { String($0.dropFirst(prefix.count)).trimmingCharacters(in: .whitespaces) }
    }

    /// The widest vector instructions this processor offers ("AVX-512", "AVX2", "AVX", "SSE4.1" or
    /// "older"; from the flags of /proc/cpuinfo on Linux, nil where it cannot be read): the
    /// instruction set oneDNN compiles its convolution and matrix kernels for at run time (its own
    /// log, `ONEDNN_VERBOSE=1`, names the same one), unless `ONEDNN_MAX_CPU_ISA` caps it, which
    /// is then added ("AVX-512, ONEDNN_MAX_CPU_ISA=AVX2"). Those kernels sum in another order on
    /// each, so a run trained on one does not come out bit for bit the same on the other.
    /// AVX-512 here means the foundation, byte/word, double/quad-word and vector-length subsets
    /// together, oneDNN's `avx512_core`.
    public static var vectorExtensions: String? {
        guard let list = cpuinfoField("flags") else { return nil }
        let flags = Set(list.split(separator: " ").map(String.init))
        let name =
            ["avx512f", "avx512bw", "avx512vl", "avx512dq"].allSatisfy(flags.contains)
            ? "AVX-512"
            : ["avx2", "fma"].allSatisfy(flags.contains)
                ? "AVX2" : flags.contains("avx") ? "AVX" : flags.contains("sse4_1") ? "SSE4.1" : "older"
        let cap =
            ProcessInfo.processInfo.environment["ONEDNN_MAX_CPU_ISA"]
            ?? ProcessInfo.processInfo.environment["DNNL_MAX_CPU_ISA"]
        return cap.map { "\(name), ONEDNN_MAX_CPU_ISA=\($0)" } ?? name
    }

    /// The processor's model name ("model name" of /proc/cpuinfo on Linux), nil where it cannot
    /// be read.
    public static var cpuModel: String? {
        cpuinfoField("model name")
    }

    /// The value of the first /proc/cpuinfo line whose name starts with `name` (that of the first
    /// processor), trimmed; nil where the file or the line is missing.
    private static func cpuinfoField(_ name: String) -> String? {
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return nil }
        return text.split(separator: "\n").first { $0.hasPrefix(name) }
            .flatMap { $0.split(separator: ":", maxSplits: 1).last }
            .map { $0.trimmingCharacters(in: .whitespaces) }
    }

    /// The number of threads libtorch uses inside one operation.
    public static var threadCount: Int {
        var value: Int32 = 0
        check(ct_get_num_threads(&value), "get_num_threads")
        return Int(value)
    }

    /// Sets libtorch's intra-op thread count.
    ///
    /// - Throws: ``TorchError`` when `count` < 1.
    public static func setThreadCount(_ count: Int) throws {
        guard count >= 1 else { throw TorchError("thread count must be at least 1, got \(count)") }
        try checkThrowing(ct_set_num_threads(Int32(count)), "setting \(count) threads")
    }

    /// Makes glibc's allocator keep freed memory for reuse instead of returning it to the system
    /// after every large free: blocks up to 32 MiB come from the heap (not a fresh `mmap`), and
    /// the heap is trimmed only when 1 GiB at its top is free. Training frees and reallocates the
    /// same activation sizes every step (and, for a plain ensemble, every member); with glibc's
    /// defaults those blocks move between `mmap` and the heap and come back as fresh zeroed pages,
    /// which measured 30 % slower (docs/performance.md). Peak memory is unchanged or lower; the
    /// resident size stays at its high-water mark, as with PyTorch's caching allocators.
    /// Call once at start-up; settings in `MALLOC_*` environment variables are left alone.
    public static func retainFreedMemory() {
        let environment = ProcessInfo.processInfo.environment
        guard !environment.keys.contains(where: { $0.hasPrefix("MALLOC_") }), environment["GLIBC_TUNABLES"] == nil else { return }
        _ = ct_retain_freed_memory(32 << 20, 1 << 30)
    }

    /// The cores this process may use (the scheduler's affinity mask when it is narrower than the
    /// machine). Debian's libtorch starts with one thread; call `setThreadCount(availableCores)`.
    public static var availableCores: Int {
        ProcessInfo.processInfo.activeProcessorCount
    }

    /// Makes libtorch choose deterministic algorithms (PyTorch's
    /// `torch.use_deterministic_algorithms(True)`, with cuDNN's deterministic mode and no autotuning);
    /// an operation without one then fails with libtorch's message. For cuBLAS it sets
    /// `CUBLAS_WORKSPACE_CONFIG=:4096:8` unless the environment sets it: call before any CUDA work.
    public static func setDeterministic(_ enabled: Bool) throws {
        if enabled, ProcessInfo.processInfo.environment["CUBLAS_WORKSPACE_CONFIG"] == nil {
            setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8", 1)
        }
        try checkThrowing(ct_set_deterministic(enabled), "setting deterministic algorithms")
    }

    /// Seeds libtorch's global CPU generator (rand, randn, dropout, initialisers).
    public static func seed(_ seed: UInt64) {
        check(ct_manual_seed(seed), "manual_seed")
    }

    /// The state of libtorch's global CPU generator, as a uint8 tensor (for checkpoints).
    public static func randomState() -> Tensor {
        Tensor.make("get_rng_state") { ct_get_rng_state($0) }
    }

    /// Restores a state from ``randomState()``.
    ///
    /// - Throws: ``TorchError`` when `state` is not a valid generator state.
    public static func setRandomState(_ state: Tensor) throws {
        try state.withHandle { try checkThrowing(ct_set_rng_state($0), "restoring the random generator state") }
    }
}
