import CTorch

// Elementwise arithmetic with broadcasting, for tensor–tensor and tensor–scalar operands.
// Scalars are Double and take the tensor's dtype (0-dimensional operands don't promote, as in PyTorch).

typealias BinaryShim = (OpaquePointer?, OpaquePointer?, UnsafeMutablePointer<ct_tensor?>?) -> Int32
typealias ScalarShim = (OpaquePointer?, Double, UnsafeMutablePointer<ct_tensor?>?) -> Int32

@inline(__always)
func binary(_ name: String, _ lhs: Tensor, _ rhs: Tensor, _ shim: BinaryShim) -> Tensor {
    withExtendedLifetime((lhs, rhs)) {
        Tensor.make("\(name)(\(lhs.shape), \(rhs.shape))") { shim(lhs.handle, rhs.handle, $0) }
    }
}

@inline(__always)
func binary(_ name: String, _ lhs: Tensor, _ rhs: Double, _ shim: ScalarShim) -> Tensor {
    withExtendedLifetime(lhs) {
        Tensor.make("\(name)(\(lhs.shape), \(rhs))") { shim(lhs.handle, rhs, $0) }
    }
}

extension Tensor {
    public static func + (lhs: Tensor, rhs: Tensor) -> Tensor { binary("add", lhs, rhs, ct_add) }
    public static func - (lhs: Tensor, rhs: Tensor) -> Tensor { binary("sub", lhs, rhs, ct_sub) }
    public static func * (lhs: Tensor, rhs: Tensor) -> Tensor { binary("mul", lhs, rhs, ct_mul) }
    public static func / (lhs: Tensor, rhs: Tensor) -> Tensor { binary("div", lhs, rhs, ct_div) }

    public static func + (lhs: Tensor, rhs: Double) -> Tensor { binary("add", lhs, rhs, ct_add_scalar) }
    public static func - (lhs: Tensor, rhs: Double) -> Tensor { binary("sub", lhs, rhs, ct_sub_scalar) }
    public static func * (lhs: Tensor, rhs: Double) -> Tensor { binary("mul", lhs, rhs, ct_mul_scalar) }
    public static func / (lhs: Tensor, rhs: Double) -> Tensor { binary("div", lhs, rhs, ct_div_scalar) }

    public static func + (lhs: Double, rhs: Tensor) -> Tensor { binary("add", rhs, lhs, ct_add_scalar) }
    public static func - (lhs: Double, rhs: Tensor) -> Tensor { binary("rsub", rhs, lhs, ct_rsub_scalar) }
    public static func * (lhs: Double, rhs: Tensor) -> Tensor { binary("mul", rhs, lhs, ct_mul_scalar) }
    public static func / (lhs: Double, rhs: Tensor) -> Tensor { binary("rdiv", rhs, lhs, ct_rdiv_scalar) }

    public static prefix func - (operand: Tensor) -> Tensor {
        Tensor.make("neg") { ct_neg(operand.handle, $0) }
    }

    /// Elementwise power with a tensor exponent.
    public func pow(_ exponent: Tensor) -> Tensor { binary("pow", self, exponent, ct_pow) }
    /// Elementwise power with a scalar exponent.
    public func pow(_ exponent: Double) -> Tensor { binary("pow", self, exponent, ct_pow_scalar) }
    /// The elementwise larger of two tensors.
    public func maximum(_ other: Tensor) -> Tensor { binary("maximum", self, other, ct_maximum) }
    /// The elementwise smaller of two tensors.
    public func minimum(_ other: Tensor) -> Tensor { binary("minimum", self, other, ct_minimum) }
    /// The matrix product, batched and broadcast like `torch.matmul`.
    public func matmul(_ other: Tensor) -> Tensor { binary("matmul", self, other, ct_matmul) }

    /// The elementwise logical and of two bool tensors.
    public static func .& (lhs: Tensor, rhs: Tensor) -> Tensor { binary("logical_and", lhs, rhs, ct_logical_and) }
    /// The elementwise logical or of two bool tensors.
    public static func .| (lhs: Tensor, rhs: Tensor) -> Tensor { binary("logical_or", lhs, rhs, ct_logical_or) }

    public static func .== (lhs: Tensor, rhs: Tensor) -> Tensor { binary("eq", lhs, rhs, ct_eq) }
    public static func .!= (lhs: Tensor, rhs: Tensor) -> Tensor { binary("ne", lhs, rhs, ct_ne) }
    public static func .< (lhs: Tensor, rhs: Tensor) -> Tensor { binary("lt", lhs, rhs, ct_lt) }
    public static func .<= (lhs: Tensor, rhs: Tensor) -> Tensor { binary("le", lhs, rhs, ct_le) }
    public static func .> (lhs: Tensor, rhs: Tensor) -> Tensor { binary("gt", lhs, rhs, ct_gt) }
    public static func .>= (lhs: Tensor, rhs: Tensor) -> Tensor { binary("ge", lhs, rhs, ct_ge) }
    public static func .== (lhs: Tensor, rhs: Double) -> Tensor { binary("eq", lhs, rhs, ct_eq_scalar) }
    public static func .!= (lhs: Tensor, rhs: Double) -> Tensor { binary("ne", lhs, rhs, ct_ne_scalar) }
    public static func .< (lhs: Tensor, rhs: Double) -> Tensor { binary("lt", lhs, rhs, ct_lt_scalar) }
    public static func .<= (lhs: Tensor, rhs: Double) -> Tensor { binary("le", lhs, rhs, ct_le_scalar) }
    public static func .> (lhs: Tensor, rhs: Double) -> Tensor { binary("gt", lhs, rhs, ct_gt_scalar) }
    public static func .>= (lhs: Tensor, rhs: Double) -> Tensor { binary("ge", lhs, rhs, ct_ge_scalar) }
}

/// Elements of `a` where `condition` is true and of `b` elsewhere (broadcast).
public func `where`(_ condition: Tensor, _ a: Tensor, _ b: Tensor) -> Tensor {
    withExtendedLifetime((condition, a, b)) {
        Tensor.make("where") { ct_where(condition.handle, a.handle, b.handle, $0) }
    }
}
