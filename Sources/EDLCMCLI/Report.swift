import ArgumentParser
import EDLCMCore
import EDLCMReport
import Foundation

extension ReportFormat: ExpressibleByArgument {}

/// Where a report goes and in which format (`report` and `study report`).
struct ReportOutput: ParsableArguments {
    @Option(help: "The report file to write (.html, or .md with --format markdown).")
    var out: String

    @Option(help: "html or markdown (default: html).")
    var format: ReportFormat = .html

    /// The report file, refused when it is a folder or cannot be written.
    func checkedURL() throws -> URL {
        let url = URL(fileURLWithPath: out)
        try checkOutputFile(url)
        return url
    }
}

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

    @OptionGroup var output: ReportOutput

    func validate() throws {
        guard !runs.isEmpty else { throw ValidationError("give at least one run folder") }
    }

    func run() throws {
        let format = self.output.format
        let output = try self.output.checkedURL()
        let summaries = try runs.map { try RunSummary(folder: URL(fileURLWithPath: $0)) }
        let text =
            format == .html
            ? ReportBuilder.html(summaries, command: CommandLine.arguments)
            : ReportBuilder.markdown(summaries, command: CommandLine.arguments)
        try writeFileAtomically(Data(text.utf8), to: output)
        print(output.path)
    }
}
