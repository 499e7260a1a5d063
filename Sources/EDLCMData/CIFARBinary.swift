import EDLCMCore
import Foundation

/// Readers for the binary versions of CIFAR-10 and CIFAR-100.
///
/// A file is a sequence of fixed-size records with no header. A CIFAR-10 record is one label
/// byte then 3072 pixel bytes; a CIFAR-100 record is a coarse label byte (20 superclasses), a
/// fine label byte (100 classes) then 3072 pixel bytes. The pixels are the red 32×32 plane, then
/// green, then blue, each row by row — already the CHW layout of `ImageSet`.
public enum CIFARBinary {
    /// Which CIFAR dataset a file belongs to.
    public enum Variant: Sendable, CaseIterable {
        /// CIFAR-10: 10 classes, record = label + pixels.
        case cifar10
        /// CIFAR-100: record = coarse label + fine label + pixels; the fine label is used.
        case cifar100

        /// Bytes of pixels per record: 3 × 32 × 32.
        public static let pixelBytes = 3 * 32 * 32

        /// Label bytes before the pixels: 1 (CIFAR-10) or 2 (CIFAR-100).
        public var labelBytes: Int { self == .cifar10 ? 1 : 2 }

        /// Bytes per record: 3073 (CIFAR-10) or 3074 (CIFAR-100).
        public var recordSize: Int { labelBytes + Self.pixelBytes }

        /// Number of classes of the label that is used: 10 or 100 (fine labels).
        public var classCount: Int { self == .cifar10 ? 10 : 100 }

        /// Number of CIFAR-100 coarse classes (superclasses), checked but not returned.
        public static let coarseClassCount = 20

        /// The standard folder the archive extracts to: `cifar-10-batches-bin` or `cifar-100-binary`.
        public var standardSubfolder: String {
            self == .cifar10 ? "cifar-10-batches-bin" : "cifar-100-binary"
        }

        /// The dataset's written name, for messages.
        public var displayName: String { self == .cifar10 ? "CIFAR-10" : "CIFAR-100" }

        /// The files of a split, in reading order: `data_batch_1.bin`…`data_batch_5.bin` and
        /// `test_batch.bin` (CIFAR-10); `train.bin` and `test.bin` (CIFAR-100).
        public func fileNames(for split: DatasetSplit) -> [String] {
            switch (self, split) {
            case (.cifar10, .train): (1...5).map { "data_batch_\($0).bin" }
            case (.cifar10, .test): ["test_batch.bin"]
            case (.cifar100, .train): ["train.bin"]
            case (.cifar100, .test): ["test.bin"]
            }
        }
    }

    /// Reads one CIFAR binary file.
    ///
    /// - Returns: a 3×32×32 image set with the file's records in order; for CIFAR-100 the
    ///   labels are the fine labels.
    /// - Throws: `EDLCMError` naming the file when it is missing, unreadable, empty, not a
    ///   whole number of records, or holds a label out of range (CIFAR-10 label ≥ 10;
    ///   CIFAR-100 coarse label ≥ 20 or fine label ≥ 100).
    public static func read(_ variant: Variant, file url: URL) throws -> ImageSet {
        try parse(variant, bytes: FileBytes.read(url), name: url.path)
    }

    /// Parses the bytes of one CIFAR binary file; see ``read(_:file:)``.
    package static func parse(_ variant: Variant, bytes: [UInt8], name: String) throws -> ImageSet {
        var pixels = [UInt8]()
        var labels = [Int32]()
        try append(variant, bytes: bytes, name: name, pixels: &pixels, labels: &labels)
        return ImageSet(
            uncheckedPixels: pixels, labels: labels, count: labels.count, channels: 3,
            height: 32, width: 32, classCount: variant.classCount)
    }

    /// Loads one split from `directory` or from its standard subfolder (`cifar-10-batches-bin`
    /// or `cifar-100-binary`), whichever holds the split's first file.
    ///
    /// - Throws: `EDLCMError` naming the missing file and the folders searched, or naming the
    ///   file for any problem `read` reports.
    public static func load(_ variant: Variant, split: DatasetSplit, directory: URL) throws
        -> ImageSet
    {
        let names = variant.fileNames(for: split)
        let folder = try resolveFolder(variant, firstFile: names[0], directory: directory)
        var pixels = [UInt8]()
        var labels = [Int32]()
        for name in names {
            let url = folder.appendingPathComponent(name)
            guard FileBytes.isFile(url) else {
                throw EDLCMError(
                    "\(variant.displayName) file \(name) not found in folder \(folder.path)")
            }
            let bytes = try FileBytes.read(url)
            if pixels.isEmpty {
                let estimate = (bytes.count / variant.recordSize) * names.count
                pixels.reserveCapacity(estimate * Variant.pixelBytes)
                labels.reserveCapacity(estimate)
            }
            try append(variant, bytes: bytes, name: url.path, pixels: &pixels, labels: &labels)
        }
        return ImageSet(
            uncheckedPixels: pixels, labels: labels, count: labels.count, channels: 3,
            height: 32, width: 32, classCount: variant.classCount)
    }

    // MARK: - Private

    private static func resolveFolder(_ variant: Variant, firstFile: String, directory: URL) throws
        -> URL
    {
        if FileBytes.isFile(directory.appendingPathComponent(firstFile)) { return directory }
        let subfolder = directory.appendingPathComponent(variant.standardSubfolder)
        if FileBytes.isFile(subfolder.appendingPathComponent(firstFile)) { return subfolder }
        throw EDLCMError(
            "\(variant.displayName) file \(firstFile) not found in folder \(directory.path) "
                + "or \(subfolder.path)")
    }

    private static func append(
        _ variant: Variant, bytes: [UInt8], name: String, pixels: inout [UInt8],
        labels: inout [Int32]
    ) throws {
        let recordSize = variant.recordSize
        guard !bytes.isEmpty else {
            throw EDLCMError("\(name): empty file, expected \(variant.displayName) records")
        }
        guard bytes.count % recordSize == 0 else {
            throw EDLCMError(
                "\(name): size \(bytes.count) bytes is not a multiple of the "
                    + "\(variant.displayName) record size \(recordSize) (truncated or foreign file)")
        }
        let records = bytes.count / recordSize
        for record in 0..<records {
            let start = record * recordSize
            let label: UInt8
            switch variant {
            case .cifar10:
                label = bytes[start]
            case .cifar100:
                let coarse = bytes[start]
                guard Int(coarse) < Variant.coarseClassCount else {
                    throw EDLCMError(
                        "\(name): coarse label \(coarse) of record \(record) is out of range "
                            + "0..<\(Variant.coarseClassCount)")
                }
                label = bytes[start + 1]
            }
            guard Int(label) < variant.classCount else {
                throw EDLCMError(
                    "\(name): label \(label) of record \(record) is out of range "
                        + "0..<\(variant.classCount)")
            }
            labels.append(Int32(label))
            let pixelStart = start + variant.labelBytes
            pixels.append(contentsOf: bytes[pixelStart..<(pixelStart + Variant.pixelBytes)])
        }
    }
}
