import CTorch

/// How a loss over a batch is reduced.
public enum Reduction: Int64, Sendable, Codable {
    /// One loss per example.
    case none = 0
    /// The mean over the batch.
    case mean = 1
    /// The sum over the batch.
    case sum = 2
}

/// The cross-entropy between logits `[N, C]` and int64 class labels `[N]` (`torch.nn.functional.cross_entropy`).
public func crossEntropy(logits: Tensor, labels: Tensor, reduction: Reduction = .mean, labelSmoothing: Double = 0) -> Tensor {
    withExtendedLifetime((logits, labels)) {
        Tensor.make("cross_entropy(\(logits.shape), \(labels.shape))") {
            ct_cross_entropy(logits.handle, labels.handle, reduction.rawValue, labelSmoothing, $0)
        }
    }
}

/// The negative log-likelihood of int64 labels `[N]` under log-probabilities `[N, C]`.
public func nllLoss(logProbabilities: Tensor, labels: Tensor, reduction: Reduction = .mean) -> Tensor {
    withExtendedLifetime((logProbabilities, labels)) {
        Tensor.make("nll_loss(\(logProbabilities.shape), \(labels.shape))") {
            ct_nll_loss(logProbabilities.handle, labels.handle, reduction.rawValue, $0)
        }
    }
}

/// The squared error between two tensors of equal shape.
public func mseLoss(_ a: Tensor, _ b: Tensor, reduction: Reduction = .mean) -> Tensor {
    binary("mse_loss", a, b) { ct_mse_loss($0, $1, reduction.rawValue, $2) }
}

/// The cosine similarity along `axis`: ⟨a, b⟩ / (max(‖a‖, eps)·max(‖b‖, eps)), as
/// `torch.nn.functional.cosine_similarity` (1.13 and 2.x alike).
public func cosineSimilarity(_ a: Tensor, _ b: Tensor, alongAxis axis: Int = 1, eps: Double = 1e-8) -> Tensor {
    binary("cosine_similarity", a, b) { ct_cosine_similarity($0, $1, Int64(axis), eps, $2) }
}

/// A 2-D convolution of `input` [N, C, H, W] with `weight` [O, C/groups, kH, kW].
public func conv2d(
    _ input: Tensor, weight: Tensor, bias: Tensor? = nil,
    stride: (Int, Int) = (1, 1), padding: (Int, Int) = (0, 0), dilation: (Int, Int) = (1, 1), groups: Int = 1
) -> Tensor {
    let strides = [Int64(stride.0), Int64(stride.1)]
    let paddings = [Int64(padding.0), Int64(padding.1)]
    let dilations = [Int64(dilation.0), Int64(dilation.1)]
    return withExtendedLifetime((input, weight, bias)) {
        Tensor.make("conv2d(input \(input.shape), weight \(weight.shape))") {
            ct_conv2d(input.handle, weight.handle, bias?.handle, strides, paddings, dilations, Int64(groups), $0)
        }
    }
}

/// x·Wᵀ + b for `input` [..., in] and `weight` [out, in].
public func linear(_ input: Tensor, weight: Tensor, bias: Tensor? = nil) -> Tensor {
    withExtendedLifetime((input, weight, bias)) {
        Tensor.make("linear(input \(input.shape), weight \(weight.shape))") {
            ct_linear(input.handle, weight.handle, bias?.handle, $0)
        }
    }
}

/// Batch normalisation over [N, C, ...]; in training mode it uses batch statistics and updates
/// the running ones in place with `momentum`, as `torch.nn.functional.batch_norm`.
public func batchNorm(
    _ input: Tensor, weight: Tensor?, bias: Tensor?, runningMean: Tensor?, runningVariance: Tensor?,
    training: Bool, momentum: Double = 0.1, eps: Double = 1e-5
) -> Tensor {
    withExtendedLifetime((input, weight, bias, runningMean, runningVariance)) {
        Tensor.make("batch_norm(\(input.shape))") {
            ct_batch_norm(
                input.handle, weight?.handle, bias?.handle, runningMean?.handle, runningVariance?.handle,
                training, momentum, eps, $0)
        }
    }
}

/// 2-D max pooling; `stride` defaults to the kernel size.
public func maxPool2d(
    _ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0), ceilMode: Bool = false
) -> Tensor {
    let kernel = [Int64(kernelSize.0), Int64(kernelSize.1)]
    let strides = stride.map { [Int64($0.0), Int64($0.1)] } ?? kernel
    let paddings = [Int64(padding.0), Int64(padding.1)]
    return Tensor.make("max_pool2d(\(input.shape))") { out in
        input.withHandle { ct_max_pool2d($0, kernel, strides, paddings, ceilMode, out) }
    }
}

/// 2-D average pooling; `stride` defaults to the kernel size.
public func avgPool2d(
    _ input: Tensor, kernelSize: (Int, Int), stride: (Int, Int)? = nil, padding: (Int, Int) = (0, 0),
    ceilMode: Bool = false, countIncludePad: Bool = true
) -> Tensor {
    let kernel = [Int64(kernelSize.0), Int64(kernelSize.1)]
    let strides = stride.map { [Int64($0.0), Int64($0.1)] } ?? kernel
    let paddings = [Int64(padding.0), Int64(padding.1)]
    return Tensor.make("avg_pool2d(\(input.shape))") { out in
        input.withHandle { ct_avg_pool2d($0, kernel, strides, paddings, ceilMode, countIncludePad, out) }
    }
}

/// Average pooling to a fixed output size.
public func adaptiveAvgPool2d(_ input: Tensor, outputSize: (Int, Int)) -> Tensor {
    let size = [Int64(outputSize.0), Int64(outputSize.1)]
    return Tensor.make("adaptive_avg_pool2d(\(input.shape))") { out in input.withHandle { ct_adaptive_avg_pool2d($0, size, out) }
    }
}

/// Zeroes elements with probability `probability` and rescales the rest, in training mode only.
public func dropout(_ input: Tensor, probability: Double, training: Bool) -> Tensor {
    Tensor.make("dropout") { out in input.withHandle { ct_dropout($0, probability, training, out) } }
}

/// Nearest-neighbour resizing of [N, C, H, W] to `size`.
public func upsampleNearest(_ input: Tensor, size: (Int, Int)) -> Tensor {
    let output = [Int64(size.0), Int64(size.1)]
    return Tensor.make("upsample_nearest2d(\(input.shape))") { out in input.withHandle { ct_upsample_nearest2d($0, output, out) }
    }
}

/// Bilinear resizing of [N, C, H, W] to `size`.
public func upsampleBilinear(_ input: Tensor, size: (Int, Int), alignCorners: Bool = false) -> Tensor {
    let output = [Int64(size.0), Int64(size.1)]
    return Tensor.make("upsample_bilinear2d(\(input.shape))") { out in
        input.withHandle { ct_upsample_bilinear2d($0, output, alignCorners, out) }
    }
}
