import Foundation
import TestSupport
import Testing

@testable import Torch

@Suite("Tensor operations against hand-computed values")
struct TensorOpsTests {
    @Test func creationAndMetadata() {
        let t = Tensor([Float(1), 2, 3, 4, 5, 6], shape: [2, 3])
        #expect(t.shape == [2, 3])
        #expect(t.rank == 2)
        #expect(t.scalarCount == 6)
        #expect(t.dtype == .float32)
        #expect(t.device == .cpu)
        #expect(Tensor.zeros([2, 2]).scalars(as: Float.self) == [0, 0, 0, 0])
        #expect(Tensor.ones([3], dtype: .int64).scalars(as: Int64.self) == [1, 1, 1])
        #expect(Tensor.full([2], value: 2.5, dtype: .float64).scalars(as: Double.self) == [2.5, 2.5])
        #expect(Tensor.arange(0, 5, dtype: .int64).scalars(as: Int.self) == [0, 1, 2, 3, 4])
        #expect(Tensor.arange(1, 2, step: 0.25, dtype: .float64).scalars(as: Double.self) == [1, 1.25, 1.5, 1.75])
        #expect(Tensor.eye(2).scalars(as: Float.self) == [1, 0, 0, 1])
        #expect(Tensor(3.5, dtype: .float64).shape == [])
        #expect(Tensor(3.5, dtype: .float64).item() == 3.5)
        #expect(Tensor([Int32(7), -2]).scalars(as: Int32.self) == [7, -2])
        #expect(Tensor([true, false, true]).scalars(as: Bool.self) == [true, false, true])
        #expect(Tensor([UInt8(0), 255]).scalars(as: Float.self) == [0, 255])
    }

    @Test func randomCreationIsSeededAndInRange() {
        Runtime.seed(7)
        let a = Tensor.rand([1000])
        let ints = Tensor.randint(3..<6, shape: [500])
        Runtime.seed(7)
        let b = Tensor.rand([1000])
        #expect(a.scalars(as: Float.self) == b.scalars(as: Float.self))
        #expect(a.min().item() >= 0 && a.max().item() < 1)
        #expect(Swift.abs(a.mean().item() - 0.5) < 0.05)
        #expect(Set(ints.scalars(as: Int.self)) == [3, 4, 5])
        let n = Tensor.randn([20000], dtype: .float64)
        #expect(Swift.abs(n.mean().item()) < 0.03)
        #expect(Swift.abs(n.variance(alongAxes: [0]).item() - 1) < 0.05)
        #expect(Tensor.randperm(10).sorted(alongAxis: 0).values.scalars(as: Int.self) == Array(0..<10))
    }

    @Test func arithmeticBroadcastsLikePyTorch() {
        let a = Tensor([1.0, 2, 3, 4], shape: [2, 2])
        let row = Tensor([10.0, 20], shape: [2])
        #expect((a + row).scalars(as: Double.self) == [11, 22, 13, 24])
        #expect((a - row).scalars(as: Double.self) == [-9, -18, -7, -16])
        #expect((a * row).scalars(as: Double.self) == [10, 40, 30, 80])
        #expect((a / row).scalars(as: Double.self) == [0.1, 0.1, 0.3, 0.2])
        #expect((a * 2 + 1).scalars(as: Double.self) == [3, 5, 7, 9])
        #expect((1 - a).scalars(as: Double.self) == [0, -1, -2, -3])
        #expect((12 / a).scalars(as: Double.self) == [12, 6, 4, 3])
        #expect((-a).scalars(as: Double.self) == [-1, -2, -3, -4])
        #expect(a.pow(2).scalars(as: Double.self) == [1, 4, 9, 16])
        #expect(a.matmul(a).scalars(as: Double.self) == [7, 10, 15, 22])
        #expect(a.maximum(Tensor(2.5, dtype: .float64)).scalars(as: Double.self) == [2.5, 2.5, 3, 4])
        // A float32 tensor times a Double scalar stays float32, as in PyTorch.
        #expect((Tensor([Float(1)]) * 0.5).dtype == .float32)
    }

