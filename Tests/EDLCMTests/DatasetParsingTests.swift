import Foundation
import TestSupport
import Testing

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

// MARK: - Helpers

/// Runs `body`, which must throw an `EDLCMError`, and returns its message.
private func within(_ value: UInt8, _ expected: UInt8, _ tolerance: Int = 3) -> Bool {
    abs(Int(value) - Int(expected)) <= tolerance
}

/// Expects every pixel of plane `channel` of the 3×64×64 `image` to be within ±3 of `value`;
/// a failure reports the first pixel that is not (rather than the whole plane).
private func expectFlat(
    _ image: ArraySlice<UInt8>, channel: Int, value: UInt8, _ what: String,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    let start = image.startIndex + channel * 64 * 64
    let plane = image[start..<(start + 64 * 64)]
    if let bad = plane.firstIndex(where: { !within($0, value) }) {
        Issue.record(
            "\(what), channel \(channel): pixel \(bad - start) is \(plane[bad]), expected \(value) ± 3",
            sourceLocation: sourceLocation)
    }
}

// MARK: - Dataset names

@Suite("Dataset names")
struct DatasetNameTests {
    @Test func shapesAndClassCounts() {
        #expect(DatasetName.fashionMNIST.channels == 1)
        #expect(DatasetName.fashionMNIST.height == 28 && DatasetName.fashionMNIST.width == 28)
        #expect(DatasetName.mnist.classCount == 10)
        #expect(DatasetName.cifar10.channels == 3 && DatasetName.cifar10.height == 32)
        #expect(DatasetName.cifar100.classCount == 100)
        #expect(DatasetName.tinyImageNet.height == 64 && DatasetName.tinyImageNet.width == 64)
        #expect(DatasetName.tinyImageNet.classCount == 200)
        #expect(DatasetName.fashionMNIST.defaultDirectory == "/usr/share/datasets/fashion-mnist")
        #expect(DatasetName.cifar10.defaultDirectory == nil)
        #expect(DatasetName.tinyImageNet.defaultDirectory == nil)
    }

    @Test func rawValuesAndCoding() throws {
        #expect(
            DatasetName.allCases.map(\.rawValue)
                == ["fashion-mnist", "mnist", "cifar10", "cifar100", "tiny-imagenet"])
        let data = try JSONEncoder().encode([DatasetName.tinyImageNet, .fashionMNIST])
        #expect(String(decoding: data, as: UTF8.self) == "[\"tiny-imagenet\",\"fashion-mnist\"]")
        #expect(try JSONDecoder().decode([DatasetName].self, from: data) == [.tinyImageNet, .fashionMNIST])
        #expect(DatasetSplit(rawValue: "test") == .test)
    }

    @Test func noDefaultFolderIsAnError() {
        expectError(containing: ["cifar10", "no default folder"]) {
            _ = try DatasetReader.load(.cifar10, split: .train)
        }
    }
}

// MARK: - ImageSet

@Suite("ImageSet")
struct ImageSetTests {
    @Test func subsetGathersImagesAndLabels() throws {
        // Three 1×2×2 images: image i has pixels 10i, 10i+1, 10i+2, 10i+3.
        let pixels: [UInt8] = (0..<3).flatMap { i in (0..<4).map { UInt8(10 * i + $0) } }
        let set = try ImageSet(
            pixels: pixels, labels: [0, 1, 2], count: 3, channels: 1, height: 2, width: 2,
            classCount: 3)
        let subset = set.subset([2, 0, 2])
        #expect(subset.count == 3)
        #expect(subset.labels == [2, 0, 2])
        #expect(subset.pixels == [20, 21, 22, 23, 0, 1, 2, 3, 20, 21, 22, 23])
        #expect(subset.classCount == 3 && subset.height == 2 && subset.channels == 1)
        #expect(Array(set.image(1)) == [10, 11, 12, 13])
        #expect(set.subset([]).count == 0)
        #expect(set.subset([]).pixels.isEmpty)
    }

    @Test func initialiserChecksSizes() {
        expectError(containing: ["5 pixel bytes", "2 images"]) {
            _ = try ImageSet(
                pixels: [1, 2, 3, 4, 5], labels: [0, 0], count: 2, channels: 1, height: 1,
                width: 2, classCount: 2)
        }
        expectError(containing: ["1 labels for 2 images"]) {
            _ = try ImageSet(
                pixels: [1, 2, 3, 4], labels: [0], count: 2, channels: 1, height: 1, width: 2,
                classCount: 2)
        }
        expectError(containing: ["label 2 of image 1", "0..<2"]) {
            _ = try ImageSet(
                pixels: [1, 2, 3, 4], labels: [0, 2], count: 2, channels: 1, height: 1, width: 2,
                classCount: 2)
        }
    }
}

// MARK: - gzip

@Suite("gzip")
struct GzipTests {
    @Test func roundTripLargeAndMultiMember() throws {
        // More than one 256 KiB output chunk, with structure so that it compresses.
        let data = (0..<700_000).map { UInt8(truncatingIfNeeded: $0 * 7 + $0 / 1000) }
        let compressed = try Gzip.compress(data)
        #expect(compressed.count < data.count)
        #expect(Array(compressed.prefix(2)) == [0x1f, 0x8b])
        let roundTrip = try Gzip.decompress(compressed, name: "x.gz") == data
        #expect(roundTrip, "gzip round trip differs")
        // Two concatenated members decode to the concatenation, as with gzip(1).
        let second: [UInt8] = Array("tail".utf8)
        let multiMember = try Gzip.decompress(compressed + (try Gzip.compress(second)), name: "x.gz") == data + second
        #expect(multiMember, "two-member gzip differs")
        #expect(try Gzip.decompress(try Gzip.compress([]), name: "empty.gz") == [])
    }

