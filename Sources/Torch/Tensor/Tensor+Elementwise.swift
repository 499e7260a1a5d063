import CTorch

typealias UnaryShim = (OpaquePointer?, UnsafeMutablePointer<ct_tensor?>?) -> Int32

extension Tensor {
    @inline(__always)
    func unary(_ name: String, _ shim: UnaryShim) -> Tensor {
        Tensor.make(name) { shim(handle, $0) }
    }

    /// |x|.
    public func abs() -> Tensor { unary("abs", ct_abs) }
    /// -1, 0 or 1 by the sign of x.
    public func sign() -> Tensor { unary("sign", ct_sign) }
    /// eˣ.
    public func exp() -> Tensor { unary("exp", ct_exp) }
    /// The natural logarithm.
    public func log() -> Tensor { unary("log", ct_log) }
    /// log(1 + x), accurate near 0.
    public func log1p() -> Tensor { unary("log1p", ct_log1p) }
    /// √x.
    public func sqrt() -> Tensor { unary("sqrt", ct_sqrt) }
    /// x².
    public func squared() -> Tensor { unary("square", ct_square) }
    /// 1/x.
    public func reciprocal() -> Tensor { unary("reciprocal", ct_reciprocal) }
    /// ⌊x⌋.
    public func floor() -> Tensor { unary("floor", ct_floor) }
    /// x rounded to the nearest integer, halves to even.
    public func rounded() -> Tensor { unary("round", ct_round) }
    /// max(x, 0).
    public func relu() -> Tensor { unary("relu", ct_relu) }
    /// The hyperbolic tangent.
    public func tanh() -> Tensor { unary("tanh", ct_tanh) }
    /// 1 / (1 + e⁻ˣ).
    public func sigmoid() -> Tensor { unary("sigmoid", ct_sigmoid) }
    /// The sine.
    public func sin() -> Tensor { unary("sin", ct_sin) }
    /// The cosine.
    public func cos() -> Tensor { unary("cos", ct_cos) }
    /// The elementwise logical not.
    public func logicalNot() -> Tensor { unary("logical_not", ct_logical_not) }
    /// True where x is neither infinite nor NaN.
    public func isFinite() -> Tensor { unary("isfinite", ct_isfinite) }
    /// True where x is NaN.
    public func isNaN() -> Tensor { unary("isnan", ct_isnan) }
    /// A new tensor sharing the data but cut from the autograd graph.
    public func detached() -> Tensor { unary("detach", ct_detach) }

    /// x for x ≥ 0 and `negativeSlope`·x otherwise.
    public func leakyRelu(negativeSlope: Double = 0.01) -> Tensor {
        Tensor.make("leaky_relu") { ct_leaky_relu(handle, negativeSlope, $0) }
    }

    /// log(1 + e^(βx))/β, linear above `threshold`/β, as `torch.nn.functional.softplus`.
    public func softplus(beta: Double = 1, threshold: Double = 20) -> Tensor {
        Tensor.make("softplus") { ct_softplus(handle, beta, threshold, $0) }
    }

    /// The values limited to [`min`, `max`]; a nil bound is open.
    public func clamped(min: Double? = nil, max: Double? = nil) -> Tensor {
        Tensor.make("clamp") { ct_clamp(handle, min != nil, min ?? 0, max != nil, max ?? 0, $0) }
    }

    /// The values limited to a closed range.
    public func clamped(to range: ClosedRange<Double>) -> Tensor {
        clamped(min: range.lowerBound, max: range.upperBound)
    }

    /// The values limited elementwise by tensors (broadcast); a nil bound is open.
    public func clamped(min: Tensor?, max: Tensor?) -> Tensor {
        withExtendedLifetime((min, max)) {
            Tensor.make("clamp(tensor bounds)") { ct_clamp_tensor(handle, min?.handle, max?.handle, $0) }
        }
    }

    /// The softmax along `axis`.
    public func softmax(alongAxis axis: Int) -> Tensor {
        Tensor.make("softmax(\(axis))") { ct_softmax(handle, Int64(axis), $0) }
    }

    /// The log-softmax along `axis`, computed stably.
    public func logSoftmax(alongAxis axis: Int) -> Tensor {
        Tensor.make("log_softmax(\(axis))") { ct_log_softmax(handle, Int64(axis), $0) }
    }
}
