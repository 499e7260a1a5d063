import Foundation
import TestSupport
import Testing

@testable import Torch

/// A small smooth network in float64: softplus(W2·tanh(W1·x + b1)), with a cross-entropy loss.
private struct SmoothModel {
    let w1 = Tensor([0.3, -0.2, 0.5, 0.1, 0.4, -0.6, -0.3, 0.2, 0.7, 0.05, -0.15, 0.25], shape: [4, 3]).requiringGrad()
    let b1 = Tensor([0.1, -0.1, 0.05, 0.0]).requiringGrad()
    let w2 = Tensor([0.6, -0.4, 0.3, 0.2, -0.5, 0.7, 0.1, -0.3], shape: [2, 4]).requiringGrad()

    func loss(_ x: Tensor, labels: Tensor) -> Tensor {
        let hidden = linear(x, weight: w1, bias: b1).tanh()
        let logits = linear(hidden, weight: w2).softplus()
        return crossEntropy(logits: logits, labels: labels, reduction: .sum)
    }
}

@Suite("Autograd: first and second order")
struct AutogradTests {
    let x = Tensor([0.5, -1.0, 0.25, 1.5, 0.3, -0.7], shape: [2, 3])
    let labels = Tensor([Int64(1), 0])

    @Test func backwardMatchesCentralDifferences() {
        // f(a) = Σ log_softmax(conv(a) pooled)·c + ‖a‖³: many ops in one graph, checked in float64.
        let weight = Tensor([0.2, -0.1, 0.4, 0.3, -0.2, 0.1, 0.05, 0.3], shape: [2, 1, 2, 2])
        let coefficients = Tensor([0.3, -0.7, 1.1, 0.2, -0.4, 0.6, 0.25, -0.9], shape: [2, 4])
        func f(_ a: Tensor) -> Tensor {
            let features = conv2d(a, weight: weight, padding: (1, 1)).sigmoid()
            let pooled = avgPool2d(features, kernelSize: (2, 2)).flattened(startAxis: 1)
            let logits = pooled.reshaped(to: [2, 4])
            return (logits.logSoftmax(alongAxis: 1) * coefficients).sum() + a.norm().pow(3)
        }
        let a = Tensor([0.1, -0.3, 0.5, 0.7, -0.2, 0.4, 0.9, -0.8, 0.05], shape: [1, 1, 3, 3]).requiringGrad()
        f(a).backward()
        let analytic = a.grad!.scalars(as: Double.self)
        let numeric = finiteDifferenceGradient(of: { f($0).item() }, at: a.detached())
        assertClose(analytic, numeric, rtol: 1e-6, atol: 1e-8)
        #expect(analytic.contains { $0 != 0 })
    }

    @Test func gradOfDoesNotTouchGradFields() {
        let model = SmoothModel()
        let input = x.cloned().requiringGrad()
        let gradients = grad(of: [model.loss(input, labels: labels)], withRespectTo: [input, model.w1])
        #expect(gradients.count == 2)
        #expect(gradients[0]!.shape == [2, 3])
        #expect(gradients[1]!.shape == [4, 3])
        #expect(model.w1.grad == nil)
        #expect(input.grad == nil)
        // An unused input is nil only when allowed.
        let unused = Tensor.zeros([1]).requiringGrad()
        let partial = grad(of: [model.loss(input, labels: labels)], withRespectTo: [unused, input], allowUnused: true)
        #expect(partial[0] == nil)
        #expect(partial[1] != nil)
    }

    @Test func inputGradientMatchesFiniteDifferences() {
        let model = SmoothModel()
        let input = x.cloned().requiringGrad()
        let analytic = grad(of: model.loss(input, labels: labels), withRespectTo: input).scalars(as: Double.self)
        let numeric = finiteDifferenceGradient(of: { model.loss($0, labels: labels).item() }, at: x)
        assertClose(analytic, numeric, rtol: 1e-6, atol: 1e-9)
    }

    /// The exact input Hessian-vector product (double backprop) against the finite difference of
    /// input gradients, (∇ₓℓ(x + h·v) − ∇ₓℓ(x)) / h, whose error is O(h).
    @Test func hessianVectorProductMatchesFiniteDifference() {
        let model = SmoothModel()
        let v = Tensor([0.2, -0.5, 0.1, 0.4, 0.3, -0.2], shape: [2, 3])
        let input = x.cloned().requiringGrad()
        let g = grad(of: model.loss(input, labels: labels), withRespectTo: input, createGraph: true)
        let exact = grad(of: (g * v).sum(), withRespectTo: input)
        #expect(exact.norm().item() > 1e-3)

        func finiteDifference(_ h: Double) -> Tensor {
            let shifted = (x + h * v).requiringGrad()
            let base = x.cloned().requiringGrad()
            let gShifted = grad(of: model.loss(shifted, labels: labels), withRespectTo: shifted)
            let gBase = grad(of: model.loss(base, labels: labels), withRespectTo: base)
            return (gShifted - gBase) / h
        }
        let errors = [1e-2, 1e-3, 1e-4].map { (finiteDifference($0) - exact).norm().item() / exact.norm().item() }
        #expect(errors[0] < 5e-2, "relative error at h = 1e-2: \(errors[0])")
        #expect(errors[2] < 1e-3, "relative error at h = 1e-4: \(errors[2])")
        #expect(errors[1] < errors[0] && errors[2] < errors[1], "the error must shrink with h: \(errors)")
    }

