import CTorch

/// An n-dimensional array on a device, backed by a libtorch tensor, with reverse-mode autodiff.
///
/// `Tensor` is a reference type that owns one libtorch handle and releases it when the last Swift
/// reference goes away. Operations return new tensors and never mutate their operands, except the
/// explicitly in-place ones whose names end in an underscore (`add_(_:alpha:)`), which optimizers and
/// initialisers use under ``withoutGradients(_:)``.
///
/// Math on validated inputs does not throw: a failure there (say, mismatched shapes) is a programmer
/// error, and the process stops with libtorch's message naming the operation. Validate user data
/// at the boundary (files, flags) so that it never reaches such a failure.
///
/// The class is `@unchecked Sendable` because libtorch tensors may be used from any thread; using
/// one tensor from two threads at once without synchronisation is, as in PyTorch, a data race.
public final class Tensor: @unchecked Sendable {
    /// The owned libtorch handle.
    let handle: OpaquePointer

    /// Takes ownership of a handle returned by the C shim.
    init(owning handle: OpaquePointer) {
        self.handle = handle
    }

    deinit {
        ct_free(handle)
    }
}

// MARK: - Calling the shim

/// Stops the process with libtorch's message for a failed operation.
@usableFromInline
func torchFailure(_ operation: String) -> Never {
    fatalError("libtorch: \(operation) failed: \(String(cString: ct_last_error()))")
}

/// libtorch's message for the last failure on this thread.
func lastTorchError() -> String {
    String(cString: ct_last_error())
}

/// Stops the process when a shim call that returns no tensor failed.
@inline(__always)
func check(_ status: Int32, _ operation: @autoclosure () -> String) {
    if status != 0 { torchFailure(operation()) }
}

/// Throws a ``TorchError`` when a shim call failed; for calls on user data.
@inline(__always)
func checkThrowing(_ status: Int32, _ context: @autoclosure () -> String) throws {
    if status != 0 { throw TorchError("\(context()): \(lastTorchError())") }
}

extension Tensor {
    /// Runs a shim call that writes one tensor and wraps the result.
    @inline(__always)
    static func make(_ operation: @autoclosure () -> String, _ body: (UnsafeMutablePointer<ct_tensor?>) -> Int32) -> Tensor {
        var out: ct_tensor?
        let status = body(&out)
        guard status == 0, let out else { torchFailure(operation()) }
        return Tensor(owning: out)
    }

    /// Runs a shim call that writes two tensors (values and indices) and wraps the results.
    @inline(__always)
    static func makePair(
        _ operation: @autoclosure () -> String,
        _ body: (UnsafeMutablePointer<ct_tensor?>, UnsafeMutablePointer<ct_tensor?>) -> Int32
    ) -> (Tensor, Tensor) {
        var first: ct_tensor?
        var second: ct_tensor?
        let status = body(&first, &second)
        guard status == 0, let first, let second else { torchFailure(operation()) }
        return (Tensor(owning: first), Tensor(owning: second))
    }

    /// Calls `body` with this tensor's handle, keeping the tensor alive for the call.
    @inline(__always)
    func withHandle<R>(_ body: (OpaquePointer) throws -> R) rethrows -> R {
        try withExtendedLifetime(self) { try body(handle) }
    }
}

/// Calls `body` with a C array of the tensors' handles, keeping the tensors alive for the call.
@inline(__always)
func withHandles<R>(_ tensors: [Tensor], _ body: (UnsafePointer<ct_tensor?>) -> R) -> R {
    let handles: [ct_tensor?] = tensors.map { $0.handle }
    return withExtendedLifetime(tensors) {
        handles.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}

/// Calls `body` with the integers as a C array of `int64_t`.
@inline(__always)
func withInt64s<R>(_ values: [Int], _ body: (UnsafePointer<Int64>, Int64) -> R) -> R {
    let converted = values.map(Int64.init)
    return converted.withUnsafeBufferPointer { buffer in
        // A zero-length array still needs a valid pointer for libtorch's IntArrayRef.
        var placeholder: Int64 = 0
        if let base = buffer.baseAddress { return body(base, Int64(buffer.count)) }
        return body(&placeholder, 0)
    }
}

// MARK: - Metadata

extension Tensor {
    /// The number of dimensions.
    public var rank: Int {
        var value: Int64 = 0
        check(ct_dim(handle, &value), "dim")
        return Int(value)
    }

    /// The size of each dimension.
    public var shape: [Int] {
        let rank = self.rank
        var sizes = [Int64](repeating: 0, count: rank)
        check(ct_sizes(handle, &sizes, Int64(rank)), "sizes")
        return sizes.map(Int.init)
    }

    /// The number of elements.
    public var scalarCount: Int {
        var value: Int64 = 0
        check(ct_numel(handle, &value), "numel")
        return Int(value)
    }

    /// The element type.
    public var dtype: DType {
        var code: Int32 = 0
        check(ct_dtype(handle, &code), "dtype")
        guard let dtype = DType(rawValue: code) else { fatalError("libtorch: unsupported scalar type code \(code)") }
        return dtype
    }

    /// The device that holds the data.
    public var device: Device {
        var type: Int32 = 0
        var index: Int64 = 0
        check(ct_device(handle, &type, &index), "device")
        return Device(typeCode: type, index: Int(index))
    }

    /// A new handle to the same storage and autograd history (no copy).
    public func aliased() -> Tensor {
        Tensor.make("shallow clone") { ct_shallow_clone(handle, $0) }
    }

    /// A copy with its own storage, still connected to the autograd graph.
    public func cloned() -> Tensor {
        Tensor.make("clone") { ct_clone(handle, $0) }
    }

    /// The same data, laid out contiguously in row-major order.
    public func contiguous() -> Tensor {
        Tensor.make("contiguous") { ct_contiguous(handle, $0) }
    }

    /// The same data in channels-last (NHWC) memory layout; shape and values unchanged.
    public func channelsLast() -> Tensor {
        Tensor.make("channels last") { ct_channels_last(handle, $0) }
    }

    /// The values converted to another element type.
    public func converted(to dtype: DType) -> Tensor {
        Tensor.make("to(\(dtype))") { ct_to_dtype(handle, dtype.rawValue, $0) }
    }

    /// A copy on another device.
    ///
    /// - Throws: ``TorchError`` when the device is not available (for example CUDA in a CPU build).
    public func moved(to device: Device) throws -> Tensor {
        var out: ct_tensor?
        try checkThrowing(ct_to_device(handle, device.typeCode, Int64(device.index), &out), "moving a tensor to \(device)")
        guard let out else { throw TorchError("moving a tensor to \(device): no result") }
        return Tensor(owning: out)
    }

    /// This tensor on `device`, a device that ``Device/checkAvailable()`` accepted: itself when it
    /// is there already, else a copy (connected to the autograd graph).
    public func on(_ device: Device) -> Tensor {
        if device == self.device { return self }
        return Tensor.make("to(\(device))") { ct_to_device(handle, device.typeCode, Int64(device.index), $0) }
    }

    /// Points this tensor at `source`'s data, keeping its handle (PyTorch's `tensor.data = source`):
    /// moves a parameter to another device in place, so optimizers and modules keep their handles.
    public func setData(_ source: Tensor) {
        source.withHandle { check(ct_set_data(handle, $0), "set_data") }
    }

    /// The number of live tensor handles in the process; tests use it to check that nothing leaks.
    public static var liveCount: Int {
        Int(ct_live_tensors())
    }
}
