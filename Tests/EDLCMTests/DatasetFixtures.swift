import Foundation
import TestSupport

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// A fresh folder under the system temporary folder, removed when the value is released.
final class DataFixtureFolder {
    let url: URL

    init() throws {
        url = try temporaryDirectory()
    }

    deinit {
        try? FileManager.default.removeItem(at: url)
    }

    /// `url/relative`, creating its parent folders.
    func file(_ relative: String) throws -> URL {
        let file = url.appendingPathComponent(relative)
        try FileManager.default.createDirectory(
            at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        return file
    }

    /// Writes `bytes` to `url/relative`, creating parent folders; returns the file's URL.
    @discardableResult
    func write(_ bytes: [UInt8], to relative: String) throws -> URL {
        let file = try file(relative)
        try Data(bytes).write(to: file)
        return file
    }

    /// Writes `text` (UTF-8) to `url/relative`.
    @discardableResult
    func write(text: String, to relative: String) throws -> URL {
        try write(Array(text.utf8), to: relative)
    }

    /// Creates the folder `url/relative`.
    func makeFolder(_ relative: String) throws {
        try FileManager.default.createDirectory(
            at: url.appendingPathComponent(relative), withIntermediateDirectories: true)
    }
}

/// Builders of dataset files in their real on-disk formats.
enum DataFixtures {
    static func bigEndian(_ value: UInt32) -> [UInt8] {
        [
            UInt8(value >> 24), UInt8((value >> 16) & 0xff), UInt8((value >> 8) & 0xff),
            UInt8(value & 0xff),
        ]
    }

    /// An IDX images file: magic, count, rows, columns (big-endian), then the pixels.
    static func idxImages(
        count: Int, rows: Int, columns: Int, pixels: [UInt8], magic: UInt32 = 0x0000_0803
    ) -> [UInt8] {
        bigEndian(magic) + bigEndian(UInt32(count)) + bigEndian(UInt32(rows))
            + bigEndian(UInt32(columns)) + pixels
    }

    /// An IDX labels file: magic, count (big-endian), then one byte per label.
    static func idxLabels(_ labels: [UInt8], count: Int? = nil, magic: UInt32 = 0x0000_0801)
        -> [UInt8]
    {
        bigEndian(magic) + bigEndian(UInt32(count ?? labels.count)) + labels
    }

    /// Pixel `p` of image `i` in the IDX fixtures.
    static func idxPixel(image i: Int, pixel p: Int) -> UInt8 {
        UInt8((i * 37 + p * 3) % 256)
    }

    /// `count` 28×28 images with pixels `idxPixel(image:pixel:)`.
    static func idxPixels(count: Int, rows: Int = 28, columns: Int = 28) -> [UInt8] {
        var pixels = [UInt8]()
        for i in 0..<count {
            for p in 0..<(rows * columns) { pixels.append(idxPixel(image: i, pixel: p)) }
        }
        return pixels
    }

    static func gzip(_ bytes: [UInt8]) throws -> [UInt8] {
        try Gzip.compress(bytes)
    }

    /// The 3072 pixel bytes of CIFAR fixture record `r`: red plane 10 + r, green 100 + r,
    /// blue 200 + r, except pixel (row 0, column 1) of each plane which holds its channel index,
    /// and pixel (row 31, column 31) which holds r.
    static func cifarPixels(record r: Int) -> [UInt8] {
        var pixels = [UInt8]()
        for (channel, base) in [10, 100, 200].enumerated() {
            var plane = [UInt8](repeating: UInt8(base + r), count: 1024)
            plane[1] = UInt8(channel)
            plane[1023] = UInt8(r)
            pixels += plane
        }
        return pixels
    }

    /// A CIFAR-10 file: for each label, one record `label, cifarPixels(record: first + index)`.
    static func cifar10File(labels: [UInt8], firstRecord: Int = 0) -> [UInt8] {
        var bytes = [UInt8]()
        for (index, label) in labels.enumerated() {
            bytes.append(label)
            bytes += cifarPixels(record: firstRecord + index)
        }
        return bytes
    }

    /// A CIFAR-100 file: for each (coarse, fine), one record `coarse, fine, cifarPixels(...)`.
    static func cifar100File(labels: [(coarse: UInt8, fine: UInt8)]) -> [UInt8] {
        var bytes = [UInt8]()
        for (index, label) in labels.enumerated() {
            bytes.append(label.coarse)
            bytes.append(label.fine)
            bytes += cifarPixels(record: index)
        }
        return bytes
    }

