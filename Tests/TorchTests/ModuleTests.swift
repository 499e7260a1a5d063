import Foundation
import TestSupport
import Testing

@testable import Torch

@Suite("Layers and modules")
struct ModuleTests {
    @Test func linearComputesAffineMapAndInitialisesLikePyTorch() {
        let layer = Linear(inputCount: 400, outputCount: 30)
        #expect(layer.weight.shape == [30, 400])
        #expect(layer.bias!.shape == [30])
        #expect(layer.parameterCount == 400 * 30 + 30)
        // PyTorch's default: U(-1/√400, 1/√400) = U(-0.05, 0.05); variance bound²/3.
        #expect(layer.weight.abs().max().item() <= 0.05)
        #expect(Swift.abs(layer.weight.variance(alongAxes: [0, 1]).item() - 0.05 * 0.05 / 3) < 1e-4)
        #expect(layer.weight.requiresGrad)
        let x = Tensor.randn([5, 400])
        assertClose(layer(x), x.matmul(layer.weight.transposed()) + layer.bias!, rtol: 1e-5, atol: 1e-5)
    }

    /// The oneDNN path (a 1×1 convolution) is the default kernel; it must give what `at::linear`
    /// gives: the output, the first-order gradients of weight, bias and input, and the gradients
    /// of a penalty on the input gradient (double backward), at a batch size that takes oneDNN
    /// (≥ 16) and at one that takes libtorch's fallback.
    @Test(arguments: [64, 3])
    func convolutionKernelEqualsGEMMToEveryOrder(batch: Int) {
        let layer = Linear(inputCount: 300, outputCount: 20)
        #expect(layer.kernel == .convolution)
        let x = Tensor.randn([batch, 300]).requiringGrad()
        let seed = Tensor.randn([batch, 20])
        func derivatives(_ kernel: DenseKernel) -> [Tensor] {
            layer.kernel = kernel
            let y = layer(x).tanh()
            let first = grad(of: [(y * seed).sum()], withRespectTo: [x, layer.weight, layer.bias!], createGraph: true).map { $0! }
            let penalty = first[0].squared().sum()
            let second = grad(of: [penalty], withRespectTo: [x, layer.weight, layer.bias!]).map { $0! }
            return [y] + first + second
        }
        let gemm = derivatives(.gemm), convolution = derivatives(.convolution)
        #expect(gemm[0].shape == [batch, 20])
        for (fast, reference) in zip(convolution, gemm) {
            #expect(fast.shape == reference.shape)
            let scale = reference.abs().max().item()
            #expect(scale > 0)
            #expect((fast - reference).abs().max().item() <= 1e-5 * scale)
        }
        // A 3-D input is not a matrix: both kernels take at::linear.
        layer.kernel = .convolution
        #expect(layer(Tensor.ones([2, 4, 300])).shape == [2, 4, 20])
    }

    @Test func conv2dShapesAndParameters() {
        let conv = Conv2d(inChannels: 3, outChannels: 8, kernelSize: 3, stride: 2, padding: 1)
        #expect(conv.parameterCount == 8 * 3 * 9 + 8)
        #expect(conv(Tensor.zeros([2, 3, 32, 32])).shape == [2, 8, 16, 16])
        let grouped = Conv2d(inChannels: 4, outChannels: 4, kernelSize: 1, groups: 2, bias: false)
        #expect(grouped.weight.shape == [4, 2, 1, 1])
        #expect(grouped.localParameters.map(\.name) == ["weight"])
    }

    @Test func batchNormUpdatesRunningStatisticsLikePyTorch() {
        let bn = BatchNorm2d(channels: 1, momentum: 0.1)
        // One channel holding 1, 2, 3, 4: mean 2.5, biased var 1.25, unbiased 5/3.
        let x = Tensor([1.0, 2, 3, 4], shape: [1, 1, 2, 2]).converted(to: .float32)
        let y = bn(x)
        let scale = 1 / Foundation.sqrt(1.25 + 1e-5)
        assertClose(y, [-1.5, -0.5, 0.5, 1.5].map { $0 * scale }, rtol: 1e-5)
        assertClose(bn.runningMean, [0.25], rtol: 1e-6)
        assertClose(bn.runningVariance, [0.9 + 0.1 * 5.0 / 3.0], rtol: 1e-6)
        #expect(bn.batchesTracked.intValue == 1)
        bn.eval()
        let evaluated = bn(x)
        assertClose(evaluated, [1.0, 2, 3, 4].map { ($0 - 0.25) / Foundation.sqrt(0.9 + 0.5 / 3 + 1e-5) }, rtol: 1e-5)
        #expect(bn.batchesTracked.intValue == 1)
        #expect(bn.stateTensors().map(\.name) == ["weight", "bias", "running_mean", "running_var", "num_batches_tracked"])
    }