    @Test func elementwiseFunctions() {
        let x = Tensor([-2.0, -0.5, 0, 1.5], shape: [4])
        #expect(x.relu().scalars(as: Double.self) == [0, 0, 0, 1.5])
        #expect(x.abs().scalars(as: Double.self) == [2, 0.5, 0, 1.5])
        #expect(x.sign().scalars(as: Double.self) == [-1, -1, 0, 1])
        assertClose(x.leakyRelu(negativeSlope: 0.1), [-0.2, -0.05, 0, 1.5])
        assertClose(x.tanh(), [-2.0, -0.5, 0, 1.5].map { Foundation.tanh($0) }, rtol: 1e-12)
        assertClose(x.sigmoid(), [-2.0, -0.5, 0, 1.5].map { 1 / (1 + Foundation.exp(-$0)) }, rtol: 1e-12)
        assertClose(x.softplus(), [-2.0, -0.5, 0, 1.5].map { Foundation.log(1 + Foundation.exp($0)) }, rtol: 1e-12)
        assertClose(x.exp(), [-2.0, -0.5, 0, 1.5].map { Foundation.exp($0) }, rtol: 1e-12)
        assertClose((x.abs() + 1).log(), [3.0, 1.5, 1, 2.5].map { Foundation.log($0) }, rtol: 1e-12)
        assertClose(x.abs().sqrt(), [2.0, 0.5, 0, 1.5].map { Foundation.sqrt($0) }, rtol: 1e-12)
        #expect(x.clamped(min: -1, max: 1).scalars(as: Double.self) == [-1, -0.5, 0, 1])
        #expect(x.clamped(min: 0).scalars(as: Double.self) == [0, 0, 0, 1.5])
        #expect(x.clamped(min: Tensor(-1.0, dtype: .float64), max: nil).scalars(as: Double.self) == [-1, -0.5, 0, 1.5])
        #expect(Tensor([0.5, 1.5, 2.5, -0.5]).rounded().scalars(as: Double.self) == [0, 2, 2, -0])
        #expect(Tensor([1.0, .nan, .infinity]).isFinite().scalars(as: Bool.self) == [true, false, false])
    }

    @Test func reductions() {
        let a = Tensor([1.0, 5, 3, 4, 2, 6], shape: [2, 3])
        #expect(a.sum().item() == 21)
        #expect(a.mean().item() == 3.5)
        #expect(a.max().item() == 6)
        #expect(a.min().item() == 1)
        #expect(a.sum(alongAxes: [0]).scalars(as: Double.self) == [5, 7, 9])
        #expect(a.sum(alongAxis: 1, keepingDims: true).shape == [2, 1])
        #expect(a.mean(alongAxis: 1).scalars(as: Double.self) == [3, 4])
        let (values, indices) = a.max(alongAxis: 1)
        #expect(values.scalars(as: Double.self) == [5, 6])
        #expect(indices.scalars(as: Int.self) == [1, 2])
        #expect(a.argmax(alongAxis: 1).scalars(as: Int.self) == [1, 2])
        #expect(a.argmin(alongAxis: 0).scalars(as: Int.self) == [0, 1, 0])
        assertClose(a.norm(p: 2, alongAxes: [1]), [Foundation.sqrt(35.0), Foundation.sqrt(56.0)], rtol: 1e-12)
        #expect(a.norm(p: 1).item() == 21)
        #expect(a.norm(p: .infinity, alongAxes: [1]).scalars(as: Double.self) == [5, 6])
        assertClose(
            a.logSumExp(alongAxes: [1]),
            [
                Foundation.log(Foundation.exp(1) + Foundation.exp(5) + Foundation.exp(3)),
                Foundation.log(Foundation.exp(4) + Foundation.exp(2) + Foundation.exp(6)),
            ], rtol: 1e-12)
        let top = a.topK(2, alongAxis: 1)
        #expect(top.values.scalars(as: Double.self) == [5, 3, 6, 4])
        #expect(top.indices.scalars(as: Int.self) == [1, 2, 2, 0])
        #expect(a.cumulativeSum(alongAxis: 1).scalars(as: Double.self) == [1, 6, 9, 4, 6, 12])
        #expect((a .> 2.5).all().item() == 0)
        #expect((a .> 0.5).all().item() == 1)
        assertClose(Tensor([2.0, 1, 1, 3], shape: [2, 2]).logDeterminant(), [Foundation.log(5.0)], rtol: 1e-12)
    }