    @Test func corruptTruncatedAndTrailingDataAreErrors() throws {
        let data = (0..<50_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        let compressed = try Gzip.compress(data)
        expectError(containing: ["cut.gz", "truncated gzip"]) {
            _ = try Gzip.decompress(Array(compressed.prefix(compressed.count / 2)), name: "cut.gz")
        }
        var corrupt = compressed
        for index in 20..<40 { corrupt[index] ^= 0xff }
        expectError(containing: ["bad.gz", "corrupt gzip"]) { _ = try Gzip.decompress(corrupt, name: "bad.gz") }
        var badCRC = compressed
        badCRC[badCRC.count - 6] ^= 0x01
        expectError(containing: ["crc.gz", "corrupt gzip", "incorrect data check"]) {
            _ = try Gzip.decompress(badCRC, name: "crc.gz")
        }
        expectError(containing: ["junk.gz", "3 stray bytes"]) {
            _ = try Gzip.decompress(compressed + [1, 2, 3], name: "junk.gz")
        }
        expectError(containing: ["plain.gz", "not gzip"]) { _ = try Gzip.decompress([1, 2, 3], name: "plain.gz") }
        expectError(containing: ["none.gz", "empty"]) { _ = try Gzip.decompress([], name: "none.gz") }
    }
}

// MARK: - JPEG

@Suite("JPEG codec")
struct JPEGCodecTests {
    @Test func flatColourRoundTrip() throws {
        let jpeg = try DataFixtures.flatJPEG(red: 200, green: 100, blue: 50)
        #expect(Array(jpeg.prefix(2)) == [0xff, 0xd8])
        #expect(Array(jpeg.suffix(2)) == [0xff, 0xd9])
        let image = try JPEGCodec.decode(jpeg, name: "flat.jpg")
        #expect(image.width == 64 && image.height == 64 && image.channels == 3)
        #expect(image.pixels.count == 64 * 64 * 3)
        let expected: [UInt8] = [200, 100, 50]
        let bad = image.pixels.indices.first { !within(image.pixels[$0], expected[$0 % 3]) }
        #expect(bad == nil, "sample \(bad ?? -1) is off by more than 3")
    }

    @Test func grayscaleAndNonSquare() throws {
        let gray = try JPEGCodec.encode(
            [UInt8](repeating: 77, count: 40 * 24), width: 40, height: 24, channels: 1)
        let image = try JPEGCodec.decode(gray, name: "gray.jpg")
        #expect(image.width == 40 && image.height == 24 && image.channels == 1)
        let allNear77 = image.pixels.allSatisfy { within($0, 77) }
        #expect(allNear77)
        // A horizontal gradient keeps its ordering through compression.
        var rgb = [UInt8]()
        for _ in 0..<16 { for x in 0..<64 { rgb += [UInt8(x * 4), UInt8(x * 4), UInt8(x * 4)] } }
        let decoded = try JPEGCodec.decode(
            try JPEGCodec.encode(rgb, width: 64, height: 16, channels: 3, quality: 100), name: "g")
        #expect(within(decoded.pixels[0], 0, 6))
        #expect(within(decoded.pixels[3 * 63], 252, 6))
        #expect(decoded.pixels[3 * 40] > decoded.pixels[3 * 20])
    }

    @Test func brokenDataIsAnError() throws {
        let jpeg = try DataFixtures.flatJPEG(red: 1, green: 2, blue: 3)
        expectError(containing: ["cut.jpg", "cannot decode JPEG"]) {
            _ = try JPEGCodec.decode(Array(jpeg.prefix(jpeg.count / 2)), name: "cut.jpg")
        }
        expectError(containing: ["text.jpg", "cannot decode JPEG", "Not a JPEG file"]) {
            _ = try JPEGCodec.decode(Array("hello, world".utf8), name: "text.jpg")
        }
        expectError(containing: ["empty.jpg", "empty JPEG data"]) { _ = try JPEGCodec.decode([], name: "empty.jpg") }
        expectError(containing: ["JPEG encoder", "quality"]) {
            _ = try JPEGCodec.encode([0, 0, 0], width: 1, height: 1, channels: 3, quality: 0)
        }
    }
}

// MARK: - IDX

@Suite("IDX files")
struct IDXTests {
    /// Writes an MNIST-layout split (raw or gzipped) of `labels.count` images.
    private func writeSplit(
        _ folder: DataFixtureFolder, prefix: String, labels: [UInt8], gzip: Bool
    ) throws {
        let images = DataFixtures.idxImages(
            count: labels.count, rows: 28, columns: 28, pixels: DataFixtures.idxPixels(count: labels.count))
        let labelFile = DataFixtures.idxLabels(labels)
        let suffix = gzip ? ".gz" : ""
        try folder.write(gzip ? try DataFixtures.gzip(images) : images, to: "\(prefix)-images-idx3-ubyte\(suffix)")
        try folder.write(gzip ? try DataFixtures.gzip(labelFile) : labelFile, to: "\(prefix)-labels-idx1-ubyte\(suffix)")
    }

    private func checkFixtureSet(_ set: ImageSet, labels: [Int32]) {
        #expect(set.count == labels.count)
        #expect(set.channels == 1 && set.height == 28 && set.width == 28)
        #expect(set.classCount == 10)
        #expect(set.labels == labels)
        #expect(set.pixels.count == labels.count * 784)
        let pixelsMatch = set.pixels == DataFixtures.idxPixels(count: labels.count)
        #expect(pixelsMatch, "IDX pixels differ from the fixture")
        // Spot values: image 1, pixel (row 2, column 5) = (37 + 3 × 61) mod 256 = 220.
        #expect(set.pixels[784 + 2 * 28 + 5] == 220)
    }

