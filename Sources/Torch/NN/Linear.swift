import Foundation

/// A fully connected layer: y = x·Wᵀ + b, with PyTorch's default initialisation.
public final class Linear: Layer {
    /// The weight, [outputCount, inputCount].
    public let weight: Tensor
    /// The bias, [outputCount], if any.
    public let bias: Tensor?
    public var isTraining = true

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
        linear(input, weight: weight, bias: bias)
    }
}
