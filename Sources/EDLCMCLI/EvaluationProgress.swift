import EDLCMEvaluation
import Foundation

/// Shows evaluation progress on stderr: a live line on a terminal, plain log lines otherwise.
final class EvaluationProgress {
    let isTerminal = isatty(STDERR_FILENO) == 1
    private var lastLogged = Date.distantPast

    func handle(_ event: EvaluationEvent) {
        switch event {
        case let .resumed(path, finishedRuns):
            line("resuming from \(path) (\(finishedRuns) attack runs already done)")
        case let .stage(name):
            line("== \(name)")
        case let .runStarted(name, images):
            if isTerminal { live("\(name): \(images) images") }
        case let .batch(name, done, total):
            if isTerminal {
                live("\(name): \(done)/\(total)")
            } else if Date().timeIntervalSince(lastLogged) >= 10 {
                lastLogged = Date()
                line("\(name): \(done)/\(total)")
            }
        case let .runFinished(name, attacked, succeeded, accuracyAfter, seconds):
            let after = accuracyAfter.map { String(format: ", accuracy now %.1f%%", $0 * 100) } ?? ""
            line(String(format: "%@: fooled %d of %d%@ (%.1f s)", name, succeeded, attacked, after, seconds))
        case let .check(check):
            line("check \(check.name.rawValue): \(check.passed ? "pass" : "FAIL")")
        }
    }

    func surrogate(members: Int, epoch: Int, epochs: Int) {
        line("training surrogate of \(members) member(s): epoch \(epoch)/\(epochs)")
    }

    func finish() {
        if isTerminal { write("\r\u{1B}[2K") }
    }

    private func live(_ text: String) {
        write("\r\u{1B}[2K" + text)
    }

    private func line(_ text: String) {
        write((isTerminal ? "\r\u{1B}[2K" : "") + text + "\n")
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}

/// The plain-text summary `edlcm evaluate` prints on stdout.
enum EvaluationSummary {
    static func text(_ result: EvaluationResult) -> String {
        var lines: [String] = []
        func pct(_ value: Double) -> String { String(format: "%5.1f%%", value * 100) }
        lines.append(
            "clean accuracy on \(result.samples.count) \(result.samples.split) images: \(pct(result.clean.accuracy)) (members: \(result.clean.memberAccuracies.map(pct).joined(separator: ", ")))"
        )
        for record in result.robustness {
            lines.append(
                String(
                    format: "ε=%-8g worst-case robust accuracy %@  (suite %@)", record.epsilon, pct(record.worstCaseAccuracy),
                    pct(record.suiteAccuracy)))
            for unit in record.units {
                lines.append(
                    "    \(unit.attack.padding(toLength: 9, withPad: " ", startingAt: 0)) \(unit.target.padding(toLength: 14, withPad: " ", startingAt: 0)) fooled \(unit.succeeded)/\(unit.attacked), accuracy after \(pct(unit.accuracyAfter))"
                )
            }
            for transfer in result.transfer where transfer.epsilon == record.epsilon {
                lines.append(
                    "    transfer \(transfer.surrogate)/\(transfer.attack): target accuracy \(pct(transfer.targetAccuracy)), newly broken \(transfer.newlyBroken)"
                )
            }
        }
        for matrix in result.transferability {
            lines.append(
                String(
                    format: "transferability ε=%g (%d images; rows crafted on, columns %@):", matrix.epsilon, matrix.images,
                    matrix.models.joined(separator: " ")))
            for (index, row) in matrix.success.enumerated() {
                lines.append("    \(matrix.models[index]): " + row.map(pct).joined(separator: " "))
            }
        }
        for check in result.sanityChecks {
            let numbers = check.measurements.prefix(8).map { String(format: "%@ %.3g", $0.label, $0.value) }.joined(
                separator: "; ")
            lines.append("[\(check.passed ? "PASS" : "FAIL")] \(check.name.rawValue): \(numbers)")
            for failure in check.failures { lines.append("       \(failure)") }
        }
        return lines.joined(separator: "\n")
    }
}