    @Test func rawFilesLoad() throws {
        let folder = try DataFixtureFolder()
        try writeSplit(folder, prefix: "train", labels: [3, 0, 9], gzip: false)
        let set = try IDXFile.load(split: .train, directory: folder.url)
        checkFixtureSet(set, labels: [3, 0, 9])
        let viaReader = try DatasetReader.load(.mnist, split: .train, directory: folder.url)
        let sameAsReader = viaReader == set
        #expect(sameAsReader, "DatasetReader and IDXFile disagree")
    }

    @Test func gzippedFilesLoadAndRawIsPreferred() throws {
        let folder = try DataFixtureFolder()
        try writeSplit(folder, prefix: "t10k", labels: [1, 2, 7, 7], gzip: true)
        let gz = try DatasetReader.load(.fashionMNIST, split: .test, directory: folder.url)
        checkFixtureSet(gz, labels: [1, 2, 7, 7])
        // With both names present the raw file is read.
        try folder.write(DataFixtures.idxLabels([5, 5, 5, 5]), to: "t10k-labels-idx1-ubyte")
        let mixed = try DatasetReader.load(.fashionMNIST, split: .test, directory: folder.url)
        #expect(mixed.labels == [5, 5, 5, 5])
        #expect(
            try IDXFile.locate("t10k-labels-idx1-ubyte", in: folder.url).lastPathComponent
                == "t10k-labels-idx1-ubyte")
        #expect(
            try IDXFile.locate("t10k-images-idx3-ubyte", in: folder.url).lastPathComponent
                == "t10k-images-idx3-ubyte.gz")
    }

    @Test func readersWithoutExpectations() throws {
        let folder = try DataFixtureFolder()
        let url = try folder.write(
            DataFixtures.idxImages(count: 2, rows: 2, columns: 3, pixels: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
            to: "small-idx3-ubyte")
        let images = try IDXFile.readImages(at: url)
        #expect(images.count == 2 && images.rows == 2 && images.columns == 3)
        #expect(images.pixels == [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12])
        let labelsURL = try folder.write(DataFixtures.idxLabels([0, 255, 17]), to: "l-idx1-ubyte")
        #expect(try IDXFile.readLabels(at: labelsURL) == [0, 255, 17])
        let emptyURL = try folder.write(DataFixtures.idxLabels([]), to: "none-idx1-ubyte")
        #expect(try IDXFile.readLabels(at: emptyURL) == [])
    }

    @Test func wrongMagicForeignAndEmptyFiles() throws {
        let folder = try DataFixtureFolder()
        // Labels where images belong.
        let swapped = try folder.write(DataFixtures.idxLabels([1, 2]), to: "swapped-idx3-ubyte")
        expectError(containing: ["swapped-idx3-ubyte", "wrong magic number 0x00000801", "expected 0x00000803"]) {
            _ = try IDXFile.readImages(at: swapped)
        }
        let images = DataFixtures.idxImages(count: 1, rows: 28, columns: 28, pixels: DataFixtures.idxPixels(count: 1))
        let imagesAsLabels = try folder.write(images, to: "images-as-labels")
        expectError(containing: ["images-as-labels", "wrong magic number 0x00000803", "expected 0x00000801"]) {
            _ = try IDXFile.readLabels(at: imagesAsLabels)
        }
        // A PNG file.
        let png = try folder.write(
            [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 1, 2, 3, 4, 5], to: "picture.png")
        expectError(containing: ["picture.png", "wrong magic number 0x89504e47"]) { _ = try IDXFile.readImages(at: png) }
        let empty = try folder.write([], to: "empty-idx1-ubyte")
        expectError(containing: ["empty-idx1-ubyte", "empty file"]) { _ = try IDXFile.readLabels(at: empty) }
        let short = try folder.write([0, 0, 8, 3, 0, 0], to: "short-idx3-ubyte")
        expectError(containing: ["short-idx3-ubyte", "truncated IDX header", "6 bytes, need 16"]) {
            _ = try IDXFile.readImages(at: short)
        }
        let folderURL = folder.url.appendingPathComponent("sub-idx3-ubyte")
        try folder.makeFolder("sub-idx3-ubyte")
        expectError(containing: ["sub-idx3-ubyte", "is a folder"]) { _ = try IDXFile.readImages(at: folderURL) }
    }

    @Test func sizeAndDimensionChecks() throws {
        let folder = try DataFixtureFolder()
        let full = DataFixtures.idxImages(count: 2, rows: 28, columns: 28, pixels: DataFixtures.idxPixels(count: 2))
        let truncated = try folder.write(Array(full.dropLast(100)), to: "cut-idx3-ubyte")
        expectError(containing: ["cut-idx3-ubyte", "truncated", "2 images of 28×28", "1584 bytes", "1484"]) {
            _ = try IDXFile.readImages(at: truncated, rows: 28, columns: 28)
        }
        let long = try folder.write(full + [0, 0], to: "long-idx3-ubyte")
        expectError(containing: ["long-idx3-ubyte", "size mismatch", "2 extra"]) {
            _ = try IDXFile.readImages(at: long)
        }
        let big = try folder.write(
            DataFixtures.idxImages(count: 1, rows: 32, columns: 32, pixels: [UInt8](repeating: 0, count: 1024)),
            to: "big-idx3-ubyte")
        expectError(containing: ["big-idx3-ubyte", "32×32, expected 28×28"]) {
            _ = try IDXFile.readImages(at: big, rows: 28, columns: 28)
        }
        // A header claiming 2^32 − 1 images of 65535 × 65535 must not overflow or trap.
        let huge = try folder.write(
            DataFixtures.idxImages(count: Int(UInt32.max), rows: 65535, columns: 65535, pixels: [1, 2]),
            to: "huge-idx3-ubyte")
        expectError(containing: ["huge-idx3-ubyte"]) { _ = try IDXFile.readImages(at: huge) }
        let labels = try folder.write(DataFixtures.idxLabels([1, 2, 3], count: 5), to: "few-idx1-ubyte")
        expectError(containing: ["few-idx1-ubyte", "truncated", "5 labels"]) { _ = try IDXFile.readLabels(at: labels) }
    }

    @Test func countMismatchAndLabelRange() throws {
        let folder = try DataFixtureFolder()
        try folder.write(
            DataFixtures.idxImages(count: 3, rows: 28, columns: 28, pixels: DataFixtures.idxPixels(count: 3)),
            to: "train-images-idx3-ubyte")
        try folder.write(DataFixtures.idxLabels([1, 2]), to: "train-labels-idx1-ubyte")
        expectError(containing: ["train-labels-idx1-ubyte", "2 labels", "3 images"]) {
            _ = try DatasetReader.load(.mnist, split: .train, directory: folder.url)
        }
        try folder.write(DataFixtures.idxLabels([1, 10, 2]), to: "train-labels-idx1-ubyte")
        expectError(containing: ["train-labels-idx1-ubyte", "label 10 of item 1", "out of range 0..<10"]) {
            _ = try DatasetReader.load(.mnist, split: .train, directory: folder.url)
        }
    }

    @Test func corruptGzipAndMissingFiles() throws {
        let folder = try DataFixtureFolder()
        try writeSplit(folder, prefix: "train", labels: [1, 2, 3], gzip: true)
        let url = folder.url.appendingPathComponent("train-images-idx3-ubyte.gz")
        var bytes = [UInt8](try Data(contentsOf: url))
        try folder.write(Array(bytes.prefix(bytes.count - 10)), to: "train-images-idx3-ubyte.gz")
        expectError(containing: ["train-images-idx3-ubyte.gz", "truncated gzip"]) {
            _ = try DatasetReader.load(.fashionMNIST, split: .train, directory: folder.url)
        }
        for index in 12..<30 { bytes[index] = 0xff }
        try folder.write(bytes, to: "train-images-idx3-ubyte.gz")
        expectError(containing: ["train-images-idx3-ubyte.gz", "corrupt gzip"]) {
            _ = try DatasetReader.load(.fashionMNIST, split: .train, directory: folder.url)
        }
        // A .gz name over data that is not gzip.
        try folder.write(DataFixtures.idxLabels([1, 2, 3]), to: "train-labels-idx1-ubyte.gz")
        expectError(containing: ["train-labels-idx1-ubyte.gz", "not gzip data"]) {
            _ = try IDXFile.readLabels(at: folder.url.appendingPathComponent("train-labels-idx1-ubyte.gz"))
        }
        let emptyFolder = try DataFixtureFolder()
        expectError(containing: ["train-images-idx3-ubyte", "not found in folder", emptyFolder.url.path]) {
            _ = try DatasetReader.load(.fashionMNIST, split: .train, directory: emptyFolder.url)
        }
        try emptyFolder.write(
            DataFixtures.idxImages(count: 1, rows: 28, columns: 28, pixels: DataFixtures.idxPixels(count: 1)),
            to: "t10k-images-idx3-ubyte")
        expectError(containing: [
            "t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) not found in folder", emptyFolder.url.path,
        ]) {
            _ = try DatasetReader.load(.mnist, split: .test, directory: emptyFolder.url)
        }
    }
}

