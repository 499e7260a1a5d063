/// The libtorch thread count, shared by every command that computes.
public struct RuntimeSettings: ResultNeutralSettings {
    @Setting(
        "libtorch threads (the same value reproduces a run bit for bit).", .ifSet(.within(1...1024)),
        defaultText: "all available cores")
    public var threads: Int? = nil

    public init() {}
}

/// The seed of a command's randomness, shared by every command that draws.
public struct SeedSettings: SettingsGroup {
    @Setting(
        "Seed of everything random: train's initialisation, data order, subsets and augmentation; evaluate's and analyze's image subset, random starts, target classes and probes.",
        .within(0...UInt64(Int64.max)))
    public var seed: UInt64 = 0

    public init() {}
}

extension Check where Value == Double {
    /// A radius in (0, 1] of [0, 1] pixel space, or in [0, 1] when zero is allowed.
    public static func radius(allowingZero: Bool = false) -> Check {
        Check { value in
            (allowingZero ? value >= 0 : value > 0) && value <= 1 ? nil : "must be in \(allowingZero ? "[0" : "(0"), 1]"
        }
    }
}
