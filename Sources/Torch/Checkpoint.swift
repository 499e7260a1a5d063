import CTorch
import Foundation

/// Named tensors and string metadata in a safetensors file: the project's checkpoint format.
///
/// Files written here load in PyTorch with `safetensors.torch.load_file`, and the names follow
/// PyTorch's `state_dict()` (see ``Module``), so weights move between the two without conversion.
public enum Checkpoint {
    /// Writes tensors and metadata atomically (temporary file, fsync, rename).
    ///
    /// - Throws: ``TorchError`` naming the file when it cannot be written, or a tensor whose
    ///   dtype safetensors cannot hold.
    public static func save(_ tensors: [NamedTensor], metadata: [String: String] = [:], to url: URL) throws {
        var entries: [String: SafeTensors.Entry] = [:]
        for (name, tensor) in tensors {
            guard entries[name] == nil else { throw TorchError("\(url.path): tensor '\(name)' appears twice") }
            entries[name] = try entry(for: tensor, name: name, path: url.path)
        }
        try SafeTensors.write(SafeTensors.Archive(tensors: entries, metadata: metadata), to: url)
    }

    /// Reads every tensor (on the CPU) and the metadata.
    ///
    /// - Throws: ``TorchError`` naming the file and the problem for a missing, truncated or
    ///   malformed file (see ``SafeTensors/decode(_:source:)`` for the checks).
    public static func load(from url: URL) throws -> (tensors: [String: Tensor], metadata: [String: String]) {
        let archive = try SafeTensors.read(from: url)
        var tensors: [String: Tensor] = [:]
        for (name, entry) in archive.tensors {
            tensors[name] = try tensor(from: entry, name: name, path: url.path)
        }
        return (tensors, archive.metadata)
    }

    /// The raw little-endian bytes and header fields of one tensor.
    static func entry(for tensor: Tensor, name: String, path: String) throws -> SafeTensors.Entry {
        let dtype = tensor.dtype
        guard let format = SafeTensors.DType(dtype) else {
            throw TorchError("\(path): tensor '\(name)' has dtype \(dtype), which safetensors cannot store")
        }
        let bytes = [UInt8](unsafeUninitializedCapacity: tensor.scalarCount * dtype.byteSize) { buffer, initialized in
            let status = ct_copy_data(tensor.handle, UnsafeMutableRawPointer(buffer.baseAddress), buffer.count)
            initialized = status == 0 ? buffer.count : 0
        }
        withExtendedLifetime(tensor) {}
        guard bytes.count == tensor.scalarCount * dtype.byteSize else {
            throw TorchError("\(path): copying tensor '\(name)' failed: \(lastTorchError())")
        }
        return SafeTensors.Entry(dtype: format, shape: tensor.shape, data: bytes)
    }

    /// A tensor holding a copy of an entry's bytes.
    static func tensor(from entry: SafeTensors.Entry, name: String, path: String) throws -> Tensor {
        var out: ct_tensor?
        let shape = entry.shape.map(Int64.init)
        let status = entry.data.withUnsafeBytes { bytes in
            shape.withUnsafeBufferPointer { dims in
                var placeholder: Int64 = 0
                return ct_from_data(
                    bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!,
                    dims.baseAddress ?? withUnsafePointer(to: &placeholder) { $0 },
                    Int64(shape.count), entry.dtype.tensorDType.rawValue, &out)
            }
        }
        guard status == 0, let out else {
            throw TorchError("\(path): tensor '\(name)' could not be created: \(lastTorchError())")
        }
        return Tensor(owning: out)
    }
}

extension SafeTensors.DType {
    /// The safetensors code for a tensor dtype (all of them have one).
    init?(_ dtype: DType) {
        switch dtype {
        case .float64: self = .float64
        case .float32: self = .float32
        case .float16: self = .float16
        case .bfloat16: self = .bfloat16
        case .int64: self = .int64
        case .int32: self = .int32
        case .int16: self = .int16
        case .int8: self = .int8
        case .uint8: self = .uint8
        case .bool: self = .bool
        }
    }

    /// The tensor dtype for this safetensors code.
    var tensorDType: DType {
        switch self {
        case .float64: .float64
        case .float32: .float32
        case .float16: .float16
        case .bfloat16: .bfloat16
        case .int64: .int64
        case .int32: .int32
        case .int16: .int16
        case .int8: .int8
        case .uint8: .uint8
        case .bool: .bool
        }
    }
}