// MARK: - Real Fashion-MNIST

private let fashionMNISTFolder = "/usr/share/datasets/fashion-mnist"

@Suite("Real Fashion-MNIST")
struct RealFashionMNISTTests {
    @Test(
        "Loads Debian's Fashion-MNIST (package dataset-fashion-mnist)",
        .enabled(
            if: FileManager.default.fileExists(atPath: fashionMNISTFolder),
            "\(fashionMNISTFolder) is absent: install Debian's dataset-fashion-mnist to run this test"))
    func loadsRealFashionMNIST() throws {
        let train = try DatasetReader.load(.fashionMNIST, split: .train)
        #expect(train.count == 60_000)
        #expect(train.channels == 1 && train.height == 28 && train.width == 28)
        #expect(train.classCount == 10)
        #expect(train.pixels.count == 60_000 * 784)
        var perClass = [Int](repeating: 0, count: 10)
        for label in train.labels { perClass[Int(label)] += 1 }
        #expect(perClass == [Int](repeating: 6_000, count: 10))
        #expect(Array(train.labels.prefix(10)) == [9, 0, 0, 3, 0, 2, 7, 2, 5, 5])
        // The first image (an ankle boot): its pixel sum, as Python's gzip module reads it.
        #expect(train.image(0).reduce(0) { $0 + Int($1) } == 76_247)
        #expect(train.pixels.max() == 255 && train.pixels.min() == 0)

        let test = try DatasetReader.load(
            .fashionMNIST, split: .test, directory: URL(fileURLWithPath: fashionMNISTFolder))
        #expect(test.count == 10_000)
        var testPerClass = [Int](repeating: 0, count: 10)
        for label in test.labels { testPerClass[Int(label)] += 1 }
        #expect(testPerClass == [Int](repeating: 1_000, count: 10))
        #expect(Array(test.labels.prefix(5)) == [9, 2, 1, 1, 6])
        #expect(test.image(0).reduce(0) { $0 + Int($1) } == 33_456)
    }
}

// MARK: - CIFAR

