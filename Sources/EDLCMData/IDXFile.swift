import EDLCMCore
import Foundation

/// Readers for the IDX files of MNIST and Fashion-MNIST, raw or gzipped.
///
/// An IDX file starts with a big-endian magic number `0x0000TTDD` (TT the element type,
/// 0x08 for unsigned bytes; DD the number of dimensions), then one big-endian 32-bit size per
/// dimension, then the elements. Images are `0x00000803` (count, rows, columns); labels are
/// `0x00000801` (count).
public enum IDXFile {
    /// Magic number of an unsigned-byte, 3-dimensional IDX file (images).
    public static let imagesMagic: UInt32 = 0x0000_0803
    /// Magic number of an unsigned-byte, 1-dimensional IDX file (labels).
    public static let labelsMagic: UInt32 = 0x0000_0801

    /// The contents of an images file: `count` images of `rows × columns` bytes, row by row.
    public struct Images: Sendable, Equatable {
        /// Number of images.
        public let count: Int
        /// Rows per image.
        public let rows: Int
        /// Columns per image.
        public let columns: Int
        /// `count * rows * columns` pixel bytes, image after image.
        public let pixels: [UInt8]
    }

    /// Reads an IDX images file (`0x00000803`), raw or gzipped.
    ///
    /// - Parameters:
    ///   - url: the file; gunzipped when its name ends in `.gz` or it starts with 1f 8b.
    ///   - rows: the image height the dataset requires, or `nil` to accept any.
    ///   - columns: the image width the dataset requires, or `nil` to accept any.
    /// - Throws: `EDLCMError` naming the file when it is missing, unreadable, corrupt gzip,
    ///   shorter than its header, has another magic number, other dimensions than required,
    ///   or a size other than exactly 16 + count × rows × columns bytes.
    public static func readImages(at url: URL, rows: Int? = nil, columns: Int? = nil) throws
        -> Images
    {
        try parseImages(FileBytes.readMaybeGzipped(url), name: url.path, rows: rows, columns: columns)
    }

    /// Parses the bytes of an IDX images file (already gunzipped); see ``readImages(at:rows:columns:)``.
    package static func parseImages(_ bytes: [UInt8], name: String, rows: Int? = nil, columns: Int? = nil) throws
        -> Images
    {
        try checkHeader(bytes, magic: imagesMagic, dimensions: 3, name: name)
        let count = Int(bigEndianWord(bytes, at: 4))
        let fileRows = Int(bigEndianWord(bytes, at: 8))
        let fileColumns = Int(bigEndianWord(bytes, at: 12))
        if let rows, let columns, fileRows != rows || fileColumns != columns {
            throw EDLCMError(
                "\(name): images are \(fileRows)×\(fileColumns), expected \(rows)×\(columns)")
        }
        if let rows, fileRows != rows {
            throw EDLCMError("\(name): images have \(fileRows) rows, expected \(rows)")
        }
        if let columns, fileColumns != columns {
            throw EDLCMError("\(name): images have \(fileColumns) columns, expected \(columns)")
        }
        guard let payload = checkedProduct([count, fileRows, fileColumns]),
            let expected = checkedSum(16, payload)
        else {
            throw EDLCMError(
                "\(name): header claims \(count) images of \(fileRows)×\(fileColumns), too large")
        }
        try checkSize(bytes.count, expected: expected, what: "\(count) images of \(fileRows)×\(fileColumns)", name: name)
        return Images(
            count: count, rows: fileRows, columns: fileColumns, pixels: Array(bytes[16...]))
    }

    /// Reads an IDX labels file (`0x00000801`), raw or gzipped.
    ///
    /// - Parameters:
    ///   - url: the file; gunzipped when its name ends in `.gz` or it starts with 1f 8b.
    ///   - classCount: when given, every label must be below it.
    /// - Throws: `EDLCMError` naming the file when it is missing, unreadable, corrupt gzip,
    ///   shorter than its header, has another magic number, a size other than exactly
    ///   8 + count bytes, or a label of `classCount` or more.
    public static func readLabels(at url: URL, classCount: Int? = nil) throws -> [Int32] {
        try parseLabels(FileBytes.readMaybeGzipped(url), name: url.path, classCount: classCount)
    }

