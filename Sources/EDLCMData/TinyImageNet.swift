import Dispatch
import EDLCMCore
import Foundation

/// Reader for Tiny ImageNet (`tiny-imagenet-200`): 64×64 RGB JPEGs of 200 ImageNet classes.
///
/// Layout, under the folder `tiny-imagenet-200` (or the folder given itself):
/// - `wnids.txt`: one WordNet id per line; the class index of a wnid is its line number
///   (blank lines ignored).
/// - train: `train/<wnid>/images/*.JPEG`, classes in `wnids.txt` order, each class's images
///   sorted by file name (byte order).
/// - test: the labelled `val` split. `val/val_annotations.txt` has lines
///   `file<TAB>wnid<TAB>x<TAB>y<TAB>w<TAB>h` (the bounding box is ignored); images are in
///   `val/images/`, read in the order of the annotation lines.
///
/// Grayscale JPEGs are converted to three equal channels; an image of another size than
/// 64×64 is an error. The number of classes is the number of wnids in `wnids.txt`, which must
/// be 1…200 (the real dataset has exactly 200; `DatasetReader` requires exactly 200 so that the
/// class count matches `DatasetName.tinyImageNet.classCount`).
public enum TinyImageNet {
    /// The folder the official archive extracts to.
    public static let standardSubfolder = "tiny-imagenet-200"
    /// Width and height of every image.
    public static let imageSide = 64
    /// The most classes a `wnids.txt` may list (the real dataset's count).
    public static let maximumClassCount = 200

    /// Reads `wnids.txt`: one wnid per line, blank lines and surrounding spaces ignored.
    ///
    /// - Throws: `EDLCMError` naming the file when it is missing, unreadable, not UTF-8, lists
    ///   no wnid or more than 200, lists a wnid twice, or a wnid that is not a plain name
    ///   (containing `/`, whitespace, or being `.` or `..`).
    public static func readWNIDs(at url: URL) throws -> [String] {
        let lines = try textLines(url)
        var wnids = [String]()
        var seen = [String: Int]()
        for (number, line) in lines.enumerated() {
            let wnid = line.trimmingCharacters(in: .whitespaces)
            if wnid.isEmpty { continue }
            guard isPlainName(wnid) else {
                throw EDLCMError("\(url.path): line \(number + 1): invalid wnid \"\(wnid)\"")
            }
            if let first = seen[wnid] {
                throw EDLCMError(
                    "\(url.path): line \(number + 1): wnid \(wnid) repeats line \(first)")
            }
            seen[wnid] = number + 1
            wnids.append(wnid)
        }
        guard !wnids.isEmpty else { throw EDLCMError("\(url.path): lists no wnids") }
        guard wnids.count <= maximumClassCount else {
            throw EDLCMError(
                "\(url.path): lists \(wnids.count) wnids, Tiny ImageNet has at most "
                    + "\(maximumClassCount) classes")
        }
        return wnids
    }

    /// Decodes one Tiny ImageNet JPEG into 3 × 64 × 64 bytes, CHW (red plane, green, blue);
    /// a grayscale JPEG gives three equal planes.
    ///
    /// - Throws: `EDLCMError` naming the file when it is missing, unreadable, not a decodable
    ///   JPEG, or not 64×64.
    public static func decodeImage(at url: URL) throws -> [UInt8] {
        var planes = [UInt8](repeating: 0, count: 3 * imageSide * imageSide)
        try planes.withUnsafeMutableBufferPointer { try decodeImage(at: url, into: $0) }
        return planes
    }