    @Test func sequentialNamesMatchPyTorch() {
        let net = Sequential([
            Conv2d(inChannels: 1, outChannels: 2, kernelSize: 3), BatchNorm2d(channels: 2), ReLU(), Flatten(),
            Linear(inputCount: 2, outputCount: 3),
        ])
        #expect(net.namedParameters().map(\.name) == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"])
        #expect(net.namedBuffers().map(\.name) == ["1.running_mean", "1.running_var", "1.num_batches_tracked"])
        #expect(net(Tensor.zeros([4, 1, 3, 3])).shape == [4, 3])
        net.eval()
        #expect(net.layers.allSatisfy { !$0.isTraining })
        net.train()
        #expect(net.layers.allSatisfy { $0.isTraining })
    }

    @Test func dropoutFollowsTrainingMode() {
        let layer = Dropout(probability: 0.5)
        let x = Tensor.ones([1000])
        #expect(layer(x).scalars(as: Float.self).contains(0))
        layer.eval()
        #expect(layer(x).scalars(as: Float.self).allSatisfy { $0 == 1 })
    }

    @Test func loadStateCopiesByNameAndRejectsMismatches() throws {
        let source = Sequential([Linear(inputCount: 3, outputCount: 2), BatchNorm2d(channels: 2)])
        let target = Sequential([Linear(inputCount: 3, outputCount: 2), BatchNorm2d(channels: 2)])
        var state = Dictionary(uniqueKeysWithValues: source.stateTensors(prefix: "member0.").map { ($0.name, $0.tensor) })
        try target.loadState(state, prefix: "member0.", source: "test.safetensors")
        #expect(
            target.layers[0].localParameters[0].tensor.scalars(as: Float.self)
                == source.layers[0].localParameters[0].tensor.scalars(as: Float.self))

        let before = target.namedParameters().map { $0.tensor.scalars(as: Float.self) }
        state["member0.0.weight"] = Tensor.zeros([2, 4])
        #expect(throws: TorchError("test.safetensors: tensor 'member0.0.weight' has shape [2, 4], the model expects [2, 3]")) {
            try target.loadState(state, prefix: "member0.", source: "test.safetensors")
        }
        state["member0.0.weight"] = nil
        #expect(throws: TorchError("test.safetensors: missing tensor 'member0.0.weight'")) {
            try target.loadState(state, prefix: "member0.", source: "test.safetensors")
        }
        state["member0.0.weight"] = Tensor.zeros([2, 3], dtype: .float64)
        #expect(
            throws: TorchError(
                "test.safetensors: tensor 'member0.0.weight' has dtype torch.float64, the model expects torch.float32")
        ) {
            try target.loadState(state, prefix: "member0.", source: "test.safetensors")
        }
        state["member0.0.weight"] = Tensor.zeros([2, 3])
        state["member0.9.weight"] = Tensor.zeros([1])
        #expect(throws: TorchError("test.safetensors: unexpected tensor 'member0.9.weight' for this model")) {
            try target.loadState(state, prefix: "member0.", source: "test.safetensors")
        }
        // Nothing was copied by the failed loads.
        #expect(target.namedParameters().map { $0.tensor.scalars(as: Float.self) } == before)
    }
}

@Suite("Optimizers and schedules against PyTorch's update rules")
struct OptimizerTests {
    /// Gradient of ½‖p‖² is p, so every step is computable by hand.
    private func setGradient(_ p: Tensor) {
        p.zeroGrad()
        (p.squared().sum() * 0.5).backward()
    }

