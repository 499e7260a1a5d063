import EDLCMCore
import EDLCMData
import Torch

/// The small CNN of the benchmarks: conv 3×3 (C→32, padding 1), ReLU, max-pool 2, conv 3×3
/// (32→64, padding 1), ReLU, max-pool 2, linear (64·H/4·W/4 → 128), ReLU, linear (128 → classes);
/// channel counts scale with the width multiplier. PyTorch names: conv1, conv2, fc1, fc2.
public final class SmallCNN: Classifier {
    public let spec: ModelSpec
    public let conv1: Conv2d
    public let conv2: Conv2d
    public let fc1: Linear
    public let fc2: Linear
    let normalization: Normalization
    public var isTraining = true

    public init(spec: ModelSpec) {
        self.spec = spec
        let w = spec.widthMultiplier
        conv1 = Conv2d(inChannels: spec.channels, outChannels: 32 * w, kernelSize: 3, padding: 1)
        conv2 = Conv2d(inChannels: 32 * w, outChannels: 64 * w, kernelSize: 3, padding: 1)
        fc1 = Linear(inputCount: 64 * w * (spec.height / 4) * (spec.width / 4), outputCount: 128 * w)
        fc2 = Linear(inputCount: 128 * w, outputCount: spec.classCount)
        normalization = Normalization(mean: spec.mean, std: spec.std)
    }

    public var children: [(name: String, module: any Module)] {
        [("conv1", conv1), ("conv2", conv2), ("fc1", fc1), ("fc2", fc2)]
    }

    public func callAsFunction(_ input: Tensor) -> Tensor {
        var x = normalization(input)
        x = maxPool2d(conv1(x).relu(), kernelSize: (2, 2))
        x = maxPool2d(conv2(x).relu(), kernelSize: (2, 2))
        x = fc1(x.flattened(startAxis: 1)).relu()
        return fc2(x)
    }

    public var featureLayerCount: Int { Architecture.cnn.featureLayerCount }

    /// Block 0: conv1 and max-pooling; block 1: conv2 and max-pooling; block 2: fc1; each before its
    /// ReLU. (ReLU and max-pooling commute exactly, so ReLU of a convolution block's features is the
    /// block's output in ``callAsFunction(_:)``.)
    public func features(_ input: Tensor, at layer: Int) -> Tensor {
        precondition(
            (0..<featureLayerCount).contains(layer), "SmallCNN.features: layer \(layer) is not in 0..<\(featureLayerCount)")
        var x = maxPool2d(conv1(normalization(input)), kernelSize: (2, 2))
        if layer == 0 { return x }
        x = maxPool2d(conv2(x.relu()), kernelSize: (2, 2))
        if layer == 1 { return x }
        return fc1(x.relu().flattened(startAxis: 1))
    }
}
