/// A named tensor: a parameter or buffer under its dotted, PyTorch-compatible name.
public typealias NamedTensor = (name: String, tensor: Tensor)

/// A building block of a network: parameters, buffers, children, and a training mode.
///
/// Names compose with dots from the root (`member0.conv1.weight`) exactly as PyTorch's
/// `state_dict()` names them, so a checkpoint maps onto the equivalent PyTorch module one to one.
/// Parameters are created once and updated in place, so the lists below are stable for the
/// lifetime of a module.
public protocol Module: AnyObject {
    /// The parameters this module holds itself (not its children's), in a stable order.
    var localParameters: [NamedTensor] { get }
    /// The buffers this module holds itself (saved and restored, not trained).
    var localBuffers: [NamedTensor] { get }
    /// The child modules by local name, in a stable order.
    var children: [(name: String, module: any Module)] { get }
    /// Whether the module behaves as in training (dropout on, batch statistics used and updated).
    var isTraining: Bool { get set }
}

/// A module that maps one tensor to one tensor.
public protocol Layer: Module {
    /// Applies the layer.
    func callAsFunction(_ input: Tensor) -> Tensor
}

extension Module {
    public var localParameters: [NamedTensor] { [] }
    public var localBuffers: [NamedTensor] { [] }
    public var children: [(name: String, module: any Module)] { [] }

    /// Every parameter of this module and its descendants, with dotted names, depth first.
    public func namedParameters(prefix: String = "") -> [NamedTensor] {
        localParameters.map { (prefix + $0.name, $0.tensor) }
            + children.flatMap { $0.module.namedParameters(prefix: prefix + $0.name + ".") }
    }

    /// Every buffer of this module and its descendants, with dotted names, depth first.
    public func namedBuffers(prefix: String = "") -> [NamedTensor] {
        localBuffers.map { (prefix + $0.name, $0.tensor) }
            + children.flatMap { $0.module.namedBuffers(prefix: prefix + $0.name + ".") }
    }

    /// Parameters then buffers: what a checkpoint stores (PyTorch's `state_dict()`).
    public func stateTensors(prefix: String = "") -> [NamedTensor] {
        namedParameters(prefix: prefix) + namedBuffers(prefix: prefix)
    }

    /// Moves every parameter and buffer to `device` (one that ``Device/checkAvailable()``
    /// accepted) in place: handles, names and gradients' owners stay, so an optimizer made before
    /// or after sees the same tensors. Create a module on the CPU (its seeded initialisers draw
    /// there) and move it, as PyTorch's `module.to(device)` does.
    public func move(to device: Device) {
        for (_, tensor) in stateTensors() where tensor.device != device {
            withoutGradients { tensor.setData(tensor.on(device)) }
        }
    }

    /// The device of the first parameter (every parameter's, after ``move(to:)``); CPU for a module
    /// without parameters.
    public var device: Device { namedParameters().first?.tensor.device ?? .cpu }

    /// Every trainable tensor, in the order of ``namedParameters(prefix:)``.
    public var parameters: [Tensor] {
        namedParameters().map(\.tensor)
    }

    /// Adds ∂loss/∂θ to the `grad` of this module's trainable parameters, and to nothing else.
    ///
    /// `loss.backward()` would also fill the `grad` of every other leaf that requires gradients,
    /// such as the images of an input-gradient penalty or of a finite-difference probe, and compute
    /// the branches of the graph that lead only there (the input gradients of the first layer, in
    /// the forward pass and in the double backward). Training needs none of it.
    public func backpropagate(_ loss: Tensor) {
        backward([loss], gradients: [nil], inputs: parameters.filter(\.requiresGrad))
    }

    /// The number of trainable scalars.
    public var parameterCount: Int {
        parameters.reduce(0) { $0 + $1.scalarCount }
    }

    /// Sets the training mode of this module and all its descendants.
    public func setTraining(_ training: Bool) {
        isTraining = training
        for child in children { child.module.setTraining(training) }
    }

    /// Switches to training mode.
    public func train() { setTraining(true) }

    /// Switches to evaluation mode (dropout off, running statistics used).
    public func eval() { setTraining(false) }

    /// Drops every parameter's accumulated gradient.
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGrad() }
    }

    /// Copies values into the parameters and buffers, by name.
    ///
    /// - Parameters:
    ///   - tensors: values by dotted name, as ``stateTensors(prefix:)`` names them.
    ///   - prefix: a prefix that the names in `tensors` carry before this module's own names.
    ///   - source: where the values came from (a file path), for error messages.
    /// - Throws: ``TorchError`` when a tensor is missing, has another shape or dtype, or when
    ///   `tensors` holds a name under `prefix` that the module does not have. Nothing is copied
    ///   unless every tensor matches.
    public func loadState(_ tensors: [String: Tensor], prefix: String = "", source: String) throws {
        let expected = stateTensors(prefix: prefix)
        for (name, tensor) in expected {
            guard let value = tensors[name] else { throw TorchError("\(source): missing tensor '\(name)'") }
            if value.shape != tensor.shape {
                throw TorchError("\(source): tensor '\(name)' has shape \(value.shape), the model expects \(tensor.shape)")
            }
            if value.dtype != tensor.dtype {
                throw TorchError("\(source): tensor '\(name)' has dtype \(value.dtype), the model expects \(tensor.dtype)")
            }
        }
        let known = Set(expected.map(\.name))
        if let unexpected = tensors.keys.filter({ $0.hasPrefix(prefix) && !known.contains($0) }).sorted().first {
            throw TorchError("\(source): unexpected tensor '\(unexpected)' for this model")
        }
        withoutGradients {
            for (name, tensor) in expected { tensor.copy_(tensors[name]!) }
        }
    }
}

/// Creates a parameter tensor initialised from U(-bound, bound), as PyTorch's default
/// Kaiming-uniform (a = √5) initialisation of `Linear` and `Conv2d` amounts to bound = 1/√fan_in.
func uniformParameter(_ shape: [Int], bound: Double) -> Tensor {
    let tensor = Tensor.zeros(shape)
    tensor.uniform_(-bound, bound)
    return tensor.requiringGrad()
}
