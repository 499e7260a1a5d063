import EDLCMCore
import EDLCMData
import Foundation
import Torch

/// The CIFAR ResNet-20 of He et al., "Deep Residual Learning for Image Recognition" (CVPR 2016),
/// §4.2: a 3×3 convolution with 16 channels, three stages of three basic blocks with 16, 32 and 64
/// channels (stride 2 at the start of stages 2 and 3), global average pooling and a linear
/// classifier. Shortcuts that change shape are parameter-free (option A: stride-2 subsampling and
/// zero-padded channels), which gives the paper's 0.27 M parameters (269 722 for 10 classes) and
/// is the variant the DVERGE and TRS code bases train. Convolutions and the classifier use
/// Kaiming-normal initialisation, as in those code bases. PyTorch names: conv1, bn1,
/// layer{1,2,3}.{0,1,2}.{conv1,bn1,conv2,bn2}, linear.
public final class ResNet20: Classifier {
    public let spec: ModelSpec
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let stages: [Sequential]
    /// The nine basic blocks in order (the same modules as in `stages`).
    let blocks: [BasicBlock]
    let linear: Linear
    let normalization: Normalization
    public var isTraining = true

    public init(spec: ModelSpec) {
        self.spec = spec
        let w = spec.widthMultiplier
        let widths = [16 * w, 32 * w, 64 * w]
        conv1 = Conv2d(inChannels: spec.channels, outChannels: widths[0], kernelSize: 3, padding: 1, bias: false)
        bn1 = BatchNorm2d(channels: widths[0])
        var inChannels = widths[0]
        let stageBlocks = widths.enumerated().map { index, channels in
            (0..<3).map { block in
                let stride = (index > 0 && block == 0) ? 2 : 1
                defer { inChannels = channels }
                return BasicBlock(inChannels: inChannels, outChannels: channels, stride: stride)
            }
        }
        blocks = stageBlocks.flatMap { $0 }
        stages = stageBlocks.map { Sequential($0) }
        linear = Linear(inputCount: widths[2], outputCount: spec.classCount)
        normalization = Normalization(mean: spec.mean, std: spec.std)
        kaimingNormal(conv1.weight)
        kaimingNormal(linear.weight)
    }

    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("bn1", bn1)] + stages.enumerated().map { ("layer\($0.offset + 1)", $0.element) } + [
            ("linear", linear)
        ]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        var x = bn1(conv1(normalization(input))).relu()
        for stage in stages { x = stage(x) }
        x = adaptiveAvgPool2d(x, outputSize: (1, 1)).flattened(startAxis: 1)
        return linear(x)
    }

    public var featureLayerCount: Int { Architecture.resnet20.featureLayerCount }

    /// γ of the skip gradient method (Wu et al., ICLR 2020): the backward pass scales the gradient
    /// that flows through each block's residual branch by γ, leaving the shortcut's and the forward
    /// values unchanged (1: the ordinary gradient).
    public var residualGradientScale: Double {
        get { blocks[0].residualGradientScale }
        set { for block in blocks { block.residualGradientScale = newValue } }
    }

    public var prefersChannelsLast: Bool { true }

    /// Block 0: the stem (conv1, bn1); blocks 1…9: the basic blocks in order (stage 1 first); each
    /// before its final ReLU, as DVERGE's `get_features(before_relu=True)` returns them.
    public func features(_ input: Tensor, at layer: Int) -> Tensor {
        precondition(
            (0..<featureLayerCount).contains(layer), "ResNet20.features: layer \(layer) is not in 0..<\(featureLayerCount)")
        var x = bn1(conv1(normalization(input)))
        guard layer > 0 else { return x }
        x = x.relu()
        for block in blocks[0..<(layer - 1)] { x = block(x) }
        return blocks[layer - 1].preActivation(x)
    }
}

/// conv 3×3 → BN → ReLU → conv 3×3 → BN, plus the shortcut, then ReLU.
final class BasicBlock: Layer {
    let conv1: Conv2d
    let bn1: BatchNorm2d
    let conv2: Conv2d
    let bn2: BatchNorm2d
    let stride: Int
    let padChannels: Int
    var isTraining = true
    /// See ``ResNet20/residualGradientScale``.
    var residualGradientScale = 1.0

    init(inChannels: Int, outChannels: Int, stride: Int) {
        conv1 = Conv2d(inChannels: inChannels, outChannels: outChannels, kernelSize: 3, stride: stride, padding: 1, bias: false)
        bn1 = BatchNorm2d(channels: outChannels)
        conv2 = Conv2d(inChannels: outChannels, outChannels: outChannels, kernelSize: 3, padding: 1, bias: false)
        bn2 = BatchNorm2d(channels: outChannels)
        self.stride = stride
        padChannels = (outChannels - inChannels) / 2
        kaimingNormal(conv1.weight)
        kaimingNormal(conv2.weight)
    }

    var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("bn1", bn1), ("conv2", conv2), ("bn2", bn2)]
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        preActivation(input).relu()
    }

    /// The block's output before its final ReLU: the residual branch plus the shortcut.
    func preActivation(_ input: Tensor) -> Tensor {
        var out = bn2(conv2(bn1(conv1(input)).relu()))
        if residualGradientScale != 1 {
            // The value is exactly the branch's (out − out.detached() is 0); only the gradient is scaled.
            let value = out.detached()
            out = value + (out - value) * residualGradientScale
        }
        var shortcut = input
        if stride != 1 || padChannels != 0 {
            // Option A: subsample spatially, zero-pad the channel dimension on both sides.
            shortcut = input.sliced(alongAxis: 2, from: 0, to: Int.max, step: stride)
                .sliced(alongAxis: 3, from: 0, to: Int.max, step: stride)
                .padded([0, 0, 0, 0, padChannels, padChannels])
        }
        return out + shortcut
    }
}

/// Kaiming-normal initialisation for ReLU networks (fan-in mode): N(0, 2/fan_in).
func kaimingNormal(_ weight: Tensor) {
    let fanIn = weight.shape.dropFirst().reduce(1, *)
    withoutGradients { weight.normal_(mean: 0, std: (2 / Double(fanIn)).squareRoot()) }
}