    @Test func softmaxAndLosses() {
        let logits = Tensor([1.0, 2, 3, 1, 1, 1], shape: [2, 3])
        let labels = Tensor([Int64(2), 0])
        let e = [1.0, 2, 3].map { Foundation.exp($0) }
        let row0 = e.map { $0 / e.reduce(0, +) }
        assertClose(logits.softmax(alongAxis: 1), row0 + [1.0 / 3, 1.0 / 3, 1.0 / 3], rtol: 1e-12)
        assertClose(
            logits.logSoftmax(alongAxis: 1), (row0 + [1.0 / 3, 1.0 / 3, 1.0 / 3]).map { Foundation.log($0) }, rtol: 1e-12)
        let perExample = [-Foundation.log(row0[2]), Foundation.log(3.0)]
        assertClose(crossEntropy(logits: logits, labels: labels, reduction: .none), perExample, rtol: 1e-12)
        assertClose(crossEntropy(logits: logits, labels: labels), [(perExample[0] + perExample[1]) / 2], rtol: 1e-12)
        assertClose(crossEntropy(logits: logits, labels: labels, reduction: .sum), [perExample[0] + perExample[1]], rtol: 1e-12)
        assertClose(
            nllLoss(logProbabilities: logits.logSoftmax(alongAxis: 1), labels: labels, reduction: .none), perExample, rtol: 1e-12)
        assertClose(mseLoss(Tensor([1.0, 2]), Tensor([2.0, 4])), [2.5])
        // cos((1,0),(1,1)) = 1/√2; cos((1,2),(−2,1)) = 0.
        let a = Tensor([1.0, 0, 1, 2], shape: [2, 2])
        let b = Tensor([1.0, 1, -2, 1], shape: [2, 2])
        assertClose(cosineSimilarity(a, b, alongAxis: 1), [1 / Foundation.sqrt(2.0), 0], rtol: 1e-12, atol: 1e-12)
    }

    @Test func comparisonsAndWhere() {
        let a = Tensor([1.0, 2, 3])
        let b = Tensor([3.0, 2, 1])
        #expect((a .== b).scalars(as: Bool.self) == [false, true, false])
        #expect((a .!= b).scalars(as: Bool.self) == [true, false, true])
        #expect((a .< b).scalars(as: Bool.self) == [true, false, false])
        #expect((a .<= b).scalars(as: Bool.self) == [true, true, false])
        #expect((a .> 1.5).scalars(as: Bool.self) == [false, true, true])
        #expect((a .>= 2).scalars(as: Bool.self) == [false, true, true])
        #expect(((a .> 1.5) .& (a .< 2.5)).scalars(as: Bool.self) == [false, true, false])
        #expect(((a .< 1.5) .| (a .> 2.5)).scalars(as: Bool.self) == [true, false, true])
        #expect(`where`(a .> 1.5, a, b).scalars(as: Double.self) == [3, 2, 3])
        #expect(a.filled(where: a .> 2, with: -1).scalars(as: Double.self) == [1, 2, -1])
        #expect(a.masked(by: a .> 1).scalars(as: Double.self) == [2, 3])
    }