@Suite("CIFAR binaries")
struct CIFARTests {
    @Test func cifar10TrainFromStandardSubfolder() throws {
        let folder = try DataFixtureFolder()
        // Five batches of two records; record r (0...9) has label (r * 3) % 10.
        for batch in 1...5 {
            let first = (batch - 1) * 2
            let labels = [first, first + 1].map { UInt8(($0 * 3) % 10) }
            try folder.write(
                DataFixtures.cifar10File(labels: labels, firstRecord: first),
                to: "cifar-10-batches-bin/data_batch_\(batch).bin")
        }
        let set = try DatasetReader.load(.cifar10, split: .train, directory: folder.url)
        #expect(set.count == 10)
        #expect(set.channels == 3 && set.height == 32 && set.width == 32 && set.classCount == 10)
        #expect(set.labels == [0, 3, 6, 9, 2, 5, 8, 1, 4, 7])
        #expect(set.pixels.count == 10 * 3072)
        for record in 0..<10 {
            let image = set.image(record)
            let same = Array(image) == DataFixtures.cifarPixels(record: record)
            #expect(same, "record \(record) pixels differ")
            let base = image.startIndex
            // CHW: red plane first, then green, then blue.
            #expect(image[base] == UInt8(10 + record))
            #expect(image[base + 1] == 0)
            #expect(image[base + 1024] == UInt8(100 + record))
            #expect(image[base + 1025] == 1)
            #expect(image[base + 2048 + 5 * 32 + 7] == UInt8(200 + record))
            #expect(image[base + 2049] == 2)
            #expect(image[base + 3071] == UInt8(record))
        }
        // The subfolder itself works as well.
        let direct = try CIFARBinary.load(
            .cifar10, split: .train, directory: folder.url.appendingPathComponent("cifar-10-batches-bin"))
        let sameFromSubfolder = direct == set
        #expect(sameFromSubfolder, "loading the subfolder itself differs")
    }

    @Test func cifar10TestFromFolderItself() throws {
        let folder = try DataFixtureFolder()
        let url = try folder.write(DataFixtures.cifar10File(labels: [9, 0, 4]), to: "test_batch.bin")
        let set = try DatasetReader.load(.cifar10, split: .test, directory: folder.url)
        #expect(set.count == 3)
        #expect(set.labels == [9, 0, 4])
        let recordTwo = Array(set.image(2)) == DataFixtures.cifarPixels(record: 2)
        #expect(recordTwo, "record 2 pixels differ")
        let sameFromRead = try CIFARBinary.read(.cifar10, file: url) == set
        #expect(sameFromRead, "CIFARBinary.read differs from load")
    }

    @Test func cifar100UsesFineLabels() throws {
        let folder = try DataFixtureFolder()
        try folder.write(
            DataFixtures.cifar100File(labels: [(coarse: 19, fine: 99), (coarse: 4, fine: 0), (coarse: 0, fine: 55)]),
            to: "cifar-100-binary/train.bin")
        try folder.write(DataFixtures.cifar100File(labels: [(coarse: 7, fine: 42)]), to: "cifar-100-binary/test.bin")
        let train = try DatasetReader.load(.cifar100, split: .train, directory: folder.url)
        #expect(train.count == 3 && train.classCount == 100)
        #expect(train.labels == [99, 0, 55])
        let recordOne = Array(train.image(1)) == DataFixtures.cifarPixels(record: 1)
        #expect(recordOne, "record 1 pixels differ")
        #expect(train.image(2)[train.image(2).startIndex + 1024] == 102)
        let test = try DatasetReader.load(.cifar100, split: .test, directory: folder.url)
        #expect(test.labels == [42])
        let testPixels = test.pixels == DataFixtures.cifarPixels(record: 0)
        #expect(testPixels, "test record pixels differ")
    }

    @Test func cifarErrors() throws {
        let folder = try DataFixtureFolder()
        let good = DataFixtures.cifar10File(labels: [1, 2])
        let cut = try folder.write(Array(good.dropLast(5)), to: "cut.bin")
        expectError(containing: ["cut.bin", "6141 bytes", "not a multiple", "3073"]) {
            _ = try CIFARBinary.read(.cifar10, file: cut)
        }
        let empty = try folder.write([], to: "empty.bin")
        expectError(containing: ["empty.bin", "empty file"]) { _ = try CIFARBinary.read(.cifar10, file: empty) }
        let badLabel = try folder.write(DataFixtures.cifar10File(labels: [1, 10]), to: "label.bin")
        expectError(containing: ["label.bin", "label 10 of record 1", "out of range 0..<10"]) {
            _ = try CIFARBinary.read(.cifar10, file: badLabel)
        }
        let badFine = try folder.write(DataFixtures.cifar100File(labels: [(coarse: 1, fine: 100)]), to: "fine.bin")
        expectError(containing: ["fine.bin", "label 100 of record 0", "0..<100"]) {
            _ = try CIFARBinary.read(.cifar100, file: badFine)
        }
        let badCoarse = try folder.write(DataFixtures.cifar100File(labels: [(coarse: 20, fine: 1)]), to: "coarse.bin")
        expectError(containing: ["coarse.bin", "coarse label 20", "0..<20"]) {
            _ = try CIFARBinary.read(.cifar100, file: badCoarse)
        }
        // A CIFAR-10 file read as CIFAR-100 (3 × 3073 = 9219 is not a multiple of 3074).
        let foreign = try folder.write(DataFixtures.cifar10File(labels: [1, 2, 3]), to: "foreign.bin")
        expectError(containing: ["foreign.bin", "not a multiple", "3074"]) { _ = try CIFARBinary.read(.cifar100, file: foreign) }

        // Missing batches: nothing at all, then only batch 3 missing.
        let empties = try DataFixtureFolder()
        expectError(containing: ["data_batch_1.bin", "not found", empties.url.path, "cifar-10-batches-bin"]) {
            _ = try DatasetReader.load(.cifar10, split: .train, directory: empties.url)
        }
        for batch in [1, 2, 4, 5] {
            try empties.write(good, to: "data_batch_\(batch).bin")
        }
        expectError(containing: ["CIFAR-10 file data_batch_3.bin not found in folder", empties.url.path]) {
            _ = try DatasetReader.load(.cifar10, split: .train, directory: empties.url)
        }
        expectError(containing: ["CIFAR-100 file test.bin not found", "cifar-100-binary"]) {
            _ = try DatasetReader.load(.cifar100, split: .test, directory: empties.url)
        }
    }
}

