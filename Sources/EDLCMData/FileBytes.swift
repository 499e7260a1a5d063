import EDLCMCore
import Foundation

/// Reading whole files for the dataset parsers, with messages that name the file.
package enum FileBytes {
    /// The largest dataset file read (or gunzipped): 2 GiB, about 13 times CIFAR-100's training
    /// file (150 MB) and 45 times Fashion-MNIST's training images (47 MB).
    static let maxDatasetFileBytes = 2 << 30

    /// Whether a regular file (or a link to one) exists at `url`.
    static func isFile(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
    }

    /// Whether a folder (or a link to one) exists at `url`.
    package static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }

    /// The bytes of the file at `url`, at most ``maxDatasetFileBytes`` of them.
    static func read(_ url: URL) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw EDLCMError("\(url.path): file not found")
        }
        guard !isDirectory.boolValue else {
            throw EDLCMError("\(url.path): is a folder, expected a file")
        }
        return [UInt8](try readFile(url, maxBytes: maxDatasetFileBytes))
    }

    /// The bytes of the file at `url`, gunzipped when the name ends in `.gz` or the data
    /// starts with the gzip magic number.
    static func readMaybeGzipped(_ url: URL) throws -> [UInt8] {
        try gunzippedIfNeeded(read(url), name: url.path, gzipName: url.pathExtension.lowercased() == "gz")
    }

    /// `bytes` gunzipped when `gzipName` is true or they start with the gzip magic number.
    package static func gunzippedIfNeeded(_ bytes: [UInt8], name: String, gzipName: Bool = false) throws -> [UInt8] {
        gzipName || Gzip.hasMagic(bytes) ? try Gzip.decompress(bytes, name: name) : bytes
    }

    /// The names of the entries of the folder at `url`.
    static func contents(of url: URL) throws -> [String] {
        do {
            return try FileManager.default.contentsOfDirectory(atPath: url.path)
        } catch {
            throw EDLCMError("\(url.path): cannot list folder: \(error.localizedDescription)")
        }
    }
}

/// Orders strings by their UTF-8 bytes, independent of locale and Unicode normalisation.
func byteOrder(_ lhs: String, _ rhs: String) -> Bool {
    lhs.utf8.lexicographicallyPrecedes(rhs.utf8)
}
