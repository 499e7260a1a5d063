import CTorch

// In-place updates for optimizers, initialisers and running statistics. On tensors that require
// gradients they belong inside `withoutGradients`; libtorch rejects them otherwise.
extension Tensor {
    /// Copies `source` (broadcast) into this tensor.
    public func copy_(_ source: Tensor) {
        source.withHandle { check(ct_copy_(handle, $0), "copy_(\(shape) <- \(source.shape))") }
    }
    /// Sets every element to zero.
    public func zero_() { check(ct_zero_(handle), "zero_") }
    /// Sets every element to `value`.
    public func fill_(_ value: Double) { check(ct_fill_(handle, value), "fill_") }
    /// Fills with uniform samples in [`low`, `high`).
    public func uniform_(_ low: Double, _ high: Double) { check(ct_uniform_(handle, low, high), "uniform_") }
    /// Fills with normal samples.
    public func normal_(mean: Double = 0, std: Double = 1) { check(ct_normal_(handle, mean, std), "normal_") }
    /// self += alpha·other.
    public func add_(_ other: Tensor, alpha: Double = 1) { other.withHandle { check(ct_add_(handle, $0, alpha), "add_") } }
    /// self += value.
    public func add_(_ value: Double) { check(ct_add_scalar_(handle, value), "add_(scalar)") }
    /// self *= other.
    public func mul_(_ other: Tensor) { other.withHandle { check(ct_mul_(handle, $0), "mul_") } }
    /// self *= value.
    public func mul_(_ value: Double) { check(ct_mul_scalar_(handle, value), "mul_(scalar)") }
    /// self /= other.
    public func div_(_ other: Tensor) { other.withHandle { check(ct_div_(handle, $0), "div_") } }
    /// self += value·a·b.
    public func addcmul_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        withExtendedLifetime((a, b)) { check(ct_addcmul_(handle, a.handle, b.handle, value), "addcmul_") }
    }
    /// self += value·a/b.
    public func addcdiv_(_ a: Tensor, _ b: Tensor, value: Double = 1) {
        withExtendedLifetime((a, b)) { check(ct_addcdiv_(handle, a.handle, b.handle, value), "addcdiv_") }
    }
    /// Limits every element to [`min`, `max`].
    public func clamp_(min: Double, max: Double) { check(ct_clamp_(handle, min, max), "clamp_") }
}