// MARK: - Tiny ImageNet

@Suite("Tiny ImageNet")
struct TinyImageNetTests {
    @Test func trainSplit() throws {
        let folder = try DataFixtureFolder()
        _ = try TinyImageNetFixture(folder: folder)
        let set = try TinyImageNet.load(split: .train, directory: folder.url)
        #expect(set.count == 6)
        #expect(set.channels == 3 && set.height == 64 && set.width == 64)
        #expect(set.classCount == 3)
        #expect(set.labels == [0, 0, 1, 1, 2, 2])
        // Images of a class in file-name order: <wnid>_0 before <wnid>_1 (written second).
        for (position, (c, k)) in [(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)].enumerated() {
            let (r, g, b) = TinyImageNetFixture.trainColour(class: c, image: k)
            let image = set.image(position)
            expectFlat(image, channel: 0, value: r, "train image \(position)")
            expectFlat(image, channel: 1, value: g, "train image \(position)")
            expectFlat(image, channel: 2, value: b, "train image \(position)")
        }
        // The grayscale JPEG becomes three equal planes of 128.
        let gray = set.image(5)
        let red = Array(gray[gray.startIndex..<(gray.startIndex + 4096)])
        let green = Array(gray[(gray.startIndex + 4096)..<(gray.startIndex + 8192)])
        let blue = Array(gray[(gray.startIndex + 8192)..<(gray.startIndex + 12288)])
        let planesEqual = red == green && green == blue
        #expect(planesEqual, "grayscale JPEG planes differ")
        for channel in 0..<3 { expectFlat(gray, channel: channel, value: 128, "grayscale image") }
        // The folder itself is accepted too.
        let sameFromRoot =
            try TinyImageNet.load(split: .train, directory: folder.url.appendingPathComponent("tiny-imagenet-200")) == set
        #expect(sameFromRoot, "loading tiny-imagenet-200 itself differs")
    }

