import Foundation

/// A first-order optimizer over a fixed list of parameters, updating them in place.
///
/// The update rules follow PyTorch's `torch.optim` classes exactly, so that a run can be compared
/// with a PyTorch one step for step. State tensors are exposed by name for checkpoints.
public protocol Optimizer: AnyObject {
    /// The parameters, in the order their state is indexed.
    var parameters: [Tensor] { get }
    /// The step size of the next ``step()``.
    var learningRate: Double { get set }
    /// Applies one update from the parameters' accumulated gradients (parameters without one are skipped).
    func step()
    /// The optimizer's state by name (`momentum_buffer.3`), for checkpoints.
    func stateTensors() -> [NamedTensor]
    /// Restores state saved by ``stateTensors()``.
    ///
    /// - Throws: ``TorchError`` when a tensor's shape does not match its parameter.
    func loadState(_ tensors: [String: Tensor], source: String) throws
}

extension Optimizer {
    /// Drops every parameter's accumulated gradient.
    public func zeroGrad() {
        for parameter in parameters { parameter.zeroGrad() }
    }

    /// Validates and copies saved per-parameter state into fresh tensors.
    func restoredBuffers(_ name: String, from tensors: [String: Tensor], source: String) throws -> [Tensor?] {
        try parameters.enumerated().map { index, parameter in
            guard let saved = tensors["\(name).\(index)"] else { return nil }
            guard saved.shape == parameter.shape else {
                throw TorchError(
                    "\(source): optimizer state '\(name).\(index)' has shape \(saved.shape), parameter \(index) has \(parameter.shape)"
                )
            }
            // On the parameter's device: a checkpoint is read on the CPU and may resume on a GPU.
            return saved.detached().cloned().on(parameter.device)
        }
    }
}

/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, as `torch.optim.SGD`.
public final class SGD: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let momentum: Double
    public let dampening: Double
    public let nesterov: Bool
    public let weightDecay: Double
    private var momentumBuffers: [Tensor?]

    public init(
        parameters: [Tensor], learningRate: Double, momentum: Double = 0, dampening: Double = 0, nesterov: Bool = false,
        weightDecay: Double = 0
    ) {
        precondition(
            !nesterov || (momentum > 0 && dampening == 0), "SGD: Nesterov momentum requires momentum > 0 and no dampening")
        self.parameters = parameters
        self.learningRate = learningRate
        self.momentum = momentum
        self.dampening = dampening
        self.nesterov = nesterov
        self.weightDecay = weightDecay
        momentumBuffers = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        withoutGradients {
            for (index, parameter) in parameters.enumerated() {
                guard var gradient = parameter.grad else { continue }
                if weightDecay != 0 { gradient = gradient + weightDecay * parameter }
                if momentum != 0 {
                    let buffer: Tensor
                    if let existing = momentumBuffers[index] {
                        existing.mul_(momentum)
                        existing.add_(gradient, alpha: 1 - dampening)
                        buffer = existing
                    } else {
                        buffer = gradient.detached().cloned()
                        momentumBuffers[index] = buffer
                    }
                    gradient = nesterov ? gradient + momentum * buffer : buffer
                }
                parameter.add_(gradient, alpha: -learningRate)
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        momentumBuffers.enumerated().compactMap { index, buffer in buffer.map { ("momentum_buffer.\(index)", $0) } }
    }

    public func loadState(_ tensors: [String: Tensor], source: String) throws {
        momentumBuffers = try restoredBuffers("momentum_buffer", from: tensors, source: source)
    }
}

/// Adam (Kingma & Ba 2015) with PyTorch's bias correction; `decoupled` gives AdamW
/// (Loshchilov & Hutter 2019), whose weight decay shrinks the weights directly.
public final class Adam: Optimizer {
    public let parameters: [Tensor]
    public var learningRate: Double
    public let beta1: Double
    public let beta2: Double
    public let eps: Double
    public let weightDecay: Double
    public let decoupled: Bool
    private var stepCount = 0
    private var firstMoments: [Tensor?]
    private var secondMoments: [Tensor?]

    public init(
        parameters: [Tensor], learningRate: Double = 1e-3, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8,
        weightDecay: Double = 0, decoupled: Bool = false
    ) {
        self.parameters = parameters
        self.learningRate = learningRate
        self.beta1 = beta1
        self.beta2 = beta2
        self.eps = eps
        self.weightDecay = weightDecay
        self.decoupled = decoupled
        firstMoments = Array(repeating: nil, count: parameters.count)
        secondMoments = Array(repeating: nil, count: parameters.count)
    }

    public func step() {
        stepCount += 1
        let correction1 = 1 - Foundation.pow(beta1, Double(stepCount))
        let correction2 = 1 - Foundation.pow(beta2, Double(stepCount))
        withoutGradients {
            for (index, parameter) in parameters.enumerated() {
                guard var gradient = parameter.grad else { continue }
                if weightDecay != 0 {
                    if decoupled {
                        parameter.mul_(1 - learningRate * weightDecay)
                    } else {
                        gradient = gradient + weightDecay * parameter
                    }
                }
                let first = firstMoments[index] ?? parameter.zerosLike()
                let second = secondMoments[index] ?? parameter.zerosLike()
                firstMoments[index] = first
                secondMoments[index] = second
                first.mul_(beta1)
                first.add_(gradient, alpha: 1 - beta1)
                second.mul_(beta2)
                second.addcmul_(gradient, gradient, value: 1 - beta2)
                let denominator = second.sqrt() / Foundation.sqrt(correction2) + eps
                parameter.addcdiv_(first, denominator, value: -learningRate / correction1)
            }
        }
    }

    public func stateTensors() -> [NamedTensor] {
        var result: [NamedTensor] = [("step", Tensor(Double(stepCount), dtype: .float64))]
        for (index, moment) in firstMoments.enumerated() { if let moment { result.append(("exp_avg.\(index)", moment)) } }
        for (index, moment) in secondMoments.enumerated() { if let moment { result.append(("exp_avg_sq.\(index)", moment)) } }
        return result
    }

    public func loadState(_ tensors: [String: Tensor], source: String) throws {
        firstMoments = try restoredBuffers("exp_avg", from: tensors, source: source)
        secondMoments = try restoredBuffers("exp_avg_sq", from: tensors, source: source)
        stepCount = tensors["step"].map { $0.intValue } ?? 0
    }
}
