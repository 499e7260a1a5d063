import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

private func spec(_ architecture: Architecture, dataset: DatasetName = .fashionMNIST, width: Int = 1) -> ModelSpec {
    var config = TrainingConfig()
    config.architecture = architecture
    config.dataset = dataset
    config.width = width
    return config.modelSpec
}

@Suite("Models and ensembles")
struct ModelTests {
    @Test func smallCNNHasThePublishedParameterCount() {
        let network = spec(.cnn).makeNetwork()
        // conv1 1·32·9+32, conv2 32·64·9+64, fc1 3136·128+128, fc2 128·10+10.
        #expect(network.parameterCount == 421_642)
        #expect(
            network.namedParameters().map(\.name) == [
                "conv1.weight", "conv1.bias", "conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
            ])
        #expect(network(Tensor.rand([2, 1, 28, 28])).shape == [2, 10])
        // Channels and size follow the dataset: CIFAR-10 in, 10 logits out; fc1 sees 64·8·8.
        let cifar = spec(.cnn, dataset: .cifar10).makeNetwork()
        #expect(cifar(Tensor.rand([2, 3, 32, 32])).shape == [2, 10])
        #expect(cifar.parameterCount == 3 * 32 * 9 + 32 + 18_496 + (64 * 64 * 128 + 128) + 1290)
        #expect(
            spec(.cnn, width: 2).makeNetwork().parameterCount == 2 * 32 * 9 + 64 + 64 * 128 * 9 + 128 + (128 * 49 * 256 + 256)
                + 256 * 10 + 10)
    }

    @Test func resNet20HasThePaperParameterCount() {
        let network = spec(.resnet20, dataset: .cifar10).makeNetwork()
        // He et al. (2016), option-A shortcuts: 0.27 M parameters (269 722 for 10 classes).
        #expect(network.parameterCount == 269_722)
        network.eval()
        #expect(network(Tensor.rand([2, 3, 32, 32])).shape == [2, 10])
        let names = network.namedParameters().map(\.name)
        #expect(names.first == "conv1.weight")
        #expect(names.contains("layer3.2.bn2.bias"))
        #expect(names.last == "linear.bias")
        #expect(network.namedBuffers().map(\.name).contains("layer2.0.bn1.running_var"))
        // Tiny ImageNet: 64×64 inputs, 200 classes.
        let tiny = spec(.resnet20, dataset: .tinyImageNet).makeNetwork()
        tiny.eval()
        #expect(tiny(Tensor.rand([1, 3, 64, 64])).shape == [1, 200])
    }

    @Test func normalizationHappensInsideTheModel() {
        // A constant image equal to the dataset mean normalises to zero, so the first conv outputs its bias.
        let network = SmallCNN(spec: spec(.cnn))
        let mean = DatasetName.fashionMNIST.normalization.mean[0]
        let input = Tensor.full([1, 1, 28, 28], value: mean)
        let firstConv = network.conv1(Normalization(mean: [mean], std: [0.353])(input))
        let bias = network.conv1.bias!.scalars(as: Float.self)
        let centre = firstConv[0].selected(alongAxis: 1, index: 14).selected(alongAxis: 1, index: 14).scalars(as: Float.self)
        for (a, b) in zip(centre, bias) { #expect(Swift.abs(a - b) < 1e-5) }
    }

    @Test func ensembleOutputIsALogProbability() {
        Runtime.seed(3)
        let ensemble = Ensemble(spec: spec(.cnn), count: 3)
        let x = Tensor.rand([4, 1, 28, 28])
        let output = ensemble(x)
        #expect(output.shape == [4, 10])
        assertClose(output.exp().sum(alongAxis: 1), [1, 1, 1, 1], rtol: 1e-5)
        // log((1/M) Σ softmax) computed by hand from the member logits.
        let logits = ensemble.memberLogits(x)
        let averaged = logits.map { $0.softmax(alongAxis: 1) }.reduce(Tensor.zeros([4, 10]), +) / 3
        assertClose(output, averaged.log(), rtol: 1e-5, atol: 1e-6)
        ensemble.output = .averagedLogits
        assertClose(ensemble(x), logits.reduce(Tensor.zeros([4, 10]), +) / 3, rtol: 1e-5, atol: 1e-6)
        #expect(ensemble.namedParameters().first?.name == "member0.conv1.weight")
        #expect(ensemble.namedParameters().last?.name == "member2.fc2.bias")
    }

    @Test func smallCNNFeaturesAreItsBlocksBeforeTheirReLU() {
        Runtime.seed(5)
        let network = SmallCNN(spec: spec(.cnn))
        let x = Tensor.rand([3, 1, 28, 28])
        #expect(network.featureLayerCount == 3)
        #expect((0..<3).map { network.features(x, at: $0).shape } == [[3, 32, 14, 14], [3, 64, 7, 7], [3, 128]])
        // Each block's ReLU feeds the next, and fc2 of the last gives the logits.
        assertClose(network.fc2(network.features(x, at: 2).relu()), network(x), rtol: 1e-6, atol: 1e-6)
        assertClose(
            maxPool2d(network.conv2(network.features(x, at: 0).relu()), kernelSize: (2, 2)), network.features(x, at: 1),
            rtol: 1e-6, atol: 1e-6)
        #expect(network.features(x, at: 1).min().item() < 0)
    }

    @Test func resNet20FeaturesAreTheStemAndEachBasicBlockBeforeTheirReLU() {
        Runtime.seed(6)
        let network = ResNet20(spec: spec(.resnet20, dataset: .cifar10))
        network.eval()
        let x = Tensor.rand([2, 3, 32, 32])
        #expect(network.featureLayerCount == 10)
        let shapes = (0..<10).map { network.features(x, at: $0).shape }
        #expect(
            shapes == [[2, 16, 32, 32]] + Array(repeating: [2, 16, 32, 32], count: 3)
                + Array(repeating: [2, 32, 16, 16], count: 3)
                + Array(repeating: [2, 64, 8, 8], count: 3))
        for layer in 1..<10 {
            assertClose(
                network.blocks[layer - 1].preActivation(network.features(x, at: layer - 1).relu()),
                network.features(x, at: layer), rtol: 1e-5, atol: 1e-5)
        }
        let pooled = adaptiveAvgPool2d(network.features(x, at: 9).relu(), outputSize: (1, 1)).flattened(startAxis: 1)
        assertClose(network.linear(pooled), network(x), rtol: 1e-5, atol: 1e-5)
    }

    @Test func specValidationNamesTheField() {
        var bad = spec(.cnn)
        bad.mean = [0.1, 0.2]
        #expect(throws: EDLCMError("model: mean and std need 1 values each, got 2 and 1")) { try bad.validate() }
        bad = spec(.cnn)
        bad.classCount = 1
        #expect(throws: EDLCMError("model: classCount must be at least 2, got 1")) { try bad.validate() }
    }
}

