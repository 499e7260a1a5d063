import CTorch

/// Where a tensor's data lives.
public enum Device: Equatable, Hashable, Sendable, CustomStringConvertible {
    case cpu
    case cuda(Int)

    init(typeCode: Int32, index: Int) {
        // c10::DeviceType: CPU = 0, CUDA = 1.
        self = typeCode == 1 ? .cuda(max(index, 0)) : .cpu
    }

    var typeCode: Int32 {
        switch self {
        case .cpu: 0
        case .cuda: 1
        }
    }

    var index: Int {
        switch self {
        case .cpu: -1
        case .cuda(let index): index
        }
    }

    /// The device PyTorch names `name` ("cpu", "cuda", "cuda:1"; "cuda" is "cuda:0"); nil for any
    /// other text.
    public init?(name: String) {
        if name == "cpu" {
            self = .cpu
        } else if name == "cuda" {
            self = .cuda(0)
        } else if name.hasPrefix("cuda:"), let index = Int(name.dropFirst(5)), index >= 0,
            String(index) == name.dropFirst(5)
        {
            self = .cuda(index)
        } else {
            return nil
        }
    }

    /// The number of CUDA devices libtorch sees: 0 when its CUDA library cannot be loaded (a
    /// CPU-only libtorch such as Debian's) or no GPU is present.
    public static var cudaDeviceCount: Int {
        var count: Int64 = 0
        check(ct_cuda_device_count(&count), "cuda device count")
        return Int(count)
    }

    /// Loads libtorch's CUDA library (libtorch_cuda, beside the libtorch_cpu in use), once.
    ///
    /// - Throws: ``TorchError`` with the loader's message when it cannot be loaded.
    public static func loadCUDA() throws {
        try checkThrowing(ct_load_cuda(), "loading libtorch's CUDA library")
    }

    /// Waits until the work queued on this device is done (a no-op on the CPU, whose work is done
    /// when its call returns): reading a value back waits for the device's stream, on any libtorch.
    public func synchronize() {
        guard self != .cpu else { return }
        _ = Tensor.zeros([1], on: self).item()
    }

    /// Checks that this device can hold tensors here.
    ///
    /// - Throws: ``TorchError`` "cuda:1 is not available: …" naming why (no CUDA library in this
    ///   libtorch, no GPU, or fewer GPUs than the index).
    public func checkAvailable() throws {
        guard case .cuda(let index) = self else { return }
        guard ct_load_cuda() == 0 else {
            throw TorchError("\(self) is not available: this libtorch has no usable CUDA library (\(lastTorchError()))")
        }
        let count = Device.cudaDeviceCount
        guard index < count else {
            throw TorchError(
                count == 0
                    ? "\(self) is not available: libtorch's CUDA library loaded but sees no GPU"
                    : "\(self) is not available: libtorch sees \(count) GPU\(count == 1 ? "" : "s") (cuda:0…cuda:\(count - 1))")
        }
    }

    /// The name PyTorch uses (`cpu`, `cuda:0`).
    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }
}
