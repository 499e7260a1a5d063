import EDLCMCore
import EDLCMData
import Torch

/// The network family of every ensemble member.
public enum Architecture: String, SettingChoice {
    /// The small CPU-friendly CNN: two 3×3 convolutions (32, 64 channels) with max-pooling, then
    /// fully connected 128 and the classifier (421 642 parameters on 28×28 grey images).
    case cnn
    /// The CIFAR ResNet-20 of He et al. (2016): three stages of three basic blocks with 16/32/64
    /// channels and parameter-free (option A) shortcuts, ≈0.27 M parameters.
    case resnet20

    /// The number of feature points ``Classifier/features(_:at:)`` offers: 3 for the CNN (its
    /// two convolution blocks and fc1), 10 for ResNet-20 (the stem and its nine basic blocks).
    public var featureLayerCount: Int {
        switch self {
        case .cnn: 3
        case .resnet20: 10
        }
    }
}

/// Everything needed to rebuild a member network: stored in checkpoints so that evaluation needs no flags.
public struct ModelSpec: Codable, Equatable, Sendable {
    public var architecture: Architecture
    /// Input channels, height and width.
    public var channels: Int
    public var height: Int
    public var width: Int
    public var classCount: Int
    /// A multiplier on every layer's channel count (1 = the published sizes).
    public var widthMultiplier: Int
    /// Per-channel mean and standard deviation that the model subtracts and divides by, so that
    /// inputs (and attacks) live in [0, 1] pixel space.
    public var mean: [Double]
    public var std: [Double]

    public init(
        architecture: Architecture, channels: Int, height: Int, width: Int, classCount: Int,
        widthMultiplier: Int = 1, mean: [Double], std: [Double]
    ) {
        self.architecture = architecture
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
        self.widthMultiplier = widthMultiplier
        self.mean = mean
        self.std = std
    }

    /// Checks the sizes, so that building the network cannot fail.
    ///
    /// - Throws: ``EDLCMError`` naming the bad field.
    public func validate() throws {
        guard channels >= 1, height >= 4, width >= 4 else {
            throw EDLCMError("model: input \(channels)×\(height)×\(width) is too small (at least 1×4×4)")
        }
        guard classCount >= 2 else { throw EDLCMError("model: classCount must be at least 2, got \(classCount)") }
        guard (1...16).contains(widthMultiplier) else {
            throw EDLCMError("model: width multiplier must be in 1...16, got \(widthMultiplier)")
        }
        guard mean.count == channels, std.count == channels else {
            throw EDLCMError("model: mean and std need \(channels) values each, got \(mean.count) and \(std.count)")
        }
        guard std.allSatisfy({ $0 > 0 }) else { throw EDLCMError("model: std values must be positive, got \(std)") }
        if architecture == .cnn, height % 4 != 0 || width % 4 != 0 {
            throw EDLCMError("model: the cnn needs height and width divisible by 4, got \(height)×\(width)")
        }
    }

    /// Builds a freshly initialised member network (from libtorch's global generator).
    public func makeNetwork() -> any Classifier {
        switch architecture {
        case .cnn: SmallCNN(spec: self)
        case .resnet20: ResNet20(spec: self)
        }
    }
}

/// A network that maps images in [0, 1] pixel space to class logits.
public protocol Classifier: Layer {
    /// What the network was built from.
    var spec: ModelSpec { get }

    /// How many feature points ``features(_:at:)`` offers (the network's blocks, in order).
    var featureLayerCount: Int { get }

    /// The activations at the end of block `layer`, before the block's final ReLU (DVERGE's
    /// `before_relu=True` features), computed exactly as ``callAsFunction(_:)`` computes them.
    ///
    /// - Parameters:
    ///   - input: images in [0, 1] pixel space.
    ///   - layer: a block index in `0..<featureLayerCount`.
    func features(_ input: Tensor, at layer: Int) -> Tensor

    /// Whether passes in evaluation mode that are differentiated at most once (attacks,
    /// evaluation) should feed this network channels-last images. libtorch 1.13 then keeps the
    /// activations in NHWC through oneDNN's convolutions: a ResNet-20 PGD step measured 32–59 %
    /// faster in PyTorch on the same libtorch, but the small CNN's step 13 % slower and any double
    /// backward 30 % slower. Training mode always uses the default layout: there, libtorch's
    /// channels-last batch-norm backward loses accuracy (a ResNet-20 input gradient 2 % off its
    /// float64 value, against 3·10⁻⁶ in the default layout; docs/performance.md).
    var prefersChannelsLast: Bool { get }
}

extension Classifier {
    public var prefersChannelsLast: Bool { false }

    /// The logits, with the input in the layout this network prefers for first-order passes
    /// (channels-last only in evaluation mode, see ``prefersChannelsLast``).
    public func firstOrderLogits(_ input: Tensor) -> Tensor {
        self(prefersChannelsLast && !isTraining && input.rank == 4 ? input.channelsLast() : input)
    }

    /// By default a classifier offers one feature point: its logits.
    public var featureLayerCount: Int { 1 }

    /// By default the only feature point is the logits.
    public func features(_ input: Tensor, at layer: Int) -> Tensor {
        precondition(layer == 0, "features(_:at:): this classifier offers only layer 0 (its logits), not \(layer)")
        return self(input)
    }
}

/// Subtracts the per-channel mean and divides by the standard deviation: (x − μ) / σ.
///
/// Its constants are not parameters and not in the state: they are recorded in the model spec.
struct Normalization {
    let mean: Tensor
    let inverseStd: Tensor

    init(mean: [Double], std: [Double]) {
        self.mean = Tensor(mean.map(Float.init), shape: [1, mean.count, 1, 1])
        self.inverseStd = Tensor(std.map { Float(1 / $0) }, shape: [1, std.count, 1, 1])
    }

    func callAsFunction(_ input: Tensor) -> Tensor {
        // The constants follow the input to its device (two small copies per call off the CPU).
        (input - mean.on(input.device)) * inverseStd.on(input.device)
    }
}