    /// A loss built from an input gradient (a gradient-norm penalty) trains the weights: its
    /// gradient in W1 is non-zero and matches central finite differences of the penalty.
    @Test func inputGradientPenaltyTrainsParameters() {
        let model = SmoothModel()
        func penalty() -> Tensor {
            let input = x.cloned().requiringGrad()
            let g = grad(of: model.loss(input, labels: labels), withRespectTo: input, createGraph: true)
            return g.squared().sum()
        }
        let dW = grad(of: penalty(), withRespectTo: model.w1).scalars(as: Double.self)
        #expect(dW.contains { Swift.abs($0) > 1e-4 })

        let original = model.w1.scalars(as: Double.self)
        let step = 1e-6
        for index in [0, 5, 11] {
            func penaltyWith(_ delta: Double) -> Double {
                var values = original
                values[index] += delta
                withoutGradients { model.w1.copy_(Tensor(values, shape: [4, 3])) }
                return penalty().item()
            }
            let numeric = (penaltyWith(step) - penaltyWith(-step)) / (2 * step)
            _ = penaltyWith(0)
            assertClose([dW[index]], [numeric], rtol: 1e-5, atol: 1e-9)
        }
    }

    @Test func backwardAccumulatesAndZeroGradClears() {
        let w = Tensor([1.0, 2]).requiringGrad()
        (w * w).sum().backward()
        #expect(w.grad!.scalars(as: Double.self) == [2, 4])
        (w * 3).sum().backward()
        #expect(w.grad!.scalars(as: Double.self) == [5, 7])
        w.zeroGrad()
        #expect(w.grad == nil)
        // backward with createGraph gives a differentiable gradient.
        let y = (w * w * w).sum()
        y.backward(createGraph: true)
        let first = w.grad!
        #expect(first.requiresGrad)
        #expect(grad(of: first.sum(), withRespectTo: w).scalars(as: Double.self) == [6, 12])
    }

    /// `backward(_:gradients:inputs:)` fills the `grad` of the listed leaves only, with the same
    /// values as a full backward pass; a listed leaf the roots do not reach keeps no gradient.
    @Test func backwardIntoChosenLeavesOnly() {
        let a = Tensor([1.0, -2, 3]).requiringGrad()
        let b = Tensor([0.5, 4, -1]).requiringGrad()
        let unused = Tensor([7.0]).requiringGrad()
        let y = (a * b * b).sum()
        let z = a.squared()
        backward([y, z], gradients: [nil, Tensor([1.0, 10, 100])], inputs: [a, unused])
        // ∂/∂a of Σ a·b² + Σ cᵢ·aᵢ² = b² + 2·c·a
        let expected: [Double] = [0.25 + 2, 16 - 40, 1 + 600]
        #expect(a.grad!.scalars(as: Double.self) == expected)
        #expect(b.grad == nil)
        #expect(unused.grad == nil)
        // Accumulates like backward(): a second pass adds.
        backward([(a * 2).sum()], gradients: [nil], inputs: [a])
        let accumulated: [Double] = [4.25, -22, 603]
        #expect(a.grad!.scalars(as: Double.self) == accumulated)
    }

    /// `Layer.backpropagate` gives the parameters the gradients of `loss.backward()` (here of an
    /// input-gradient penalty, whose graph reaches the input) and leaves the input's `grad` empty.
    @Test func backpropagateFillsParametersOnly() {
        let layer = Linear(inputCount: 3, outputCount: 2)
        func penalisedLoss(_ input: Tensor) -> Tensor {
            let loss = crossEntropy(logits: layer(input).tanh(), labels: labels, reduction: .sum)
            let g = grad(of: loss, withRespectTo: input, createGraph: true)
            return loss + g.squared().sum()
        }
        let input = x.converted(to: .float32).requiringGrad()
        penalisedLoss(input).backward()
        let expected = layer.parameters.map { $0.grad!.cloned() }
        #expect(input.grad != nil)
        layer.zeroGrad()
        let second = x.converted(to: .float32).requiringGrad()
        layer.backpropagate(penalisedLoss(second))
        #expect(second.grad == nil)
        for (gradient, reference) in zip(layer.parameters.map { $0.grad! }, expected) {
            #expect(gradient.scalars(as: Float.self) == reference.scalars(as: Float.self))
        }
    }

    @Test func noGradScopeStopsRecording() {
        let w = Tensor([1.0]).requiringGrad()
        #expect(isGradientRecordingEnabled)
        let inside = withoutGradients { () -> Tensor in
            #expect(!isGradientRecordingEnabled)
            return w * 2
        }
        #expect(isGradientRecordingEnabled)
        #expect(!inside.requiresGrad)
        #expect((w * 2).requiresGrad)
        #expect(!(w * 2).detached().requiresGrad)
        #expect(w.isLeaf && !(w * 2).isLeaf)
    }
}
