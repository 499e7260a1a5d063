import ArgumentParser
import EDLCMAttacks
import EDLCMCore
import EDLCMTraining
import Foundation
import Torch

/// `edlcm train`: trains an ensemble and writes config.json, metrics.jsonl and checkpoint.safetensors.
struct Train: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Train an ensemble.",
        discussion: """
            Writes, in --out: config.json (every resolved setting, versions, dataset checksums, the command \
            line), metrics.jsonl (one line per epoch) and checkpoint.safetensors (weights, optimizer state, \
            epoch; written atomically after every epoch). Settings come from the defaults, then --config \
            (JSON or YAML with the flag names as keys), then the flags. The baseline methods (ADP, GAL, \
            DVERGE, TRS, adversarial training), their formulas, defaults and sources: docs/baselines.md.
            """ + settingsHelp(TrainingConfig.self)
    )

    @OptionGroup var settings: SettingsOptions<TrainingConfig>

    @Option(help: "Run folder to write (created if missing; an existing run is never overwritten).")
    var out: String

    @Flag(
        help:
            "Continue the run in --out from its last checkpoint with its recorded settings (--epochs and --threads may be given to change them)."
    )
    var resume = false

    @Flag(
        help:
            "Data-parallel training over processes started by torchrun or `edlcm launch` (reads RANK, LOCAL_RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT; NCCL between GPUs, Gloo on the CPU, or EDLCM_DISTRIBUTED_BACKEND); --batch-size is the global batch."
    )
    var distributed = false

    /// The settings: the defaults (or, with --resume, the run's recorded ones), then --config, then the flags.
    func resolvedConfig() throws -> Validated<TrainingConfig> {
        guard resume, let recorded = try RunDirectory(url: URL(fileURLWithPath: out)).readRecordIfPresent() else {
            return try settings.resolve()
        }
        return try settings.resolve(over: recorded.config)
    }

    func run() throws {
        installStopHandlers()
        let config = try resolvedConfig()
        let group = distributed ? try ProcessGroup.joining(config, timeout: .seconds(120)) : nil
        let trainer = try Trainer(
            config: config, output: URL(fileURLWithPath: out), resume: resume, command: CommandLine.arguments,
            distributed: group)
        let progress = ProgressDisplay(runPath: trainer.run.url.path, quiet: !trainer.isWriter)
        let start = Date()
        let epochs: [EpochMetrics]
        do {
            epochs = try trainer.train(shouldStop: isStopRequested) { progress.handle($0) }
        } catch let stopped as TrainingStopped {
            FileHandle.standardError.write(Data("\nedlcm: \(stopped.description)\n".utf8))
            Foundation.exit(130)
        }
        guard trainer.isWriter else { return }
        // The last epoch measured the final weights already; a resumed run with nothing left to train measures them here.
        let accuracy =
            epochs.last.map { (ensemble: $0.testAccuracy, members: $0.memberTestAccuracy) }
            ?? {
                let measured = trainer.ensemble.cleanAccuracy(on: trainer.testLoader)
                return (measured.ensemble, measured.members)
            }()
        let members = accuracy.members.enumerated().map { "member\($0.offset) \(percent($0.element))" }.joined(separator: ", ")
        print("clean test accuracy on \(trainer.testLoader.count) images: ensemble \(percent(accuracy.ensemble)) (\(members))")
        if trainer.skippedBatches > 0 { print("skipped \(trainer.skippedBatches) batches with a non-finite loss or gradient") }
        let method = config.method.rawValue + (config.adversarial == .pgd ? " and PGD adversarial training" : "")
        print(
            "trained \(config.members) × \(config.architecture.rawValue) with \(method) in \(String(format: "%.1f", Date().timeIntervalSince(start))) s; run folder: \(trainer.run.url.path)"
        )
    }
}

func percent(_ value: Double) -> String {
    String(format: "%.2f%%", value * 100)
}