    @Test func sgdWithMomentumAndWeightDecay() {
        let p = Tensor([1.0, -2]).requiringGrad()
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.9, weightDecay: 0.5)
        setGradient(p)
        sgd.step()
        // g = p + 0.5p = 1.5p; buf = g; p ← p − 0.1·1.5p = 0.85p.
        assertClose(p, [0.85, -1.7], rtol: 1e-12)
        setGradient(p)
        sgd.step()
        // g = 1.5·0.85p₀ = 1.275p₀; buf = 0.9·1.5p₀ + 1.275p₀ = 2.625p₀; p = 0.85p₀ − 0.2625p₀ = 0.5875p₀.
        assertClose(p, [0.5875, -1.175], rtol: 1e-12)
        #expect(sgd.stateTensors().map(\.name) == ["momentum_buffer.0"])
    }

    @Test func sgdNesterov() {
        let p = Tensor([2.0]).requiringGrad()
        let sgd = SGD(parameters: [p], learningRate: 0.1, momentum: 0.5, nesterov: true)
        setGradient(p)
        sgd.step()
        // buf = g = 2; d = g + 0.5·buf = 3; p = 2 − 0.3.
        assertClose(p, [1.7], rtol: 1e-12)
    }

    @Test func adamFirstStepsMatchHandComputation() {
        let p = Tensor([1.0, -0.5]).requiringGrad()
        let adam = Adam(parameters: [p], learningRate: 0.01)
        setGradient(p)
        adam.step()
        // Step 1: m̂ = g, v̂ = g², so p moves by lr·g/(|g| + ε) ≈ lr·sign(g).
        assertClose(p, [1 - 0.01 * 1 / (1 + 1e-8), -0.5 + 0.01 * 0.5 / (0.5 + 1e-8)], rtol: 1e-12)
        let g1 = [1.0, -0.5]
        let p1 = p.scalars(as: Double.self)
        setGradient(p)
        adam.step()
        for i in 0..<2 {
            let m = 0.9 * 0.1 * g1[i] + 0.1 * p1[i]
            let v = 0.999 * 0.001 * g1[i] * g1[i] + 0.001 * p1[i] * p1[i]
            let mHat = m / (1 - 0.81)
            let denominator = Foundation.sqrt(v) / Foundation.sqrt(1 - 0.999 * 0.999) + 1e-8
            let expected = p1[i] - 0.01 * mHat / denominator
            assertClose([p.scalars(as: Double.self)[i]], [expected], rtol: 1e-10)
        }
    }

    @Test func adamWDecaysWeightsDirectly() {
        let p = Tensor([1.0]).requiringGrad()
        let adam = Adam(parameters: [p], learningRate: 0.1, weightDecay: 0.1, decoupled: true)
        p.zeroGrad()
        (p * 0).sum().backward()
        adam.step()
        // With zero gradient only the decay acts: p ← p·(1 − lr·wd).
        assertClose(p, [0.99], rtol: 1e-12)
    }

    @Test func optimizerStateRoundTrips() throws {
        let p = Tensor([1.0, 2]).requiringGrad()
        let adam = Adam(parameters: [p], learningRate: 0.1)
        setGradient(p)
        adam.step()
        let saved = Dictionary(uniqueKeysWithValues: adam.stateTensors().map { ($0.name, $0.tensor.cloned()) })
        let q = Tensor(p.scalars(as: Double.self)).requiringGrad()
        let restored = Adam(parameters: [q], learningRate: 0.1)
        try restored.loadState(saved, source: "state")
        setGradient(p)
        adam.step()
        setGradient(q)
        restored.step()
        #expect(p.scalars(as: Double.self) == q.scalars(as: Double.self))
        #expect(throws: TorchError("state: optimizer state 'exp_avg.0' has shape [3], parameter 0 has [2]")) {
            try restored.loadState(["exp_avg.0": Tensor.zeros([3])], source: "state")
        }
    }

    @Test func schedules() {
        #expect(LearningRateSchedule.constant.learningRate(base: 0.1, epoch: 7) == 0.1)
        let step = LearningRateSchedule.step(stepSize: 2, gamma: 0.5)
        #expect([0, 1, 2, 3, 4].map { step.learningRate(base: 0.8, epoch: $0) } == [0.8, 0.8, 0.4, 0.4, 0.2])
        let multi = LearningRateSchedule.multiStep(milestones: [1, 3], gamma: 0.1)
        assertClose([0, 1, 2, 3].map { multi.learningRate(base: 1, epoch: $0) }, [1, 0.1, 0.1, 0.01], rtol: 1e-12)
        let cosine = LearningRateSchedule.cosine(totalEpochs: 4, minimum: 0)
        assertClose([0, 2, 4].map { cosine.learningRate(base: 1, epoch: $0) }, [1, 0.5, 0], rtol: 1e-12, atol: 1e-15)
        // Per batch: 2 epochs of 4 batches anneal over t = 0…7 of T = 8, lr = (1 + cos(πt/8))/2.
        let perBatch = LearningRateSchedule.cosine(totalEpochs: 2, minimum: 0.1)
        let rates = (0..<2).flatMap { e in (0..<4).map { perBatch.learningRate(base: 0.5, epoch: e, step: $0, stepsPerEpoch: 4) }
        }
        assertClose(
            rates, (0..<8).map { 0.1 + 0.4 * (1 + Foundation.cos(Double.pi * Double($0) / 8)) / 2 }, rtol: 1e-12, atol: 1e-15)
        // Step schedules change at epoch boundaries only, whatever the batch.
        #expect((0..<4).map { step.learningRate(base: 0.8, epoch: 2, step: $0, stepsPerEpoch: 4) } == [0.4, 0.4, 0.4, 0.4])
        // The epoch form is the first batch of the epoch.
        #expect(cosine.learningRate(base: 1, epoch: 1) == cosine.learningRate(base: 1, epoch: 1, step: 0, stepsPerEpoch: 1))
    }
}