@Suite("Data loader")
struct DataLoaderTests {
    private func tinySet(count: Int = 10) throws -> ImageSet {
        try ImageSet(
            pixels: (0..<count * 4).map { UInt8($0 % 256) }, labels: (0..<count).map { Int32($0 % 2) },
            count: count, channels: 1, height: 2, width: 2, classCount: 2)
    }

    @Test func batchesScaleToUnitIntervalAndCoverAnEpoch() throws {
        let loader = DataLoader(try tinySet(), batchSize: 4, seed: 1)
        let batches = loader.trainingBatches(epoch: 0)
        #expect(batches.count == 2)
        #expect(loader.batchCount(dropLast: false) == 3)
        #expect(batches[0].images.shape == [4, 1, 2, 2])
        #expect(batches[0].images.dtype == .float32)
        let ordered = loader.orderedBatches(size: 4)
        #expect(ordered.count == 3)
        #expect(ordered[2].count == 2)
        assertClose(ordered[0].images[1], [4, 5, 6, 7].map { $0 / 255.0 })
        // The labels travel with their images.
        let all = loader.trainingBatches(epoch: 3, dropLast: false)
        for batch in all {
            let firstPixel = batch.images.flattened(startAxis: 1).selected(alongAxis: 1, index: 0).scalars(as: Double.self)
            let labels = batch.labels.scalars(as: Int.self)
            for (pixel, label) in zip(firstPixel, labels) { #expect(Int((pixel * 255).rounded()) / 4 % 2 == label) }
        }
    }

    @Test func pairedStreamsAreIndependentSeededShuffles() throws {
        let loader = DataLoader(try tinySet(count: 50), batchSize: 10, seed: 9)
        let order = { (epoch: Int, stream: UInt64) in
            loader.trainingBatches(epoch: epoch, stream: stream).map {
                $0.images.flattened(startAxis: 1).selected(alongAxis: 1, index: 0).scalars(as: Float.self)
            }
        }
        #expect(order(2, 1) == order(2, 1))
        #expect(order(2, 1) != order(2, 0))
        #expect(order(2, 1) != order(3, 1))
        #expect(order(2, 1).map(\.count) == order(2, 0).map(\.count))
        #expect(Set(order(2, 1).flatMap { $0 }) == Set(order(2, 0).flatMap { $0 }))
    }

    @Test func shufflingIsSeededPerEpoch() throws {
        let loader = DataLoader(try tinySet(count: 50), batchSize: 10, seed: 9)
        let first = loader.trainingBatches(epoch: 2).map { $0.labels.scalars(as: Int.self) }
        let again = loader.trainingBatches(epoch: 2).map { $0.labels.scalars(as: Int.self) }
        let other = loader.trainingBatches(epoch: 3).map { $0.images.sum().item() }
        #expect(first == again)
        #expect(other != loader.trainingBatches(epoch: 2).map { $0.images.sum().item() })
    }

    @Test func augmentationCropsAndFlipsWithinThePaddedImage() {
        var generator = SeededGenerator(seed: 4)
        let image = Tensor.arange(1, 17).reshaped(to: [1, 1, 4, 4]).repeated([64, 1, 1, 1])
        let augmented = DataLoader.augmented(image, using: &generator, padding: 1)
        #expect(augmented.shape == [64, 1, 4, 4])
        // Every output is a shifted (and maybe mirrored) copy: its non-zero values come from 1...16
        // and at least a 3×3 block of the original survives.
        var sawFlip = false
        var sawShift = false
        for index in 0..<64 {
            let values = augmented[index].scalars(as: Float.self)
            #expect(values.filter { $0 != 0 }.count >= 9)
            #expect(values.allSatisfy { $0 >= 0 && $0 <= 16 })
            if values == [4, 3, 2, 1, 8, 7, 6, 5, 12, 11, 10, 9, 16, 15, 14, 13] { sawFlip = true }
            if values.contains(0) { sawShift = true }
        }
        #expect(sawFlip && sawShift)
    }
}

@Suite("Benchmark arithmetic")
struct BenchmarkArithmeticTests {
    /// The FLOP counts behind `edlcm bench`'s GFLOP/s column, counted by hand (2 per multiply-add).
    @Test func forwardFLOPsCountEveryMultiplyAdd() {
        // conv1 1→32 at 28×28, conv2 32→64 at 14×14, fc 3136→128, fc 128→10.
        let cnn = 2 * (32 * 1 * 9 * 28 * 28 + 64 * 32 * 9 * 14 * 14 + 128 * 3136 + 10 * 128)
        #expect(cnn == 8_482_304)
        #expect(StepBenchmark.forwardFLOPs(spec(.cnn).makeNetwork(), spec: spec(.cnn)) == cnn)
        // ResNet-20 on 32×32×3: stem 3→16; stage 1: six 16→16 convs at 32×32; stage 2: 16→32 then
        // five 32→32 at 16×16; stage 3: 32→64 then five 64→64 at 8×8; linear 64→10 (40.55 M MACs).
        let stem = 3 * 16 * 9 * 1024
        let stage1 = 6 * 16 * 16 * 9 * 1024
        let stage2 = 16 * 32 * 9 * 256 + 5 * 32 * 32 * 9 * 256
        let stage3 = 32 * 64 * 9 * 64 + 5 * 64 * 64 * 9 * 64
        let resnet = 2 * (stem + stage1 + stage2 + stage3 + 64 * 10)
        #expect(resnet == 81_102_080)
        let cifar = spec(.resnet20, dataset: .cifar10)
        #expect(StepBenchmark.forwardFLOPs(cifar.makeNetwork(), spec: cifar) == resnet)
        #expect(StepBenchmark.peakConvolutionFLOPs == 9_663_676_416)
    }
}
