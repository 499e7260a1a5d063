import ArgumentParser
import EDLCMCore
import EDLCMReport
import Foundation

extension ReportFormat: ExpressibleByArgument {}

/// `edlcm report RUN… --out report.html`: one self-contained page comparing runs.
struct Report: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write one self-contained HTML (or Markdown) report comparing run folders.",
        discussion: """
            Reads each run's config.json, metrics.jsonl and, when present, analysis.json (edlcm analyze) \
            and evaluation.json (edlcm evaluate). The page has no external scripts, fonts or images.
            """
    )

    @Argument(help: "Run folders to compare.")
    var runs: [String]

    @Option(help: "The report file to write.")
    var out: String

    @Option(help: "html or markdown (default: html).")
    var format: ReportFormat = .html

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        let output = URL(fileURLWithPath: out)
        try checkOutputFile(output)
        let summaries = try runs.map { try RunSummary(folder: URL(fileURLWithPath: $0)) }
        let text =
            format == .html
            ? ReportBuilder.html(summaries, command: CommandLine.arguments)
            : ReportBuilder.markdown(summaries, command: CommandLine.arguments)
        try writeFileAtomically(Data(text.utf8), to: output)
        print(output.path)
    }
}
