/// Batch normalisation over the channels of [N, C, H, W], with PyTorch's buffers and update rule.
///
/// In training mode it normalises with the batch statistics and updates `running_mean`,
/// `running_var` (unbiased) with `momentum`, and counts `num_batches_tracked`; in evaluation mode
/// it uses the running statistics.
public final class BatchNorm2d: Layer {
    public let weight: Tensor
    public let bias: Tensor
    public let runningMean: Tensor
    public let runningVariance: Tensor
    public let batchesTracked: Tensor
    public let momentum: Double
    public let eps: Double
    public var isTraining = true

    /// Creates a layer for `channels` channels with weight 1, bias 0, running mean 0 and variance 1.
    public init(channels: Int, momentum: Double = 0.1, eps: Double = 1e-5) {
        weight = Tensor.ones([channels]).requiringGrad()
        bias = Tensor.zeros([channels]).requiringGrad()
        runningMean = Tensor.zeros([channels])
        runningVariance = Tensor.ones([channels])
        batchesTracked = Tensor.zeros([], dtype: .int64)
        self.momentum = momentum
        self.eps = eps
    }

    public var localParameters: [NamedTensor] { [("weight", weight), ("bias", bias)] }
    public var localBuffers: [NamedTensor] {
        [("running_mean", runningMean), ("running_var", runningVariance), ("num_batches_tracked", batchesTracked)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        if isTraining { withoutGradients { batchesTracked.copy_(batchesTracked + 1) } }
        return batchNorm(
            input, weight: weight, bias: bias, runningMean: runningMean, runningVariance: runningVariance,
            training: isTraining, momentum: momentum, eps: eps)
    }
}
