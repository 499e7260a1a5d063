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

    /// The number of CUDA devices libtorch sees (0 for a CPU build).
    public static var cudaDeviceCount: Int {
        var count: Int64 = 0
        check(ct_cuda_device_count(&count), "cuda device count")
        return Int(count)
    }

    /// The name PyTorch uses (`cpu`, `cuda:0`).
    public var description: String {
        switch self {
        case .cpu: "cpu"
        case .cuda(let index): "cuda:\(index)"
        }
    }
}