    /// A flat-colour RGB JPEG of `side × side`.
    static func flatJPEG(red: UInt8, green: UInt8, blue: UInt8, side: Int = 64) throws -> [UInt8] {
        var rgb = [UInt8]()
        for _ in 0..<(side * side) { rgb += [red, green, blue] }
        return try JPEGCodec.encode(rgb, width: side, height: side, channels: 3, quality: 95)
    }

    /// A flat grayscale (one-channel) JPEG of 64×64.
    static func grayJPEG(value: UInt8) throws -> [UInt8] {
        try JPEGCodec.encode(
            [UInt8](repeating: value, count: 64 * 64), width: 64, height: 64, channels: 1,
            quality: 95)
    }
}

/// A three-class Tiny ImageNet folder in the real layout (the real one has 200 classes).
///
/// wnids.txt lists `wnids`; `train/<wnid>/images/` holds `<wnid>_1.JPEG` (written first) and
/// `<wnid>_0.JPEG`, flat colours `trainColour(class:image:)` except class 2 image 1, a grayscale
/// JPEG of value 128; `val/images/val_0...2.JPEG` are annotated with classes 2, 0, 1 and coloured
/// `valColour`. Decoys that a reader must ignore: `words.txt`, `train/<wnid>/<wnid>_boxes.txt`,
/// `train/<wnid>/images/notes.txt`, and the unlabelled `test/images/`.
struct TinyImageNetFixture {
    static let wnids = ["n01443537", "n01629819", "n01641577"]
    static let valLabels: [Int32] = [2, 0, 1]

    static func trainColour(class c: Int, image k: Int) -> (UInt8, UInt8, UInt8) {
        let table: [[(UInt8, UInt8, UInt8)]] = [
            [(200, 30, 30), (240, 120, 40)],
            [(30, 200, 30), (60, 160, 220)],
            [(30, 30, 200), (128, 128, 128)],
        ]
        return table[c][k]
    }

    static func valColour(_ index: Int) -> (UInt8, UInt8, UInt8) {
        [(250, 250, 10), (10, 250, 250), (120, 60, 180)][index]
    }

    let folder: DataFixtureFolder
    /// The `tiny-imagenet-200` folder.
    let root: URL

    init(folder: DataFixtureFolder, wnids: [String] = Self.wnids) throws {
        self.folder = folder
        root = folder.url.appendingPathComponent("tiny-imagenet-200")
        let base = "tiny-imagenet-200/"
        try folder.write(text: wnids.joined(separator: "\n") + "\n", to: base + "wnids.txt")
        try folder.write(text: "n01443537\tgoldfish\n", to: base + "words.txt")
        for (c, wnid) in wnids.enumerated() {
            let images = base + "train/\(wnid)/images/"
            for k in [1, 0] {
                let jpeg: [UInt8]
                if c == 2 && k == 1 {
                    jpeg = try DataFixtures.grayJPEG(value: 128)
                } else {
                    let (r, g, b) = Self.trainColour(class: c % 3, image: k)
                    jpeg = try DataFixtures.flatJPEG(red: r, green: g, blue: b)
                }
                try folder.write(jpeg, to: images + "\(wnid)_\(k).JPEG")
            }
            try folder.write(text: "ignored\n", to: images + "notes.txt")
            try folder.write(text: "\(wnid)_0.JPEG\t0\t0\t63\t63\n", to: base + "train/\(wnid)/\(wnid)_boxes.txt")
        }
        var annotations = ""
        for index in 0..<3 {
            let (r, g, b) = Self.valColour(index)
            try folder.write(
                try DataFixtures.flatJPEG(red: r, green: g, blue: b),
                to: base + "val/images/val_\(index).JPEG")
            annotations += "val_\(index).JPEG\t\(wnids[Int(Self.valLabels[index])])\t0\t0\t63\t63\n"
        }
        try folder.write(text: annotations, to: base + "val/val_annotations.txt")
        try folder.write(try DataFixtures.flatJPEG(red: 1, green: 2, blue: 3), to: base + "test/images/test_0.JPEG")
    }
}
