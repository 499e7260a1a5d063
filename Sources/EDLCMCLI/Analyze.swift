import ArgumentParser
import EDLCMEvaluation
import EDLCMTraining
import Foundation

/// `edlcm analyze`: the HVP transferability metric, gradient cosines and curvature of a trained ensemble.
struct Analyze: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Measure an ensemble's diversity (HVP and gradient cosines) and curvature on test images.",
        discussion: "Writes a JSON report (default: RUN/analysis.json) and prints the matrices."
            + settingsHelp(AnalysisConfig.self)
    )

    @OptionGroup var runFolderOption: RunFolderOption

    @Option(help: "Where to write the JSON report (default: RUN/analysis.json).")
    var out: String?

    @OptionGroup var settings: SettingsOptions<AnalysisConfig>

    func run() throws {
        let runFolder = runFolderOption.path
        let config = try settings.resolve()
        let output = URL(fileURLWithPath: out ?? RunDirectory(url: URL(fileURLWithPath: runFolder)).analysisURL.path)
        let report = try AnalysisRecord.analyse(
            runFolder: runFolder, config: config, output: output, command: CommandLine.arguments
        )
        .report
        print("HVP cosine (mean off-diagonal \(String(format: "%.4f", report.meanHVPCosine))):")
        print(formatMatrix(report.hvpCosine))
        if let random = report.hvpCosineRademacher, let mean = report.meanHVPCosineRademacher {
            print("HVP cosine under one shared Rademacher probe (mean off-diagonal \(String(format: "%.4f", mean))):")
            print(formatMatrix(random))
        }
        print("input-gradient cosine (mean off-diagonal \(String(format: "%.4f", report.meanGradientCosine))):")
        print(formatMatrix(report.gradientCosine))
        for (index, value) in report.topEigenvalue.enumerated() {
            print(
                String(
                    format: "member%d: ‖Hz‖ %.4f  ‖d‖² %.4f  top eigenvalue %.4f  ‖∇ₓℓ‖ %.4f", index, report.hvpNorm[index],
                    report.curvatureLoss[index], value, report.gradientNorm[index]))
        }
        print("wrote \(output.path)")
    }
}

func formatMatrix(_ matrix: [[Double]]) -> String {
    matrix.map { row in "  " + row.map { String(format: "%7.4f", $0) }.joined(separator: " ") }.joined(separator: "\n")
}