    @Test func shapesAndIndexing() {
        let a = Tensor.arange(0, 24, dtype: .int64).reshaped(to: [2, 3, 4])
        #expect(a.permuted([2, 0, 1]).shape == [4, 2, 3])
        #expect(a.transposed(0, 2).shape == [4, 3, 2])
        #expect(a.flattened(startAxis: 1).shape == [2, 12])
        #expect(a.reshaped(to: [-1, 4]).shape == [6, 4])
        #expect(a.unsqueezed(axis: 0).shape == [1, 2, 3, 4])
        #expect(a.unsqueezed(axis: 0).squeezed(axis: 0).shape == [2, 3, 4])
        #expect(a[1][2].scalars(as: Int.self) == [20, 21, 22, 23])
        #expect(a[0..<1].shape == [1, 3, 4])
        #expect(a.sliced(alongAxis: 2, from: 1, to: 4, step: 2)[0][0].scalars(as: Int.self) == [1, 3])
        #expect(a.selected(alongAxis: 2, index: 3)[0].scalars(as: Int.self) == [3, 7, 11])
        #expect(
            a[0].indexSelected(alongAxis: 0, indices: Tensor([Int64(2), 0])).scalars(as: Int.self) == [8, 9, 10, 11, 0, 1, 2, 3])
        #expect(
            a[0].gathered(alongAxis: 1, indices: Tensor([Int64(3), 0, 1], shape: [3, 1])).scalars(as: Int.self) == [3, 4, 9])
        let x = Tensor([1.0, 2], shape: [1, 2])
        #expect(Tensor.concatenate([x, x * 2], alongAxis: 0).scalars(as: Double.self) == [1, 2, 2, 4])
        #expect(Tensor.concatenate([x, x * 2], alongAxis: 1).shape == [1, 4])
        #expect(Tensor.stack([x, x], alongAxis: 0).shape == [2, 1, 2])
        #expect(x.expanded(to: [3, 2]).scalars(as: Double.self) == [1, 2, 1, 2, 1, 2])
        #expect(x.repeated([2, 2]).scalars(as: Double.self) == [1, 2, 1, 2, 1, 2, 1, 2])
        #expect(x.flipped(alongAxes: [1]).scalars(as: Double.self) == [2, 1])
        #expect(x.rolled(by: [1], alongAxes: [1]).scalars(as: Double.self) == [2, 1])
        #expect(x.padded([1, 2], value: 9).scalars(as: Double.self) == [9, 1, 2, 9, 9])
        #expect(Tensor([Int64(2), 0]).oneHot(classCount: 3).scalars(as: Int.self) == [0, 0, 1, 1, 0, 0])
        #expect(Tensor([0.0, 3, 0, 1]).nonzeroIndices().scalars(as: Int.self) == [1, 3])
    }

    @Test func inPlaceUpdates() {
        let t = Tensor([1.0, 2, 3])
        t.add_(Tensor([1.0, 1, 1]), alpha: 2)
        #expect(t.scalars(as: Double.self) == [3, 4, 5])
        t.mul_(2)
        #expect(t.scalars(as: Double.self) == [6, 8, 10])
        t.addcmul_(Tensor([1.0, 2, 3]), Tensor([1.0, 1, 2]), value: 0.5)
        #expect(t.scalars(as: Double.self) == [6.5, 9, 13])
        t.addcdiv_(Tensor([2.0, 2, 2]), Tensor([1.0, 2, 4]), value: -1)
        #expect(t.scalars(as: Double.self) == [4.5, 8, 12.5])
        t.clamp_(min: 5, max: 10)
        #expect(t.scalars(as: Double.self) == [5, 8, 10])
        t.copy_(Tensor([7.0]))
        #expect(t.scalars(as: Double.self) == [7, 7, 7])
        t.zero_()
        #expect(t.sum().item() == 0)
    }

    @Test func nnFunctions() {
        // A 3×3 image convolved with a 2×2 kernel of ones sums each 2×2 window.
        let image = Tensor.arange(1, 10, dtype: .float64).reshaped(to: [1, 1, 3, 3])
        let kernel = Tensor.ones([1, 1, 2, 2], dtype: .float64)
        #expect(conv2d(image, weight: kernel).scalars(as: Double.self) == [12, 16, 24, 28])
        #expect(conv2d(image, weight: kernel, bias: Tensor([1.0]), padding: (1, 1)).shape == [1, 1, 4, 4])
        #expect(maxPool2d(image, kernelSize: (2, 2), stride: (1, 1)).scalars(as: Double.self) == [5, 6, 8, 9])
        #expect(avgPool2d(image, kernelSize: (2, 2), stride: (1, 1)).scalars(as: Double.self) == [3, 4, 6, 7])
        #expect(adaptiveAvgPool2d(image, outputSize: (1, 1)).item() == 5)
        let x = Tensor([1.0, 2], shape: [1, 2])
        let w = Tensor([1.0, 1, 2, -1], shape: [2, 2])
        #expect(linear(x, weight: w, bias: Tensor([0.5, 0])).scalars(as: Double.self) == [3.5, 0])
        #expect(
            upsampleNearest(Tensor([1.0, 2, 3, 4], shape: [1, 1, 2, 2]), size: (4, 4))[0][0][0].scalars(as: Double.self) == [
                1, 1, 2, 2,
            ])
        #expect(dropout(Tensor.ones([100]), probability: 0.5, training: false).sum().item() == 100)
        let dropped = dropout(Tensor.ones([10000]), probability: 0.5, training: true).scalars(as: Float.self)
        #expect(Set(dropped) == [0, 2])
    }

    @Test func descriptionPrintsLikePyTorch() {
        #expect(Tensor([Float(1), 2, 3, 4], shape: [2, 2]).description == "tensor([[1., 2.],\n        [3., 4.]])")
        #expect(Tensor([Float(0.5), -1.25]).description == "tensor([ 0.5000, -1.2500])")
        #expect(Tensor([Int64(1), 20]).description == "tensor([ 1, 20])")
        #expect(Tensor([Int32(3)]).description == "tensor([3], dtype=torch.int32)")
        #expect(Tensor([true, false]).description == "tensor([ True, False])")
        #expect(Tensor(2.0, dtype: .float64).description == "tensor(2., dtype=torch.float64)")
        #expect(Tensor([Float(1e-5), 1]).description == "tensor([1.0000e-05, 1.0000e+00])")
        #expect(Tensor.zeros([2]).requiringGrad().description == "tensor([0., 0.], requires_grad=True)")
        #expect(Tensor.zeros([1, 1, 2, 2]).description == "tensor([[[[0., 0.],\n          [0., 0.]]]])")
        #expect(Tensor.arange(0, 2000, dtype: .int64).description == "tensor([   0,    1,    2,  ..., 1997, 1998, 1999])")
    }

    @Test func handlesAreReleased() {
        let before = Tensor.liveCount
        do {
            let a = Tensor.randn([10, 10])
            let b = (a * 2 + 1).relu().sum()
            _ = b.item()
        }
        #expect(Tensor.liveCount == before)
    }
}

@Test func summarizedFloatMatrixPrintsLikePyTorch() {
    // PyTorch: str(torch.arange(2000.).reshape(1000, 2))
    let expected =
        "tensor([[0.0000e+00, 1.0000e+00],\n        [2.0000e+00, 3.0000e+00],\n        [4.0000e+00, 5.0000e+00],\n        ...,\n        [1.9940e+03, 1.9950e+03],\n        [1.9960e+03, 1.9970e+03],\n        [1.9980e+03, 1.9990e+03]])"
    #expect(Tensor.arange(0, 2000).reshaped(to: [1000, 2]).description == expected)
}
