import EDLCMCore
import Foundation

/// Loads a whole split of a dataset into memory as 8-bit pixels.
public enum DatasetReader {
    /// Loads `split` of dataset `name` from `directory`.
    ///
    /// - Fashion-MNIST and MNIST: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
    ///   `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` in `directory`, each raw or `.gz`
    ///   (the raw name preferred); 1×28×28, 10 classes.
    /// - CIFAR-10 / CIFAR-100: the binary version in `directory` or its subfolder
    ///   `cifar-10-batches-bin` / `cifar-100-binary`; 3×32×32, 10 / 100 (fine) classes.
    /// - Tiny ImageNet: `directory` or its subfolder `tiny-imagenet-200`, whose `wnids.txt`
    ///   must list exactly 200 wnids; `test` is the labelled `val` split; 3×64×64, 200 classes.
    ///
    /// - Returns: an image set whose shape and class count are those of `name`.
    /// - Throws: `EDLCMError` naming the file (and, for a missing file, the folder searched).
    public static func load(_ name: DatasetName, split: DatasetSplit, directory: URL) throws
        -> ImageSet
    {
        switch name {
        case .fashionMNIST, .mnist:
            return try IDXFile.load(
                split: split, directory: directory, height: name.height, width: name.width,
                classCount: name.classCount)
        case .cifar10:
            return try CIFARBinary.load(.cifar10, split: split, directory: directory)
        case .cifar100:
            return try CIFARBinary.load(.cifar100, split: split, directory: directory)
        case .tinyImageNet:
            return try TinyImageNet.load(
                split: split, directory: directory, expectedClassCount: name.classCount)
        }
    }

    /// Loads `split` of dataset `name` from its `defaultDirectory`.
    ///
    /// - Throws: `EDLCMError` when the dataset has no default folder (pass one to
    ///   `load(_:split:directory:)`), or for any problem that method reports.
    public static func load(_ name: DatasetName, split: DatasetSplit) throws -> ImageSet {
        guard let path = name.defaultDirectory else {
            throw EDLCMError(
                "dataset \(name.rawValue) has no default folder; give the folder that holds it")
        }
        return try load(name, split: split, directory: URL(fileURLWithPath: path, isDirectory: true))
    }
}
