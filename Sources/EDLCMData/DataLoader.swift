import EDLCMCore
import Torch

/// A batch of images in [0, 1] (float32, NCHW) and their int64 labels.
public struct Batch {
    public let images: Tensor
    public let labels: Tensor
    /// A second batch of the same size from an independently shuffled pass over the training set,
    /// for objectives that pair every image with another one (DVERGE's distillation targets);
    /// nil unless the objective asks for it (``EnsembleObjective/needsPairedImages``).
    public let pairedImages: Tensor?
    public var count: Int { images.shape[0] }

    public init(images: Tensor, labels: Tensor, pairedImages: Tensor? = nil) {
        self.images = images
        self.labels = labels
        self.pairedImages = pairedImages
    }

    /// The batch on `device`.
    public func on(_ device: Device) -> Batch {
        Batch(images: images.on(device), labels: labels.on(device), pairedImages: pairedImages?.on(device))
    }
}

/// Serves an ``ImageSet`` as tensors: seeded shuffling, batching and augmentation.
///
/// The images stay in host memory; batches are assembled and augmented there and handed out on
/// ``device`` (as PyTorch's loaders fill batches on the CPU and the loop moves them).
///
/// Every random choice of an epoch comes from a ``SeededGenerator`` seeded with (seed, epoch), so
/// an epoch's batches are the same whether the run started at epoch 0 or resumed before it.
public struct DataLoader {
    /// All images as one uint8 tensor [N, C, H, W].
    public let images: Tensor
    /// All labels as one int64 tensor [N].
    public let labels: Tensor
    public let count: Int
    public let batchSize: Int
    public let augment: Bool
    public let seed: UInt64
    /// Where the batches are handed out.
    public let device: Device

    /// Creates a loader over `set` whose batches come out on `device`.
    public init(_ set: ImageSet, batchSize: Int, augment: Bool = false, seed: UInt64 = 0, device: Device = .cpu) {
        images = Tensor(set.pixels, shape: [set.count, set.channels, set.height, set.width])
        labels = Tensor(set.labels.map(Int64.init))
        count = set.count
        self.batchSize = batchSize
        self.augment = augment
        self.seed = seed
        self.device = device
    }

    /// The number of batches per epoch (the last one may be smaller; `dropLast` drops it).
    public func batchCount(dropLast: Bool) -> Int {
        dropLast ? count / batchSize : (count + batchSize - 1) / batchSize
    }

    /// The generator for one epoch's shuffling and augmentation; stream 0 is the training order,
    /// other streams are independent passes (stream 1: DVERGE's distillation targets).
    static func generator(seed: UInt64, epoch: Int, stream: UInt64 = 0) -> SeededGenerator {
        var mixed = seed ^ (0x9E37_79B9_7F4A_7C15 &* UInt64(epoch + 1)) ^ (0xD1B5_4A32_D192_ED03 &* stream)
        return SeededGenerator(seed: SeededGenerator.splitMix64(&mixed))
    }

    /// One epoch of shuffled (and, if enabled, augmented) batches.
    ///
    /// - Parameters:
    ///   - epoch: the 0-based epoch, which seeds the order together with the loader's seed.
    ///   - dropLast: leave out the last, smaller batch.
    ///   - stream: 0 for the training order; another value gives an independent shuffle of the
    ///     same examples (same batch sizes), seeded by (seed, epoch, stream).
    public func trainingBatches(epoch: Int, dropLast: Bool = true, stream: UInt64 = 0) -> [Batch] {
        var generator = Self.generator(seed: seed, epoch: epoch, stream: stream)
        let order = shuffledIndices(count: count, using: &generator)
        return (0..<batchCount(dropLast: dropLast)).map { index in
            let slice = Array(order[(index * batchSize)..<Swift.min((index + 1) * batchSize, count)])
            let batch = hostBatch(slice)
            return (augment ? Batch(images: Self.augmented(batch.images, using: &generator), labels: batch.labels) : batch)
                .on(device)
        }
    }

    /// The examples in order, in batches of `size`, without augmentation (for evaluation).
    public func orderedBatches(size: Int? = nil) -> [Batch] {
        let size = size ?? batchSize
        return stride(from: 0, to: count, by: size).map { start in
            batch(Array(start..<Swift.min(start + size, count)))
        }
    }

    /// The examples at `indices`, as one batch on ``device``.
    public func batch(_ indices: [Int]) -> Batch {
        hostBatch(indices).on(device)
    }

    /// The examples at `indices`, as one batch in host memory.
    func hostBatch(_ indices: [Int]) -> Batch {
        let index = Tensor(indices.map(Int64.init))
        let pixels = images.indexSelected(alongAxis: 0, indices: index).converted(to: .float32) / 255
        return Batch(images: pixels, labels: labels.indexSelected(alongAxis: 0, indices: index))
    }

    /// Random crop after zero padding by 4 and a horizontal flip with probability ½, per image
    /// (the CIFAR augmentation of He et al. 2016).
    static func augmented(_ images: Tensor, using generator: inout SeededGenerator, padding: Int = 4) -> Tensor {
        let shape = images.shape
        let height = shape[2], width = shape[3]
        let padded = images.padded([padding, padding, padding, padding])
        let crops = (0..<shape[0]).map { index -> Tensor in
            let top = generator.nextInt(below: 2 * padding + 1)
            let left = generator.nextInt(below: 2 * padding + 1)
            let flip = generator.nextInt(below: 2) == 1
            let crop = padded[index].sliced(alongAxis: 1, from: top, to: top + height).sliced(
                alongAxis: 2, from: left, to: left + width)
            return flip ? crop.flipped(alongAxes: [2]) : crop
        }
        return Tensor.stack(crops, alongAxis: 0)
    }
}
