import Foundation

/// Reading whole files for the dataset parsers, with messages that name the file.
enum FileBytes {
    /// Whether a regular file (or a link to one) exists at `url`.
    static func isFile(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            && !isDirectory.boolValue
    }

    /// Whether a folder (or a link to one) exists at `url`.
    static func isDirectory(_ url: URL) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
            && isDirectory.boolValue
    }

    /// The bytes of the file at `url`.
    static func read(_ url: URL) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw EDLCMError("\(url.path): file not found")
        }
        guard !isDirectory.boolValue else {
            throw EDLCMError("\(url.path): is a folder, expected a file")
        }
        // An empty file is answered here: Foundation's reader leaks its buffer on empty files.
        if let size = try? FileManager.default.attributesOfItem(atPath: url.path)[.size]
            as? NSNumber, size.intValue == 0
        {
            return []
        }
        do {
            return [UInt8](try Data(contentsOf: url))
        } catch {
            throw EDLCMError("\(url.path): cannot read: \(error.localizedDescription)")
        }
    }

    /// The bytes of the file at `url`, gunzipped when the name ends in `.gz` or the data
    /// starts with the gzip magic number.
    static func readMaybeGzipped(_ url: URL) throws -> [UInt8] {
        let bytes = try read(url)
        if url.pathExtension.lowercased() == "gz" || Gzip.hasMagic(bytes) {
            return try Gzip.decompress(bytes, name: url.path)
        }
        return bytes
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