    /// Parses the bytes of an IDX labels file (already gunzipped); see ``readLabels(at:classCount:)``.
    package static func parseLabels(_ bytes: [UInt8], name: String, classCount: Int? = nil) throws -> [Int32] {
        try checkHeader(bytes, magic: labelsMagic, dimensions: 1, name: name)
        let count = Int(bigEndianWord(bytes, at: 4))
        try checkSize(bytes.count, expected: 8 + count, what: "\(count) labels", name: name)
        var labels = [Int32]()
        labels.reserveCapacity(count)
        for index in 0..<count {
            let label = bytes[8 + index]
            if let classCount, Int(label) >= classCount {
                throw EDLCMError(
                    "\(name): label \(label) of item \(index) is out of range 0..<\(classCount)")
            }
            labels.append(Int32(label))
        }
        return labels
    }

    /// The file `name` in `directory`, or else `name.gz` there (the raw name is preferred).
    ///
    /// - Throws: `EDLCMError` saying which file was looked for and in which folder.
    public static func locate(_ name: String, in directory: URL) throws -> URL {
        let raw = directory.appendingPathComponent(name)
        if FileBytes.isFile(raw) { return raw }
        let gzipped = directory.appendingPathComponent(name + ".gz")
        if FileBytes.isFile(gzipped) { return gzipped }
        throw EDLCMError("\(name) (or \(name).gz) not found in folder \(directory.path)")
    }

    /// The base names (without `.gz`) of the images and labels files of a split.
    public static func fileNames(for split: DatasetSplit) -> (images: String, labels: String) {
        switch split {
        case .train: ("train-images-idx3-ubyte", "train-labels-idx1-ubyte")
        case .test: ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")
        }
    }

    /// Loads one split of an MNIST-layout dataset from `directory`: `train-images-idx3-ubyte`
    /// and `train-labels-idx1-ubyte` for train, `t10k-…` for test, each raw or `.gz`.
    ///
    /// - Returns: a one-channel image set of `height × width` images.
    /// - Throws: `EDLCMError` naming the file for any problem `readImages` or `readLabels`
    ///   reports, or when the two files hold different numbers of items.
    public static func load(
        split: DatasetSplit, directory: URL, height: Int = 28, width: Int = 28,
        classCount: Int = 10
    ) throws -> ImageSet {
        let names = fileNames(for: split)
        let imagesURL = try locate(names.images, in: directory)
        let labelsURL = try locate(names.labels, in: directory)
        let images = try readImages(at: imagesURL, rows: height, columns: width)
        let labels = try readLabels(at: labelsURL, classCount: classCount)
        guard images.count == labels.count else {
            throw EDLCMError(
                "\(labelsURL.path): holds \(labels.count) labels but \(imagesURL.lastPathComponent) "
                    + "holds \(images.count) images")
        }
        return ImageSet(
            uncheckedPixels: images.pixels, labels: labels, count: images.count, channels: 1,
            height: height, width: width, classCount: classCount)
    }

    // MARK: - Private

    private static func bigEndianWord(_ bytes: [UInt8], at offset: Int) -> UInt32 {
        UInt32(bytes[offset]) << 24 | UInt32(bytes[offset + 1]) << 16
            | UInt32(bytes[offset + 2]) << 8 | UInt32(bytes[offset + 3])
    }

    private static func checkHeader(_ bytes: [UInt8], magic: UInt32, dimensions: Int, name: String)
        throws
    {
        let kind = dimensions == 1 ? "labels" : "images"
        let headerSize = 4 + 4 * dimensions
        guard !bytes.isEmpty else {
            throw EDLCMError("\(name): empty file, expected an IDX \(kind) file")
        }
        guard bytes.count >= 4 else {
            throw EDLCMError(
                "\(name): truncated IDX header (\(bytes.count) bytes, need \(headerSize))")
        }
        let found = bigEndianWord(bytes, at: 0)
        guard found == magic else {
            throw EDLCMError(
                "\(name): wrong magic number \(hex(found)), expected \(hex(magic)) "
                    + "(IDX unsigned-byte \(kind), \(dimensions) dimension\(dimensions == 1 ? "" : "s"))")
        }
        guard bytes.count >= headerSize else {
            throw EDLCMError(
                "\(name): truncated IDX header (\(bytes.count) bytes, need \(headerSize))")
        }
    }

    private static func checkSize(_ size: Int, expected: Int, what: String, name: String)
        throws
    {
        if size < expected {
            throw EDLCMError(
                "\(name): truncated: header declares \(what) (\(expected) bytes) "
                    + "but the data is \(size) bytes")
        }
        if size > expected {
            throw EDLCMError(
                "\(name): size mismatch: header declares \(what) (\(expected) bytes) "
                    + "but the data is \(size) bytes (\(size - expected) extra)")
        }
    }

    private static func hex(_ value: UInt32) -> String {
        let digits = String(value, radix: 16)
        return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
    }
}