    @Test func testSplitIsTheValSplit() throws {
        let folder = try DataFixtureFolder()
        let fixture = try TinyImageNetFixture(folder: folder)
        let set = try TinyImageNet.load(split: .test, directory: fixture.root)
        #expect(set.count == 3)
        #expect(set.labels == TinyImageNetFixture.valLabels)
        for index in 0..<3 {
            let (r, g, b) = TinyImageNetFixture.valColour(index)
            expectFlat(set.image(index), channel: 0, value: r, "val image \(index)")
            expectFlat(set.image(index), channel: 1, value: g, "val image \(index)")
            expectFlat(set.image(index), channel: 2, value: b, "val image \(index)")
        }
        let single = try TinyImageNet.decodeImage(
            at: fixture.root.appendingPathComponent("val/images/val_1.JPEG"))
        #expect(single.count == 3 * 64 * 64)
        let sameImage = single == Array(set.image(1))
        #expect(sameImage, "decodeImage differs from the loaded image")
        #expect(
            try TinyImageNet.readWNIDs(at: fixture.root.appendingPathComponent("wnids.txt"))
                == TinyImageNetFixture.wnids)
    }

    @Test func datasetReaderNeedsAll200Classes() throws {
        let small = try DataFixtureFolder()
        _ = try TinyImageNetFixture(folder: small)
        expectError(containing: ["wnids.txt", "lists 3 wnids, expected 200"]) {
            _ = try DatasetReader.load(.tinyImageNet, split: .train, directory: small.url)
        }
        let folder = try DataFixtureFolder()
        let wnids = (0..<200).map { "n\(String(1_000_000 + $0))" }
        _ = try TinyImageNetFixture(folder: folder, wnids: wnids)
        let train = try DatasetReader.load(.tinyImageNet, split: .train, directory: folder.url)
        #expect(train.count == 400 && train.classCount == 200)
        #expect(train.labels == (0..<200).flatMap { [Int32($0), Int32($0)] })
        let test = try DatasetReader.load(.tinyImageNet, split: .test, directory: folder.url)
        #expect(test.count == 3 && test.labels == [2, 0, 1] && test.classCount == 200)
    }

    @Test func annotationAndLayoutErrors() throws {
        let folder = try DataFixtureFolder()
        let fixture = try TinyImageNetFixture(folder: folder)
        let root = fixture.root
        try folder.write(
            text: "val_0.JPEG\tn01443537\t0\t0\t63\t63\nval_1.JPEG\tn99999999\t0\t0\t63\t63\n",
            to: "tiny-imagenet-200/val/val_annotations.txt")
        expectError(containing: ["val_annotations.txt", "line 2", "unknown wnid n99999999", "val_1.JPEG"]) {
            _ = try TinyImageNet.load(split: .test, directory: root)
        }
        try folder.write(text: "val_0.JPEG\n", to: "tiny-imagenet-200/val/val_annotations.txt")
        expectError(containing: ["val_annotations.txt", "line 1", "expected file<TAB>wnid"]) {
            _ = try TinyImageNet.load(split: .test, directory: root)
        }
        try folder.write(text: "val_7.JPEG\tn01443537\t0\t0\t63\t63\n", to: "tiny-imagenet-200/val/val_annotations.txt")
        expectError(containing: ["val_7.JPEG", "not found in folder", "val/images"]) {
            _ = try TinyImageNet.load(split: .test, directory: root)
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("val/val_annotations.txt"))
        expectError(containing: ["val_annotations.txt not found in folder", root.appendingPathComponent("val").path]) {
            _ = try TinyImageNet.load(split: .test, directory: root)
        }
        try FileManager.default.removeItem(at: root.appendingPathComponent("train/n01629819/images"))
        expectError(containing: ["n01629819/images", "class 1", "not found in folder", "train"]) {
            _ = try TinyImageNet.load(split: .train, directory: root)
        }
        try folder.write(text: "n01443537\nn01629819\nn01443537\n", to: "tiny-imagenet-200/wnids.txt")
        expectError(containing: ["wnids.txt", "line 3", "n01443537 repeats line 1"]) {
            _ = try TinyImageNet.load(split: .train, directory: root)
        }
        try folder.write([0x6e, 0xff, 0xfe, 0x0a], to: "tiny-imagenet-200/wnids.txt")
        expectError(containing: ["wnids.txt", "not UTF-8 text"]) { _ = try TinyImageNet.load(split: .train, directory: root) }
        try folder.write(text: "\n \n", to: "tiny-imagenet-200/wnids.txt")
        expectError(containing: ["wnids.txt", "lists no wnids"]) { _ = try TinyImageNet.load(split: .train, directory: root) }
        try folder.write(text: (0..<201).map { "n\($0)" }.joined(separator: "\n"), to: "tiny-imagenet-200/wnids.txt")
        expectError(containing: ["wnids.txt", "201 wnids", "at most 200"]) {
            _ = try TinyImageNet.load(split: .train, directory: root)
        }
        let empty = try DataFixtureFolder()
        expectError(containing: ["wnids.txt not found in folder", empty.url.path, "tiny-imagenet-200"]) {
            _ = try TinyImageNet.load(split: .train, directory: empty.url)
        }
    }

    @Test func imageErrors() throws {
        let folder = try DataFixtureFolder()
        let fixture = try TinyImageNetFixture(folder: folder)
        let images = "tiny-imagenet-200/train/n01629819/images/"
        let good = try DataFixtures.flatJPEG(red: 9, green: 9, blue: 9)
        // A truncated JPEG.
        try folder.write(Array(good.prefix(good.count - 40)), to: images + "n01629819_0.JPEG")
        expectError(containing: ["n01629819_0.JPEG", "cannot decode JPEG"]) {
            _ = try TinyImageNet.load(split: .train, directory: folder.url)
        }
        // Not a JPEG at all.
        try folder.write(Array("<html>not found</html>".utf8), to: images + "n01629819_0.JPEG")
        expectError(containing: ["n01629819_0.JPEG", "cannot decode JPEG", "Not a JPEG file"]) {
            _ = try TinyImageNet.load(split: .train, directory: folder.url)
        }
        // An empty file.
        try folder.write([], to: images + "n01629819_0.JPEG")
        expectError(containing: ["n01629819_0.JPEG", "empty JPEG data"]) {
            _ = try TinyImageNet.load(split: .train, directory: folder.url)
        }
        // A well-formed JPEG of the wrong size.
        try folder.write(try DataFixtures.flatJPEG(red: 1, green: 1, blue: 1, side: 32), to: images + "n01629819_0.JPEG")
        expectError(containing: ["n01629819_0.JPEG", "image is 32×32, expected 64×64"]) {
            _ = try TinyImageNet.load(split: .train, directory: folder.url)
        }
        #expect(fixture.root.lastPathComponent == "tiny-imagenet-200")
    }

    @Test func classFolderWithoutJPEGs() throws {
        let folder = try DataFixtureFolder()
        let fixture = try TinyImageNetFixture(folder: folder)
        let images = fixture.root.appendingPathComponent("train/n01641577/images")
        for name in ["n01641577_0.JPEG", "n01641577_1.JPEG"] {
            try FileManager.default.removeItem(at: images.appendingPathComponent(name))
        }
        expectError(containing: ["n01641577/images", "no JPEG files for class n01641577"]) {
            _ = try TinyImageNet.load(split: .train, directory: fixture.root)
        }
    }
}

// MARK: - Seeded generator and sampling

@Suite("Seeded randomness")
struct SeededRandomnessTests {
    @Test func splitMix64ReferenceValues() {
        var state: UInt64 = 0
        #expect(SeededGenerator.splitMix64(&state) == 0xE220_A839_7B1D_CDAF)
        #expect(SeededGenerator.splitMix64(&state) == 0x6E78_9E6A_A1B9_65F4)
        #expect(SeededGenerator.splitMix64(&state) == 0x06C4_5D18_8009_454F)
        #expect(SeededGenerator.splitMix64(&state) == 0xF88B_B8A8_724C_81EC)
        #expect(state == 4 &* 0x9E37_79B9_7F4A_7C15)
    }

    @Test func xoshiroReferenceValues() {
        // Reference values from an independent Python implementation of xoshiro256**.
        var zero = SeededGenerator(seed: 0)
        #expect(zero.state == [0xE220_A839_7B1D_CDAF, 0x6E78_9E6A_A1B9_65F4, 0x06C4_5D18_8009_454F, 0xF88B_B8A8_724C_81EC])
        #expect(zero.next() == 0x99EC_5F36_CB75_F2B4)
        #expect(zero.next() == 0xBF6E_1F78_4956_452A)
        #expect(zero.next() == 0x1A5F_849D_4933_E6E0)
        #expect(zero.next() == 0x6AA5_94F1_262D_2D2C)
        var fortyTwo = SeededGenerator(seed: 42)
        #expect(fortyTwo.state == [0xBDD7_3226_2FEB_6E95, 0x28EF_E333_B266_F103, 0x4752_6757_130F_9F52, 0x581C_E1FF_0E4A_E394])
        #expect(fortyTwo.next() == 0x1578_0B2E_0C2E_C716)
        #expect(fortyTwo.next() == 0x6104_D986_6D11_3A7E)
        var seven = SeededGenerator(seed: 7)
        #expect((0..<10).map { _ in seven.nextInt(below: 6) } == [4, 1, 5, 5, 5, 5, 0, 0, 2, 0])
    }

