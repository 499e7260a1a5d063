import COpenSSL
import Foundation

/// SHA-256 of a file, as lowercase hex (OpenSSL's EVP digest).
///
/// - Throws: ``EDLCMError`` naming the file when it cannot be read.
public func sha256Hex(of url: URL) throws -> String {
    let data: Data
    do {
        data = try Data(contentsOf: url, options: .alwaysMapped)
    } catch {
        throw EDLCMError("\(url.path): cannot read for its checksum (\(error.localizedDescription))")
    }
    return sha256Hex(of: data)
}

/// SHA-256 of bytes, as lowercase hex.
public func sha256Hex(of data: Data) -> String {
    var digest = [UInt8](repeating: 0, count: 32)
    var length: UInt32 = 0
    data.withUnsafeBytes { bytes in
        _ = EVP_Digest(bytes.baseAddress, bytes.count, &digest, &length, EVP_sha256(), nil)
    }
    return digest.prefix(Int(length)).map { String(format: "%02x", $0) }.joined()
}