    /// Loads one split.
    ///
    /// - Parameters:
    ///   - split: `train`, or `test` for the labelled `val` split.
    ///   - directory: the folder holding `tiny-imagenet-200`, or that folder itself.
    ///   - expectedClassCount: when given, `wnids.txt` must list exactly this many wnids.
    /// - Returns: a 3×64×64 image set whose class count is the number of wnids.
    /// - Throws: `EDLCMError` naming the file or folder for a missing `wnids.txt`, `train/<wnid>/images`
    ///   folder, `val/val_annotations.txt` or `val/images` folder, a class folder without
    ///   JPEGs, an annotation line that is malformed or names an unknown wnid, a missing
    ///   image, or an image that does not decode or is not 64×64.
    public static func load(split: DatasetSplit, directory: URL, expectedClassCount: Int? = nil)
        throws -> ImageSet
    {
        let root = try resolveRoot(directory)
        let wnidsURL = root.appendingPathComponent("wnids.txt")
        let wnids = try readWNIDs(at: wnidsURL)
        if let expectedClassCount, wnids.count != expectedClassCount {
            throw EDLCMError(
                "\(wnidsURL.path): lists \(wnids.count) wnids, expected \(expectedClassCount)")
        }
        let items: [(url: URL, label: Int32)]
        switch split {
        case .train: items = try trainItems(root: root, wnids: wnids)
        case .test: items = try validationItems(root: root, wnids: wnids)
        }
        let pixels = try decodeAll(items.map(\.url))
        return ImageSet(
            uncheckedPixels: pixels, labels: items.map(\.label), count: items.count, channels: 3,
            height: imageSide, width: imageSide, classCount: wnids.count)
    }

    // MARK: - Layout

    private static func resolveRoot(_ directory: URL) throws -> URL {
        if FileBytes.isFile(directory.appendingPathComponent("wnids.txt")) { return directory }
        let subfolder = directory.appendingPathComponent(standardSubfolder)
        if FileBytes.isFile(subfolder.appendingPathComponent("wnids.txt")) { return subfolder }
        throw EDLCMError(
            "Tiny ImageNet file wnids.txt not found in folder \(directory.path) or \(subfolder.path)")
    }

    private static func trainItems(root: URL, wnids: [String]) throws -> [(url: URL, label: Int32)] {
        let train = root.appendingPathComponent("train")
        guard FileBytes.isDirectory(train) else {
            throw EDLCMError("Tiny ImageNet folder train not found in folder \(root.path)")
        }
        var items = [(url: URL, label: Int32)]()
        for (index, wnid) in wnids.enumerated() {
            let images = train.appendingPathComponent(wnid).appendingPathComponent("images")
            guard FileBytes.isDirectory(images) else {
                throw EDLCMError(
                    "Tiny ImageNet folder \(wnid)/images (class \(index)) not found in folder "
                        + train.path)
            }
            let names = try FileBytes.contents(of: images).filter { name in
                let lower = name.lowercased()
                return (lower.hasSuffix(".jpeg") || lower.hasSuffix(".jpg"))
                    && FileBytes.isFile(images.appendingPathComponent(name))
            }.sorted(by: byteOrder)
            guard !names.isEmpty else {
                throw EDLCMError("\(images.path): no JPEG files for class \(wnid)")
            }
            for name in names {
                items.append((images.appendingPathComponent(name), Int32(index)))
            }
        }
        return items
    }

