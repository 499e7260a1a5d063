import CTorch

extension Tensor {
    /// Whether operations on this tensor are recorded for differentiation.
    public var requiresGrad: Bool {
        get {
            var value = false
            check(ct_requires_grad(handle, &value), "requires_grad")
            return value
        }
        set {
            check(ct_set_requires_grad(handle, newValue), "requires_grad_")
        }
    }

    /// Marks this tensor as requiring gradients and returns it, for chaining.
    @discardableResult
    public func requiringGrad(_ flag: Bool = true) -> Tensor {
        requiresGrad = flag
        return self
    }

    /// Whether the tensor is a leaf of the autograd graph (created by the user, not by an operation).
    public var isLeaf: Bool {
        var value = false
        check(ct_is_leaf(handle, &value), "is_leaf")
        return value
    }

    /// The gradient accumulated by ``backward(_:retainGraph:createGraph:)``, or nil when none.
    public var grad: Tensor? {
        var out: ct_tensor?
        check(ct_grad(handle, &out), "grad")
        return out.map(Tensor.init(owning:))
    }

    /// Drops the accumulated gradient (PyTorch's `zero_grad(set_to_none=True)`).
    public func zeroGrad() {
        check(ct_set_grad(handle, nil), "zero_grad")
    }

    /// Accumulates the gradient of this tensor into the `grad` of every leaf it depends on.
    ///
    /// - Parameters:
    ///   - gradient: ∂L/∂self; nil for a one-element tensor (then 1).
    ///   - retainGraph: keep the graph for another backward pass; nil means `createGraph`, as in PyTorch.
    ///   - createGraph: record the backward pass itself, for higher-order derivatives.
    public func backward(_ gradient: Tensor? = nil, retainGraph: Bool? = nil, createGraph: Bool = false) {
        withExtendedLifetime(gradient) {
            check(ct_backward(handle, gradient?.handle, retainGraph ?? createGraph, createGraph), "backward(\(shape))")
        }
    }
}

/// The gradients of `outputs` with respect to `inputs`, without touching any `grad` field
/// (`torch.autograd.grad`).
///
/// With `createGraph` the gradients are themselves differentiable, which is how input-space
/// Hessian-vector products and gradient penalties (double backpropagation) are built.
///
/// - Parameters:
///   - outputs: the tensors to differentiate.
///   - inputs: the tensors to differentiate with respect to.
///   - gradOutputs: the vector in the vector-Jacobian product for each output; nil means ones
///     (which requires one-element outputs, as in PyTorch).
///   - retainGraph: keep the graph for later passes; nil means `createGraph`.
///   - createGraph: record the derivative computation for higher-order derivatives.
///   - allowUnused: give nil for an input the outputs do not depend on instead of failing.
/// - Returns: one gradient per input; nil only for unused inputs when `allowUnused` is true.
public func grad(
    of outputs: [Tensor], withRespectTo inputs: [Tensor], gradOutputs: [Tensor?]? = nil,
    retainGraph: Bool? = nil, createGraph: Bool = false, allowUnused: Bool = false
) -> [Tensor?] {
    if let gradOutputs {
        precondition(
            gradOutputs.count == outputs.count, "grad(of:): \(gradOutputs.count) grad outputs for \(outputs.count) outputs")
    }
    var results = [ct_tensor?](repeating: nil, count: inputs.count)
    let seeds: [ct_tensor?]? = gradOutputs?.map { $0?.handle }
    let retain: Int32 = retainGraph.map { $0 ? 1 : 0 } ?? -1
    let status = withExtendedLifetime((outputs, inputs, gradOutputs)) {
        outputs.map { Optional($0.handle) }.withUnsafeBufferPointer { outputHandles in
            inputs.map { Optional($0.handle) }.withUnsafeBufferPointer { inputHandles in
                results.withUnsafeMutableBufferPointer { resultBuffer in
                    if let seeds {
                        return seeds.withUnsafeBufferPointer {
                            ct_autograd_grad(
                                outputHandles.baseAddress, $0.baseAddress, Int64(outputs.count), inputHandles.baseAddress,
                                Int64(inputs.count), retain, createGraph, allowUnused, resultBuffer.baseAddress)
                        }
                    }
                    return ct_autograd_grad(
                        outputHandles.baseAddress, nil, Int64(outputs.count), inputHandles.baseAddress,
                        Int64(inputs.count), retain, createGraph, allowUnused, resultBuffer.baseAddress)
                }
            }
        }
    }
    if status != 0 { torchFailure("autograd.grad") }
    return results.map { $0.map(Tensor.init(owning:)) }
}

/// The gradient of one output with respect to one input (which the output must depend on).
public func grad(
    of output: Tensor, withRespectTo input: Tensor, gradOutput: Tensor? = nil,
    retainGraph: Bool? = nil, createGraph: Bool = false
) -> Tensor {
    let result = grad(
        of: [output], withRespectTo: [input], gradOutputs: [gradOutput], retainGraph: retainGraph, createGraph: createGraph)
    guard let gradient = result[0] else { fatalError("grad(of:withRespectTo:): no gradient") }
    return gradient
}

/// Runs `body` with gradient recording off on this thread, then restores the previous mode.
public func withoutGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try withGradientMode(false, body)
}

/// Runs `body` with gradient recording on on this thread, then restores the previous mode.
public func withGradients<Result>(_ body: () throws -> Result) rethrows -> Result {
    try withGradientMode(true, body)
}

private func withGradientMode<Result>(_ enabled: Bool, _ body: () throws -> Result) rethrows -> Result {
    var previous = false
    check(ct_set_grad_enabled(enabled, &previous), "set_grad_enabled")
    defer {
        var ignored = false
        check(ct_set_grad_enabled(previous, &ignored), "set_grad_enabled")
    }
    return try body()
}

/// Whether gradient recording is on for this thread.
public var isGradientRecordingEnabled: Bool {
    var value = false
    check(ct_is_grad_enabled(&value), "is_grad_enabled")
    return value
}

/// Accumulates the vector-Jacobian products of `roots` into the `grad` of `inputs` only
/// (`torch.autograd.backward(roots, gradients, inputs=inputs)`); every other leaf, and any
/// branch of the graph that leads only to other leaves, is left alone. The graph is freed.
///
/// - Parameters:
///   - roots: the tensors to differentiate.
///   - gradients: ∂L/∂root for each root; nil means 1 (a one-element root).
///   - inputs: the leaves whose gradients are wanted.
public func backward(_ roots: [Tensor], gradients: [Tensor?], inputs: [Tensor]) {
    precondition(roots.count == gradients.count, "backward: \(gradients.count) gradients for \(roots.count) roots")
    let status = withExtendedLifetime((roots, gradients, inputs)) {
        roots.map { Optional($0.handle) }.withUnsafeBufferPointer { rootHandles in
            gradients.map { $0?.handle }.withUnsafeBufferPointer { gradientHandles in
                inputs.map { Optional($0.handle) }.withUnsafeBufferPointer { inputHandles in
                    ct_backward_to(
                        rootHandles.baseAddress, gradientHandles.baseAddress, Int64(roots.count), inputHandles.baseAddress,
                        Int64(inputs.count))
                }
            }
        }
    }
    if status != 0 { torchFailure("autograd.backward") }
}
