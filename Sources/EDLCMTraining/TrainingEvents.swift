import Foundation

/// What the trainer reports while it runs, for progress bars and logs.
public enum TrainingEvent {
    /// A batch finished: running means over the epoch so far.
    case batch(epoch: Int, epochs: Int, batch: Int, batches: Int, loss: Double, accuracy: Double, imagesPerSecond: Double)
    /// An epoch finished and was checkpointed.
    case epoch(EpochMetrics, epochs: Int)
}

/// Thrown when training stopped on request (SIGINT or SIGTERM) after writing a checkpoint.
public struct TrainingStopped: Error, CustomStringConvertible {
    /// The 1-based epoch and the batches of it completed.
    public let epoch: Int
    public let step: Int
    public let run: String

    public var description: String {
        "stopped during epoch \(epoch) after batch \(step); checkpoint written to \(run)/checkpoint.safetensors — continue with the same command plus --resume"
    }
}

/// The sums of an epoch in progress, saved in a checkpoint written mid-epoch.
public struct EpochProgress: Codable, Equatable, Sendable {
    /// Batches of the epoch done (the next one to run).
    public var step = 0
    public var batches = 0
    public var sums: [String: Double] = [:]
    public var weights: [String: Double] = [:]
    public var total = 0.0
    public var correct = 0.0
    public var seen = 0
    public var seconds = 0.0
}
