/// 2-D max pooling with a square window; stride defaults to the window.
public final class MaxPool2d: Layer {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public var isTraining = true

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        maxPool2d(input, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding))
    }
}

/// 2-D average pooling with a square window; stride defaults to the window.
public final class AvgPool2d: Layer {
    public let kernelSize: Int
    public let stride: Int
    public let padding: Int
    public var isTraining = true

    public init(kernelSize: Int, stride: Int? = nil, padding: Int = 0) {
        self.kernelSize = kernelSize
        self.stride = stride ?? kernelSize
        self.padding = padding
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        avgPool2d(input, kernelSize: (kernelSize, kernelSize), stride: (stride, stride), padding: (padding, padding))
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
