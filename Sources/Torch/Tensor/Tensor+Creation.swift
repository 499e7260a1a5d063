import CTorch

extension Tensor {
    /// Creates a tensor holding a copy of `scalars`, laid out row-major in `shape`, on `device`
    /// (a device that ``Device/checkAvailable()`` accepted).
    ///
    /// - Precondition: `scalars.count` equals the product of `shape`.
    public convenience init<Scalar: TensorScalar>(_ scalars: [Scalar], shape: [Int], on device: Device = .cpu) {
        let expected = shape.reduce(1, *)
        precondition(
            scalars.count == expected, "Tensor(_:shape:): \(scalars.count) values for shape \(shape) (\(expected) elements)")
        precondition(shape.allSatisfy { $0 >= 0 }, "Tensor(_:shape:): negative dimension in \(shape)")
        var out: ct_tensor?
        let status: Int32
        if Scalar.self == Int.self {
            // Swift's Int is 64-bit on every platform this package builds for.
            status = scalars.withUnsafeBytes { bytes in
                withInt64s(shape) {
                    ct_from_data(bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, $0, $1, DType.int64.rawValue, &out)
                }
            }
        } else {
            status = scalars.withUnsafeBytes { bytes in
                withInt64s(shape) {
                    ct_from_data(bytes.baseAddress ?? UnsafeRawPointer(bitPattern: 8)!, $0, $1, Scalar.dtype.rawValue, &out)
                }
            }
        }
        guard status == 0, var out else { torchFailure("from_data(shape: \(shape))") }
        if device != .cpu {
            let host = out
            defer { ct_free(host) }
            var moved: ct_tensor?
            guard ct_to_device(host, device.typeCode, Int64(device.index), &moved) == 0, let moved else {
                torchFailure("from_data(shape: \(shape)) to \(device)")
            }
            out = moved
        }
        self.init(owning: out)
    }

    /// Creates a one-dimensional tensor holding a copy of `scalars`, on `device`.
    public convenience init<Scalar: TensorScalar>(_ scalars: [Scalar], on device: Device = .cpu) {
        self.init(scalars, shape: [scalars.count], on: device)
    }

    /// Creates a zero-dimensional tensor holding one value.
    public convenience init(_ value: Double, dtype: DType = .float32) {
        var out: ct_tensor?
        guard ct_scalar_tensor(value, dtype.rawValue, &out) == 0, let out else { torchFailure("scalar_tensor") }
        self.init(owning: out)
    }

    /// A tensor of zeros.
    public static func zeros(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("zeros(\(shape))") { out in withInt64s(shape) { ct_zeros($0, $1, dtype.rawValue, out) } }.on(device)
    }

    /// A tensor of ones.
    public static func ones(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("ones(\(shape))") { out in withInt64s(shape) { ct_ones($0, $1, dtype.rawValue, out) } }.on(device)
    }

    /// A tensor filled with one value.
    public static func full(_ shape: [Int], value: Double, dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("full(\(shape))") { out in withInt64s(shape) { ct_full($0, $1, value, dtype.rawValue, out) } }.on(device)
    }

    /// Uniform samples in [0, 1) from libtorch's global CPU generator (copied to `device`: a seed
    /// gives the same draws on every device).
    public static func rand(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("rand(\(shape))") { out in withInt64s(shape) { ct_rand($0, $1, dtype.rawValue, out) } }.on(device)
    }

    /// Standard normal samples from libtorch's global CPU generator (copied to `device`).
    public static func randn(_ shape: [Int], dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("randn(\(shape))") { out in withInt64s(shape) { ct_randn($0, $1, dtype.rawValue, out) } }.on(device)
    }

    /// Uniform integers in `range` (int64).
    public static func randint(_ range: Range<Int>, shape: [Int], on device: Device = .cpu) -> Tensor {
        make("randint(\(range), \(shape))") { out in
            withInt64s(shape) { ct_randint(Int64(range.lowerBound), Int64(range.upperBound), $0, $1, out) }
        }.on(device)
    }

    /// A random permutation of 0..<n (int64).
    public static func randperm(_ n: Int) -> Tensor {
        make("randperm(\(n))") { ct_randperm(Int64(n), $0) }
    }

    /// Values from `start` up to, not including, `end`, spaced by `step`.
    public static func arange(_ start: Double = 0, _ end: Double, step: Double = 1, dtype: DType = .float32) -> Tensor {
        make("arange(\(start), \(end), \(step))") { ct_arange(start, end, step, dtype.rawValue, $0) }
    }

    /// The n×n identity matrix.
    public static func eye(_ n: Int, dtype: DType = .float32, on device: Device = .cpu) -> Tensor {
        make("eye(\(n))") { ct_eye(Int64(n), dtype.rawValue, $0) }.on(device)
    }

    /// Zeros with this tensor's shape, dtype and device.
    public func zerosLike() -> Tensor { Tensor.make("zeros_like") { ct_zeros_like(handle, $0) } }
    /// Ones with this tensor's shape, dtype and device.
    public func onesLike() -> Tensor { Tensor.make("ones_like") { ct_ones_like(handle, $0) } }
    /// Uniform samples in [0, 1) with this tensor's shape, dtype and device, drawn from the CPU
    /// generator on every device.
    public func randLike() -> Tensor { Tensor.make("rand_like") { ct_rand_like(handle, $0) } }
    /// Standard normal samples with this tensor's shape, dtype and device, drawn from the CPU
    /// generator on every device.
    public func randnLike() -> Tensor { Tensor.make("randn_like") { ct_randn_like(handle, $0) } }
}

// MARK: - Back to Swift

extension Tensor {
    /// A copy of the elements in row-major order, converted to `Scalar`'s element type if needed.
    public func scalars<Scalar: TensorScalar>(as type: Scalar.Type = Scalar.self) -> [Scalar] {
        let source = dtype == Scalar.dtype ? self : converted(to: Scalar.dtype)
        let count = source.scalarCount
        let result = [Scalar](unsafeUninitializedCapacity: count) { buffer, initialized in
            let status = ct_copy_data(
                source.handle, UnsafeMutableRawPointer(buffer.baseAddress), count * MemoryLayout<Scalar>.stride)
            check(status, "copy_data")
            initialized = count
        }
        withExtendedLifetime(source) {}
        return result
    }

    /// The value of a one-element tensor, as a `Double`.
    public func item() -> Double {
        var value = 0.0
        check(ct_item(handle, &value), "item (shape \(shape))")
        return value
    }

    /// The value of a one-element tensor, as a `Float`.
    public var floatValue: Float { Float(item()) }

    /// The value of a one-element integer tensor, as an `Int`.
    public var intValue: Int { Int(item()) }
}
