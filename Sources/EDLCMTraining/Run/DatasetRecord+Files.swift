import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import Foundation

extension DatasetRecord {
    /// Records the dataset a run reads, with the SHA-256 of its files.
    ///
    /// For Tiny ImageNet, whose 110 000 images would take longer to hash than a short run takes to
    /// train, the class list and the validation annotations are hashed.
    public init(name: DatasetName, directory: URL, trainCount: Int, testCount: Int, validationCount: Int? = nil) throws {
        self.name = name
        self.directory = directory.path
        self.trainCount = trainCount
        self.testCount = testCount
        self.validationCount = validationCount
        files = try Self.files(of: name, in: directory).map { url in
            let attributes = try? FileManager.default.attributesOfItem(atPath: url.path)
            return File(path: url.path, bytes: (attributes?[.size] as? NSNumber)?.intValue ?? 0, sha256: try sha256Hex(of: url))
        }
    }

    /// The files a dataset is read from.
    static func files(of name: DatasetName, in directory: URL) throws -> [URL] {
        switch name {
        case .fashionMNIST, .mnist:
            return try [DatasetSplit.train, .test].flatMap { split in
                let names = IDXFile.fileNames(for: split)
                return [try IDXFile.locate(names.images, in: directory), try IDXFile.locate(names.labels, in: directory)]
            }
        case .cifar10, .cifar100:
            let variant: CIFARBinary.Variant = name == .cifar10 ? .cifar10 : .cifar100
            let nested = directory.appendingPathComponent(variant.standardSubfolder)
            let root = FileManager.default.fileExists(atPath: nested.path) ? nested : directory
            return (variant.fileNames(for: .train) + variant.fileNames(for: .test)).map { root.appendingPathComponent($0) }
        case .tinyImageNet:
            let nested = directory.appendingPathComponent(TinyImageNet.standardSubfolder)
            let root = FileManager.default.fileExists(atPath: nested.path) ? nested : directory
            return [root.appendingPathComponent("wnids.txt"), root.appendingPathComponent("val/val_annotations.txt")]
        }
    }
}
