import EDLCMCore

/// A set of labelled images held as 8-bit pixels, in NCHW order.
///
/// Image `i` occupies `pixels[i * channels * height * width ..< (i + 1) * channels * height * width]`,
/// one plane per channel (for RGB: the red plane, then green, then blue), each plane row by row.
/// Pixel values are the file's bytes, in `0...255`; labels lie in `0..<classCount`.
public struct ImageSet: Sendable, Equatable {
    /// All pixels, image after image, each image channel plane after channel plane.
    public let pixels: [UInt8]
    /// One class index per image, in `0..<classCount`.
    public let labels: [Int32]
    /// Number of images.
    public let count: Int
    /// Channels per image (1 grayscale, 3 RGB).
    public let channels: Int
    /// Image height in pixels.
    public let height: Int
    /// Image width in pixels.
    public let width: Int
    /// Number of classes.
    public let classCount: Int

    /// Bytes per image: `channels * height * width`.
    public var imageSize: Int { channels * height * width }

    /// Creates an image set after checking that the sizes agree.
    ///
    /// - Throws: `EDLCMError` when a dimension is not positive, when `pixels` does not hold
    ///   exactly `count` images of `channels × height × width`, when `labels` does not hold
    ///   `count` labels, or when a label is outside `0..<classCount`.
    public init(
        pixels: [UInt8], labels: [Int32], count: Int, channels: Int, height: Int, width: Int,
        classCount: Int
    ) throws {
        guard count >= 0, channels > 0, height > 0, width > 0, classCount > 0 else {
            throw EDLCMError(
                "image set: invalid shape count \(count), channels \(channels), "
                    + "height \(height), width \(width), classes \(classCount)")
        }
        guard let imageSize = checkedProduct([channels, height, width]),
            let total = checkedProduct([count, imageSize]), total == pixels.count
        else {
            throw EDLCMError(
                "image set: \(pixels.count) pixel bytes do not make \(count) images of "
                    + "\(channels)×\(height)×\(width)")
        }
        guard labels.count == count else {
            throw EDLCMError("image set: \(labels.count) labels for \(count) images")
        }
        if let bad = labels.firstIndex(where: { $0 < 0 || Int($0) >= classCount }) {
            throw EDLCMError(
                "image set: label \(labels[bad]) of image \(bad) is outside 0..<\(classCount)")
        }
        self.init(
            uncheckedPixels: pixels, labels: labels, count: count, channels: channels,
            height: height, width: width, classCount: classCount)
    }

    /// Creates an image set whose sizes the caller has already checked.
    init(
        uncheckedPixels pixels: [UInt8], labels: [Int32], count: Int, channels: Int, height: Int,
        width: Int, classCount: Int
    ) {
        self.pixels = pixels
        self.labels = labels
        self.count = count
        self.channels = channels
        self.height = height
        self.width = width
        self.classCount = classCount
    }

    /// The pixels of image `index` (`channels × height × width` bytes, CHW).
    ///
    /// - Precondition: `index` is in `0..<count`.
    public func image(_ index: Int) -> ArraySlice<UInt8> {
        precondition(index >= 0 && index < count, "image index \(index) outside 0..<\(count)")
        return pixels[index * imageSize..<(index + 1) * imageSize]
    }

    /// The images at `indices`, in the order given (repeats allowed), with the same shape and
    /// class count.
    ///
    /// - Precondition: every index is in `0..<count`.
    public func subset(_ indices: [Int]) -> ImageSet {
        let size = imageSize
        var newPixels = [UInt8]()
        newPixels.reserveCapacity(indices.count * size)
        var newLabels = [Int32]()
        newLabels.reserveCapacity(indices.count)
        for index in indices {
            precondition(index >= 0 && index < count, "subset index \(index) outside 0..<\(count)")
            newPixels.append(contentsOf: pixels[index * size..<(index + 1) * size])
            newLabels.append(labels[index])
        }
        return ImageSet(
            uncheckedPixels: newPixels, labels: newLabels, count: indices.count,
            channels: channels, height: height, width: width, classCount: classCount)
    }
}