    private static func validationItems(root: URL, wnids: [String]) throws
        -> [(url: URL, label: Int32)]
    {
        let val = root.appendingPathComponent("val")
        let annotations = val.appendingPathComponent("val_annotations.txt")
        guard FileBytes.isFile(annotations) else {
            throw EDLCMError("Tiny ImageNet file val_annotations.txt not found in folder \(val.path)")
        }
        let images = val.appendingPathComponent("images")
        guard FileBytes.isDirectory(images) else {
            throw EDLCMError("Tiny ImageNet folder images not found in folder \(val.path)")
        }
        var classIndex = [String: Int32]()
        for (index, wnid) in wnids.enumerated() { classIndex[wnid] = Int32(index) }
        var items = [(url: URL, label: Int32)]()
        var seen = [String: Int]()
        for (number, rawLine) in try textLines(annotations).enumerated() {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false)
            guard fields.count >= 2 else {
                throw EDLCMError(
                    "\(annotations.path): line \(number + 1): expected file<TAB>wnid<TAB>x<TAB>y<TAB>w<TAB>h")
            }
            let file = String(fields[0]).trimmingCharacters(in: .whitespaces)
            let wnid = String(fields[1]).trimmingCharacters(in: .whitespaces)
            guard isPlainName(file) else {
                throw EDLCMError("\(annotations.path): line \(number + 1): invalid file name \"\(file)\"")
            }
            guard let label = classIndex[wnid] else {
                throw EDLCMError(
                    "\(annotations.path): line \(number + 1): unknown wnid \(wnid) for \(file) "
                        + "(not in wnids.txt)")
            }
            if let first = seen[file] {
                throw EDLCMError(
                    "\(annotations.path): line \(number + 1): \(file) already annotated on line \(first)")
            }
            seen[file] = number + 1
            let url = images.appendingPathComponent(file)
            guard FileBytes.isFile(url) else {
                throw EDLCMError(
                    "Tiny ImageNet image \(file) (\(annotations.lastPathComponent) line \(number + 1)) "
                        + "not found in folder \(images.path)")
            }
            items.append((url, label))
        }
        guard !items.isEmpty else {
            throw EDLCMError("\(annotations.path): annotates no images")
        }
        return items
    }

    // MARK: - Decoding

    /// A buffer shared by the decoding workers, each writing only its own images' bytes.
    private struct SharedBuffer<Element>: @unchecked Sendable {
        let buffer: UnsafeMutableBufferPointer<Element>
    }

    private static func decodeAll(_ urls: [URL]) throws -> [UInt8] {
        let imageSize = 3 * imageSide * imageSide
        var pixels = [UInt8](repeating: 0, count: urls.count * imageSize)
        var errors = [EDLCMError?](repeating: nil, count: urls.count)
        let batch = 64
        let batches = (urls.count + batch - 1) / batch
        try pixels.withUnsafeMutableBufferPointer { pixelBuffer in
            try errors.withUnsafeMutableBufferPointer { errorBuffer in
                let sharedPixels = SharedBuffer(buffer: pixelBuffer)
                let sharedErrors = SharedBuffer(buffer: errorBuffer)
                DispatchQueue.concurrentPerform(iterations: batches) { batchIndex in
                    let start = batchIndex * batch
                    for index in start..<min(urls.count, start + batch) {
                        let slice = UnsafeMutableBufferPointer(
                            rebasing: sharedPixels.buffer[index * imageSize..<(index + 1) * imageSize])
                        do {
                            try decodeImage(at: urls[index], into: slice)
                        } catch let error as EDLCMError {
                            sharedErrors.buffer[index] = error
                        } catch {
                            sharedErrors.buffer[index] = EDLCMError(
                                "\(urls[index].path): \(error)")
                        }
                    }
                }
                if let first = errorBuffer.first(where: { $0 != nil }), let first {
                    throw first
                }
            }
        }
        return pixels
    }

    private static func decodeImage(at url: URL, into planes: UnsafeMutableBufferPointer<UInt8>)
        throws
    {
        try decodeImage(FileBytes.read(url), name: url.path, into: planes)
    }

    /// Decodes one Tiny ImageNet JPEG (64×64, grey or RGB) into 3 planes of `imageSide²` bytes.
    package static func decodeImage(_ bytes: [UInt8], name: String, into planes: UnsafeMutableBufferPointer<UInt8>)
        throws
    {
        let image = try JPEGCodec.decode(bytes, name: name)
        guard image.width == imageSide, image.height == imageSide else {
            throw EDLCMError(
                "\(name): image is \(image.width)×\(image.height), expected "
                    + "\(imageSide)×\(imageSide)")
        }
        let area = imageSide * imageSide
        let source = image.pixels
        if image.channels == 1 {
            for index in 0..<area {
                let value = source[index]
                planes[index] = value
                planes[area + index] = value
                planes[2 * area + index] = value
            }
        } else {
            for index in 0..<area {
                planes[index] = source[3 * index]
                planes[area + index] = source[3 * index + 1]
                planes[2 * area + index] = source[3 * index + 2]
            }
        }
    }

    // MARK: - Text

    private static func textLines(_ url: URL) throws -> [String] {
        let bytes = try FileBytes.read(url)
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw EDLCMError("\(url.path): not UTF-8 text")
        }
        return text.split(separator: "\n", omittingEmptySubsequences: false).map { line in
            line.hasSuffix("\r") ? String(line.dropLast()) : String(line)
        }
    }

    private static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".."
            && !name.contains(where: { $0 == "/" || $0.isWhitespace || $0 == "\0" })
    }
}
