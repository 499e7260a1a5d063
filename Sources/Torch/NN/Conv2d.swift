import Foundation

/// A 2-D convolution layer with PyTorch's default initialisation.
public final class Conv2d: Layer {
    /// The kernel, [outChannels, inChannels/groups, kernelSize, kernelSize].
    public let weight: Tensor
    /// The bias, [outChannels], if any.
    public let bias: Tensor?
    public let stride: Int
    public let padding: Int
    public let groups: Int
    public var isTraining = true

    /// Creates a layer with weights and bias drawn from U(-1/√fan_in, 1/√fan_in),
    /// fan_in = inChannels/groups · kernelSize².
    public init(
        inChannels: Int, outChannels: Int, kernelSize: Int, stride: Int = 1, padding: Int = 0, groups: Int = 1, bias: Bool = true
    ) {
        precondition(
            inChannels % groups == 0 && outChannels % groups == 0,
            "Conv2d: channels \(inChannels)→\(outChannels) not divisible by \(groups) groups")
        let fanIn = inChannels / groups * kernelSize * kernelSize
        let bound = 1 / Foundation.sqrt(Double(fanIn))
        weight = uniformParameter([outChannels, inChannels / groups, kernelSize, kernelSize], bound: bound)
        self.bias = bias ? uniformParameter([outChannels], bound: bound) : nil
        self.stride = stride
        self.padding = padding
        self.groups = groups
    }

    public var localParameters: [NamedTensor] {
        [("weight", weight)] + (bias.map { [("bias", $0)] } ?? [])
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        conv2d(input, weight: weight, bias: bias, stride: (stride, stride), padding: (padding, padding), groups: groups)
    }
}
