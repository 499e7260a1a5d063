import Torch

/// The libtorch thread count, shared by every command that computes.
public struct RuntimeSettings: ResultNeutralSettings {
    @Setting(
        "libtorch threads (the same value reproduces a run bit for bit).", .ifSet(.within(1...1024)),
        defaultText: "all available cores")
    public var threads: Int? = nil

    @Setting(
        "Where the work runs: auto (a CUDA GPU when libtorch can use one, else the CPU), cpu, cuda or cuda:N. auto and cuda take GPU 0, or in a distributed job each process its LOCAL_RANK's. Checkpoints stay device-free."
    )
    public var device: DeviceChoice = .auto

    @Setting(
        "Use libtorch's deterministic algorithms (on a GPU: slower, and an operation without one fails; the CPU's are deterministic already)."
    )
    public var deterministic = false

    public init() {}

    /// Applies these settings to the process (threads, deterministic algorithms) and resolves the
    /// device; `localRank` (a distributed job's) picks the GPU under `auto`.
    ///
    /// - Throws: ``EDLCMError`` "--device cuda:1 is not available: …" when the device cannot be used.
    public func apply(localRank: Int = 0) throws -> Device {
        try Runtime.setThreadCount(threads ?? Runtime.availableCores)
        let resolved = try device.resolved(localRank: localRank)
        if deterministic { try Runtime.setDeterministic(true) }
        return resolved
    }
}

/// The `--device` setting: a device, or `auto`.
public enum DeviceChoice: SettingValue, Hashable {
    case auto
    /// `cuda` without an index: GPU 0, or a distributed job's process's own GPU (its `LOCAL_RANK`),
    /// as torchrun's processes take theirs.
    case cuda
    case exactly(Device)

    public init?(argument: String) {
        let name = argument.trimmingCharacters(in: .whitespaces).lowercased()
        if name == "auto" {
            self = .auto
        } else if name == "cuda" {
            self = .cuda
        } else if let device = Device(name: name) {
            self = .exactly(device)
        } else {
            return nil
        }
    }

    public var argument: String {
        switch self {
        case .auto: "auto"
        case .cuda: "cuda"
        case .exactly(let device): device.description
        }
    }

    public static var valueHelp: String { "auto|cpu|cuda|cuda:N" }

    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let choice = DeviceChoice(argument: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "not a device: \(text)"))
        }
        self = choice
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(argument)
    }

    /// The device to run on: under `auto`, GPU `localRank` (a distributed job's processes take one
    /// GPU each, as torchrun's do) when libtorch sees a GPU, else the CPU; under `cuda`, GPU
    /// `localRank`; `cuda:N` and `cpu` as given.
    ///
    /// - Throws: ``EDLCMError`` "--device D is not available: …" when an explicit device cannot be
    ///   used, or when `auto` finds GPUs but fewer than `localRank + 1`.
    public func resolved(localRank: Int = 0) throws -> Device {
        switch self {
        case .cuda:
            do { try Device.cuda(localRank).checkAvailable() } catch let error as TorchError {
                throw EDLCMError(
                    "--device \(error.message)\(localRank > 0 ? " (cuda is GPU LOCAL_RANK in a distributed job)" : "")")
            }
            return .cuda(localRank)
        case .auto:
            let count = Device.cudaDeviceCount
            guard count == 0 || localRank < count else {
                throw EDLCMError(
                    "--device auto: LOCAL_RANK \(localRank) has no GPU of its own (libtorch sees \(count)); start at most \(count) processes on this machine, or give --device"
                )
            }
            return count == 0 ? .cpu : .cuda(localRank)
        case .exactly(let device):
            do { try device.checkAvailable() } catch let error as TorchError { throw EDLCMError("--device \(error.message)") }
            return device
        }
    }
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
