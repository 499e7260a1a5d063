import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// Seeds for attacks: every random choice an attack makes for an example comes from a
/// ``SeededGenerator`` seeded from (the evaluation's seed, what is being run, the example), so a
/// result depends only on the settings and never on batching, thread timing or libtorch's global
/// generator (which concurrent callers would share).
public enum AttackSeed {
    /// Mixes values into one well-spread 64-bit seed (a chain of SplitMix64 steps).
    public static func mix(_ values: UInt64...) -> UInt64 {
        mix(values)
    }

    /// Mixes values into one well-spread 64-bit seed (a chain of SplitMix64 steps).
    public static func mix(_ values: [UInt64]) -> UInt64 {
        var state: UInt64 = 0x5EED_0F_A77AC4
        var result: UInt64 = 0
        for value in values {
            state ^= value &* 0x9E37_79B9_7F4A_7C15
            result = SeededGenerator.splitMix64(&state)
            state = result
        }
        return result
    }

    /// A stable 64-bit hash of a string (FNV-1a), for naming what is being run in a seed.
    public static func hash(_ text: String) -> UInt64 {
        var value: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in text.utf8 {
            value ^= UInt64(byte)
            value = value &* 0x0000_0100_0000_01B3
        }
        return value
    }
}

extension SeededGenerator {
    /// -1 or +1 with equal probability.
    mutating func nextSign() -> Float {
        next() >> 63 == 0 ? -1 : 1
    }
}

/// One generator per example, each seeded from that example's seed and a stream number.
func exampleGenerators(_ seeds: [UInt64], stream: UInt64) -> [SeededGenerator] {
    seeds.map { SeededGenerator(seed: AttackSeed.mix($0, stream)) }
}

/// A float32 tensor of shape [N, rest…] on `device` whose row i is filled by `fill` from generator i
/// (drawn on the host: the same values on every device).
func perExampleTensor(
    _ generators: inout [SeededGenerator], rowShape: [Int], on device: Device, _ fill: (inout SeededGenerator) -> Float
) -> Tensor {
    let rowCount = rowShape.reduce(1, *)
    var values = [Float]()
    values.reserveCapacity(generators.count * rowCount)
    for index in generators.indices {
        for _ in 0..<rowCount { values.append(fill(&generators[index])) }
    }
    return Tensor(values, shape: [generators.count] + rowShape, on: device)
}
