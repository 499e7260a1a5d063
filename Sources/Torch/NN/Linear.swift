import Foundation

/// Which of libtorch's kernels computes a fully connected layer. Both give the same product
/// x·Wᵀ + b and the same gradients of every order (within float rounding); they differ in speed.
public enum DenseKernel: String, Sendable, CaseIterable, Codable {
    /// `at::linear`: a GEMM in the BLAS libtorch is linked against. Debian's libtorch uses the
    /// system `libblas.so.3`, by default the unblocked, single-threaded reference BLAS.
    case gemm
    /// The same product as a 1×1 convolution of the input viewed as [N, in, 1, 1] with the weight
    /// viewed as [out, in, 1, 1]. For float32 CPU tensors libtorch runs it (and its backward and
    /// double backward) in oneDNN, blocked, vectorised and on every intra-op thread: measured
    /// 7–10× faster than the reference-BLAS GEMM for a 3136→128 layer at batch 128
    /// (docs/performance.md). Inputs that are not [N, in] matrices of float32 on the CPU use `gemm`.
    case convolution
}

/// A fully connected layer: y = x·Wᵀ + b, with PyTorch's default initialisation.
public final class Linear: Layer {
    /// The weight, [outputCount, inputCount].
    public let weight: Tensor
    /// The bias, [outputCount], if any.
    public let bias: Tensor?
    public var isTraining = true
    /// The kernel that computes the product; the parameters and the checkpoint format do not
    /// depend on it.
    public var kernel: DenseKernel = .convolution

    /// Creates a layer with weights and bias drawn from U(-1/√inputCount, 1/√inputCount).
    public init(inputCount: Int, outputCount: Int, bias: Bool = true) {
        let bound = 1 / Foundation.sqrt(Double(inputCount))
        weight = uniformParameter([outputCount, inputCount], bound: bound)
        self.bias = bias ? uniformParameter([outputCount], bound: bound) : nil
    }

    public var localParameters: [NamedTensor] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        switch kernel {
        case .convolution where input.rank == 2 && input.dtype == .float32 && input.device == .cpu && weight.dtype == .float32:
            let (count, inputCount) = (input.shape[0], input.shape[1])
            let outputCount = weight.shape[0]
            return conv2d(
                input.reshaped(to: [count, inputCount, 1, 1]), weight: weight.reshaped(to: [outputCount, inputCount, 1, 1]),
                bias: bias
            )
            .reshaped(to: [count, outputCount])
        default:
            return linear(input, weight: weight, bias: bias)
        }
    }
}

extension Module {
    /// Sets the kernel of every fully connected layer in this module and its descendants.
    public func setDenseKernel(_ kernel: DenseKernel) {
        if let layer = self as? Linear { layer.kernel = kernel }
        for child in children { child.module.setDenseKernel(kernel) }
    }
}
