import Foundation

/// A seeded, reproducible random number generator: xoshiro256** (Blackman and Vigna, 2018),
/// with its 256-bit state filled from the seed by SplitMix64.
///
/// Its outputs depend only on the seed (or a saved state), never on the Swift version or the
/// platform, so runs can be repeated and checkpointed. Save `state` and restore it with
/// `init(state:)` or `restore(state:)` to continue the exact same sequence.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable {
    private var s0: UInt64
    private var s1: UInt64
    private var s2: UInt64
    private var s3: UInt64

    /// Creates a generator whose state is the first four SplitMix64 outputs from `seed`.
    public init(seed: UInt64) {
        var splitMix = seed
        s0 = Self.splitMix64(&splitMix)
        s1 = Self.splitMix64(&splitMix)
        s2 = Self.splitMix64(&splitMix)
        s3 = Self.splitMix64(&splitMix)
    }

    /// Creates a generator from a state previously read from `state`.
    ///
    /// - Throws: `EDLCMError` unless `state` holds exactly four words, not all zero.
    public init(state: [UInt64]) throws {
        self.init(seed: 0)
        try restore(state: state)
    }

    /// The generator's whole state: four 64-bit words. Together with `init(state:)` or
    /// `restore(state:)` it checkpoints the generator.
    public var state: [UInt64] { [s0, s1, s2, s3] }

    /// Replaces the state with one previously read from `state`.
    ///
    /// - Throws: `EDLCMError` unless `state` holds exactly four words, not all zero (the one
    ///   state xoshiro256** cannot leave); the generator is unchanged then.
    public mutating func restore(state: [UInt64]) throws {
        guard state.count == 4 else {
            throw EDLCMError(
                "random generator state has \(state.count) words, expected 4 (xoshiro256**)")
        }
        guard state.contains(where: { $0 != 0 }) else {
            throw EDLCMError("random generator state is all zero, which xoshiro256** cannot use")
        }
        s0 = state[0]
        s1 = state[1]
        s2 = state[2]
        s3 = state[3]
    }

    /// The next 64 random bits (xoshiro256**).
    public mutating func next() -> UInt64 {
        let result = rotateLeft(s1 &* 5, 7) &* 9
        let t = s1 << 17
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3 = rotateLeft(s3, 45)
        return result
    }

    /// A uniform integer in `0..<bound`, by Lemire's multiply-and-reject method.
    ///
    /// Unlike `Int.random(in:using:)`, whose algorithm belongs to the standard library and may
    /// change, this method's results for a given state are fixed.
    ///
    /// - Precondition: `bound > 0`.
    public mutating func nextInt(below bound: Int) -> Int {
        precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
        let range = UInt64(bound)
        var product = next().multipliedFullWidth(by: range)
        if product.low < range {
            let threshold = (0 &- range) % range
            while product.low < threshold {
                product = next().multipliedFullWidth(by: range)
            }
        }
        return Int(product.high)
    }

    /// A uniform `Double` in [0, 1) with 53 random bits.
    public mutating func nextUnit() -> Double {
        Double(next() >> 11) * 0x1p-53
    }

    /// A standard normal sample (Box–Muller; one of the pair is used, for a fixed stream).
    public mutating func nextGaussian() -> Double {
        var u = nextUnit()
        while u <= 0 { u = nextUnit() }
        let v = nextUnit()
        return (-2 * Foundation.log(u)).squareRoot() * Foundation.cos(2 * Double.pi * v)
    }

    /// One step of SplitMix64 (Steele, Lea and Flood): advances `state` by the golden-ratio
    /// increment and returns the mixed value. From state 0 the first output is 0xE220A8397B1DCDAF.
    public static func splitMix64(_ state: inout UInt64) -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@inline(__always)
private func rotateLeft(_ value: UInt64, _ count: UInt64) -> UInt64 {
    (value << count) | (value >> (64 - count))
}
