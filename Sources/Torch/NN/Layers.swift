/// The reduction of a pooling layer.
public enum PoolingKind: Sendable {
    case max
    case average
}

/// 2-D pooling with a square window; stride defaults to the window. ``MaxPool2d`` and
/// ``AvgPool2d`` are its two kinds.
public class Pool2d: Layer {
    public let kind: PoolingKind
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public var isTraining = true

    public init(_ kind: PoolingKind, kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kind = kind
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        let (window, step, pad) = ((kernelSize, kernelSize), (stride, stride), (padding, padding))
        switch kind {
        case .max: return maxPool2d(input, kernelSize: window, stride: step, padding: pad)
        case .average: return avgPool2d(input, kernelSize: window, stride: step, padding: pad)
        }
    }
}

/// 2-D max pooling with a square window; stride defaults to the window.
public final class MaxPool2d: Pool2d {
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        super.init(.max, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// 2-D average pooling with a square window; stride defaults to the window.
public final class AvgPool2d: Pool2d {
    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        super.init(.average, kernelSize: kernelSize, stride: stride, padding: padding)
    }
}

/// Average pooling to a fixed output size (global average pooling for 1×1).
public final class AdaptiveAvgPool2d: Layer {
    public let outputSize: (Int, Int)
    public var isTraining = true

    public init(outputSize: (Int, Int) = (1, 1)) {
        self.outputSize = outputSize
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        adaptiveAvgPool2d(input, outputSize: outputSize)
    }
}

/// Zeroes activations with probability `probability` in training mode and rescales the rest.
public final class Dropout: Layer {
    public let probability: Double
    public var isTraining = true

    public init(probability: Double = 0.5) {
        precondition((0...1).contains(probability), "Dropout: probability \(probability) outside [0, 1]")
        self.probability = probability
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        dropout(input, probability: probability, training: isTraining)
    }
}

/// Flattens every dimension after the batch dimension.
public final class Flatten: Layer {
    public var isTraining = true

    public init() {}

    public func callAsFunction(_ input: Tensor) -> Tensor {
        input.flattened(startAxis: 1)
    }
}

/// max(x, 0) as a layer, for use in ``Sequential``.
public final class ReLU: Layer {
    public var isTraining = true

    public init() {}

    public func callAsFunction(_ input: Tensor) -> Tensor {
        input.relu()
    }
}

/// Layers applied in order; children are named "0", "1", … as in PyTorch's `nn.Sequential`.
public final class Sequential: Layer {
    public let layers: [any Layer]
    public var isTraining = true

    public init(_ layers: [any Layer]) {
        self.layers = layers
    }

    public var children: [(name: String, module: any Module)] {
        layers.enumerated().map { (String($0.offset), $0.element) }
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        layers.reduce(input) { $1($0) }
    }
}
