import Foundation
import TestSupport
import Testing

@testable import Torch

/// What a machine without a GPU can check of device placement: the names, the refusal of a device
/// that is not there, and that the device plumbing leaves CPU work exactly as it was.
@Suite("Devices", .exclusiveRandomGenerator)
struct DeviceTests {
    @Test("device names as PyTorch writes them; anything else is no device")
    func names() {
        #expect(Device(name: "cpu") == .cpu)
        #expect(Device(name: "cuda") == .cuda(0))
        #expect(Device(name: "cuda:3") == .cuda(3))
        for bad in ["gpu", "cuda:", "cuda:-1", "cuda:1x", "cuda:01", "CPU ", ""] { #expect(Device(name: bad) == nil, "\(bad)") }
        #expect(Device.cuda(2).description == "cuda:2" && Device.cpu.description == "cpu")
    }

    /// On a machine whose libtorch cannot use CUDA (Debian's, or PyPI's without the CUDA
    /// libraries or a GPU), asking for a GPU is a one-line error that says why.
    @Test("a GPU that is not there is refused with the reason")
    func unavailableGPU() throws {
        try #require(Device.cudaDeviceCount < 100)
        let error = try #require(throws: TorchError.self) { try Device.cuda(99).checkAvailable() }
        #expect(error.message.hasPrefix("cuda:99 is not available: "))
        #expect(!error.message.contains("\n"))
        #expect(throws: Never.self) { try Device.cpu.checkAvailable() }
        if Device.cudaDeviceCount == 0 {
            #expect(throws: TorchError.self) { try Device.cuda(0).checkAvailable() }
        }
    }

    @Test("creation on a device, on(), set_data and moving a module: on the CPU, the same tensors and values")
    func placementOnTheCPU() {
        Runtime.seed(3)
        let a = Tensor.rand([2, 3])
        Runtime.seed(3)
        let b = Tensor.rand([2, 3], on: .cpu)
        #expect(a.scalars(as: Float.self) == b.scalars(as: Float.self) && b.device == .cpu)
        #expect(Tensor([1, 2, 3] as [Int64], on: .cpu).device == .cpu)
        #expect(Tensor.eye(3, on: .cpu).sum().item() == 3)
        // on() returns the tensor itself when it is there already (no copy).
        let same = a.on(.cpu)
        same.add_(Tensor.ones([2, 3]))
        #expect(a.scalars(as: Float.self) == same.scalars(as: Float.self))
        // set_data points a tensor at other data, keeping its handle.
        let target = Tensor.zeros([2])
        target.setData(Tensor([4, 5] as [Float]))
        #expect(target.scalars(as: Float.self) == [4, 5])

        let layer = Linear(inputCount: 4, outputCount: 2)
        let before = layer.namedParameters().map { $0.tensor.scalars(as: Float.self) }
        let handles = layer.parameters.map(ObjectIdentifier.init)
        layer.move(to: .cpu)
        #expect(layer.device == .cpu)
        #expect(layer.parameters.map(ObjectIdentifier.init) == handles)
        #expect(layer.namedParameters().map { $0.tensor.scalars(as: Float.self) } == before)
        Device.cpu.synchronize()
    }

    @Test("random draws like a tensor come from the CPU generator: rand_like equals rand of its shape")
    func drawsLikeATensor() {
        let like = Tensor.zeros([4, 5])
        Runtime.seed(11)
        let drawn = like.randLike()
        Runtime.seed(11)
        #expect(drawn.scalars(as: Float.self) == Tensor.rand([4, 5]).scalars(as: Float.self))
        Runtime.seed(12)
        let normal = like.randnLike()
        Runtime.seed(12)
        #expect(normal.scalars(as: Float.self) == Tensor.randn([4, 5]).scalars(as: Float.self))
    }
}
