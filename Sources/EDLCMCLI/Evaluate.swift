import ArgumentParser
import EDLCMAttacks
import EDLCMCore
import EDLCMEvaluation
import EDLCMTraining
import Foundation

/// Set by the SIGINT handler; read between batches.

/// `edlcm evaluate`: attacks a trained ensemble and writes the results as JSON, CSV and Markdown.
struct Evaluate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Evaluate a trained ensemble's adversarial robustness.",
        discussion: """
            Rebuilds the ensemble from --run's checkpoint, draws a seeded stratified subset of the test split, and at \
            each ε runs the attacks on every objective (log-averaged softmax, averaged logits, sum of member losses), \
            then the transfer attacks crafted on --surrogates, keeping a per-image worst case; then the members' \
            transferability matrix and the gradient-masking sanity checks. Writes --out (JSON) and, beside it, .csv, \
            .md and .state.json; an interrupted evaluation resumes from the state when run again with the same \
            settings. Defaults are sized for a quick CPU evaluation (--preset quick); --preset standard runs \
            AutoAttack's standard version and --preset ensemble adds MORA and DVERGE/TRS's transfer protocol \
            (see docs/evaluation.md). Attacks: \
            \(AttackName.allCases.map(\.rawValue).joined(separator: ", ")).
            """ + settingsHelp(EvaluationConfig.self)
    )

    @OptionGroup var runFolderOption: RunFolderOption

    @Option(help: "The JSON results file; .csv, .md and .state.json go beside it (default: RUN/evaluation.json).")
    var out: String?

    @OptionGroup var settings: SettingsOptions<EvaluationConfig>

    /// The settings: the defaults, then --config, then the flags.
    func resolvedConfig() throws -> Validated<EvaluationConfig> {
        try settings.resolve()
    }

    func run() throws {
        let runFolder = runFolderOption.path
        let settings = try resolvedConfig()
        let outPath = out ?? RunDirectory(url: URL(fileURLWithPath: runFolder)).evaluationURL.path
        let display = EvaluationProgress()
        let session = try EvaluationSession(config: settings, runFolder: runFolder, out: outPath, command: CommandLine.arguments)
        { members, epoch, epochs in
            display.surrogate(members: members, epoch: epoch, epochs: epochs)
        }
        let start = Date()
        // The first Ctrl-C (or SIGTERM) stops after the current batch with the state saved; a second one exits at once.
        installStopHandlers()
        let result = try session.run(progress: { display.handle($0) }, shouldStop: isStopRequested)
        display.finish()
        print(EvaluationSummary.text(result))
        print(
            String(
                format: "evaluated in %.1f s; results: %@, %@, %@", Date().timeIntervalSince(start),
                session.files.json.path, session.files.csv.path, session.files.markdown.path))
    }
}