    @Test func stateCheckpointing() throws {
        var generator = SeededGenerator(seed: 2024)
        _ = (0..<5).map { _ in generator.next() }
        let saved = generator.state
        let expected = (0..<8).map { _ in generator.next() }
        var restored = try SeededGenerator(state: saved)
        #expect((0..<8).map { _ in restored.next() } == expected)
        var other = SeededGenerator(seed: 1)
        try other.restore(state: saved)
        #expect(other.next() == expected[0])
        expectError(containing: ["3 words, expected 4"]) { _ = try SeededGenerator(state: [1, 2, 3]) }
        expectError(containing: ["all zero"]) { try other.restore(state: [0, 0, 0, 0]) }
        #expect(other.state != [0, 0, 0, 0])
    }

    @Test func nextIntStaysInRange() {
        var generator = SeededGenerator(seed: 99)
        var seen = Set<Int>()
        for _ in 0..<2_000 {
            let value = generator.nextInt(below: 7)
            #expect((0..<7).contains(value))
            seen.insert(value)
        }
        #expect(seen == Set(0..<7))
        #expect(generator.nextInt(below: 1) == 0)
        let large = generator.nextInt(below: Int.max)
        #expect(large >= 0)
    }

    @Test func shuffledIndicesAreStable() {
        var generator = SeededGenerator(seed: 42)
        #expect(shuffledIndices(count: 10, using: &generator) == [9, 1, 4, 2, 8, 7, 6, 5, 3, 0])
        var again = SeededGenerator(seed: 42)
        let big = shuffledIndices(count: 1_000, using: &again)
        let isPermutation = big.sorted() == Array(0..<1_000)
        #expect(isPermutation, "not a permutation of 0..<1000")
        let isShuffled = big != Array(0..<1_000)
        #expect(isShuffled, "the shuffle left the identity")
        #expect(shuffledIndices(count: 0, using: &again) == [])
        #expect(shuffledIndices(count: 1, using: &again) == [0])
        #expect(shuffledIndices(count: -3, using: &again) == [])
    }

    private func perClass(_ indices: [Int], _ labels: [Int32], classCount: Int) -> [Int] {
        var counts = [Int](repeating: 0, count: classCount)
        for index in indices { counts[Int(labels[index])] += 1 }
        return counts
    }

    @Test func stratifiedSubsetHandExamples() {
        // Class sizes 6, 3, 1 (n = 10), limit 5: exact quotas 3, 1.5, 0.5; whole parts 3, 1, 0;
        // one left over, remainders tie (0.5, 0.5): the lower class index, 1, gets it.
        let labels: [Int32] = [0, 1, 0, 0, 2, 1, 0, 1, 0, 0]
        let subset = stratifiedSubset(labels: labels, classCount: 3, limit: 5, seed: 1)
        #expect(subset.count == 5)
        #expect(perClass(subset, labels, classCount: 3) == [3, 2, 0])
        #expect(subset == subset.sorted())
        #expect(Set(subset).count == 5)
        // Class sizes 5, 3, 2, limit 4: quotas 2, 1.2, 0.8 → 2, 1, 1 (largest remainder 0.8).
        let second: [Int32] = [2, 0, 1, 0, 0, 1, 2, 0, 1, 0]
        for seed: UInt64 in [0, 1, 2, 3] {
            let pick = stratifiedSubset(labels: second, classCount: 3, limit: 4, seed: seed)
            #expect(perClass(pick, second, classCount: 3) == [2, 1, 1])
        }
        // Limit at or above the count: everything, sorted.
        #expect(stratifiedSubset(labels: second, classCount: 3, limit: 50, seed: 9) == Array(0..<10))
        #expect(stratifiedSubset(labels: second, classCount: 3, limit: 0, seed: 9) == [])
        #expect(stratifiedSubset(labels: [], classCount: 3, limit: 5, seed: 9) == [])
        // Labels outside 0..<classCount are never chosen.
        let odd: [Int32] = [0, -1, 1, 7, 0, 1]
        #expect(stratifiedSubset(labels: odd, classCount: 2, limit: 10, seed: 3) == [0, 2, 4, 5])
    }

    @Test func stratifiedSubsetDeterminismAndSeeds() {
        // 910 labels over 10 classes with unequal sizes (class c has 10 + 18c labels).
        var labels = [Int32]()
        for c in 0..<10 { labels += [Int32](repeating: Int32(c), count: 10 + 18 * c) }
        var generator = SeededGenerator(seed: 5)
        labels = shuffledIndices(count: labels.count, using: &generator).map { labels[$0] }
        let a = stratifiedSubset(labels: labels, classCount: 10, limit: 100, seed: 11)
        let b = stratifiedSubset(labels: labels, classCount: 10, limit: 100, seed: 11)
        let c = stratifiedSubset(labels: labels, classCount: 10, limit: 100, seed: 12)
        #expect(a == b)
        #expect(a != c)
        #expect(a.count == 100 && c.count == 100)
        #expect(a == a.sorted() && Set(a).count == 100)
        // Quotas 100 × (10 + 18c) / 910 = 1.10, 3.08, 5.05, 7.03, 9.01, 10.99, 12.97, 14.95,
        // 16.92, 18.90: whole parts sum to 95, and the five largest remainders (classes 5...9)
        // get one more each.
        let expected = [1, 3, 5, 7, 9, 11, 13, 15, 17, 19]
        #expect(perClass(a, labels, classCount: 10) == expected)
        #expect(perClass(c, labels, classCount: 10) == expected)
    }
}
