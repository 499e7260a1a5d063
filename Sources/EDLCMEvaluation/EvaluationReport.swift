import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation

/// Renders an ``EvaluationResult`` as JSON, CSV and Markdown, and writes all three atomically.
public enum EvaluationReport {
    /// The result as pretty-printed JSON with sorted keys.
    public static func json(_ result: EvaluationResult) throws -> Data {
        try JSONStyle.record.encode(result)
    }

    /// Reads a result written by ``json(_:)``.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it is not an evaluation result.
    public static func read(from url: URL) throws -> EvaluationResult {
        try decode(readFile(url, maxBytes: DocumentLimits.records.maxBytes), name: url.path)
    }

    /// Decodes the bytes of a result file; `name` names it in errors.
    public static func decode(_ data: Data, name: String) throws -> EvaluationResult {
        try Document.decode(
            EvaluationResult.self, from: data, format: .json, limits: .records,
            label: "\(name): not an edlcm evaluation result"
        ) { decoder in
            decoder.nonConformingFloatDecodingStrategy = .convertFromString(
                positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        }
    }

    /// The results in long ("tidy") form, one number per row:
    /// `section,epsilon,attack,target,metric,value`.
    public static func csv(_ result: EvaluationResult) -> String {
        var rows: [[String]] = [["section", "epsilon", "attack", "target", "metric", "value"]]
        func add(_ section: String, _ epsilon: Double?, _ attack: String, _ target: String, _ metric: String, _ value: Double) {
            rows.append([section, epsilon.map { String(format: "%g", $0) } ?? "", attack, target, metric, number(value)])
        }
        add("clean", nil, "", "ensemble", "accuracy", result.clean.accuracy)
        for (index, accuracy) in result.clean.memberAccuracies.enumerated() {
            add("clean", nil, "", "member\(index)", "accuracy", accuracy)
        }
        for record in result.robustness {
            add("worst_case", record.epsilon, "", "", "accuracy", record.worstCaseAccuracy)
            add("worst_case", record.epsilon, "", "", "suite_accuracy", record.suiteAccuracy)
            add("worst_case", record.epsilon, "", "", "inherited_broken", Double(record.inheritedBroken))
            for unit in record.units {
                add("run", record.epsilon, unit.attack, unit.target, "attacked", Double(unit.attacked))
                add("run", record.epsilon, unit.attack, unit.target, "succeeded", Double(unit.succeeded))
                add("run", record.epsilon, unit.attack, unit.target, "newly_broken", Double(unit.newlyBroken))
                add("run", record.epsilon, unit.attack, unit.target, "accuracy_after", unit.accuracyAfter)
                add("run", record.epsilon, unit.attack, unit.target, "seconds", unit.seconds)
                add("run", record.epsilon, unit.attack, unit.target, "cpu_seconds", unit.cpuSeconds)
            }
            for attack in record.attacks {
                add("attack", record.epsilon, attack.attack, "", "newly_broken", Double(attack.newlyBroken))
                add("attack", record.epsilon, attack.attack, "", "accuracy_after", attack.accuracyAfter)
                if let standalone = attack.standaloneAccuracy {
                    add("attack", record.epsilon, attack.attack, "", "standalone_accuracy", standalone)
                }
            }
        }
        for record in result.transfer {
            add(
                "transfer", record.epsilon, record.attack, "surrogate:\(record.surrogate)", "surrogate_success",
                record.surrogateSuccess)
            add(
                "transfer", record.epsilon, record.attack, "surrogate:\(record.surrogate)", "target_accuracy",
                record.targetAccuracy)
            add(
                "transfer", record.epsilon, record.attack, "surrogate:\(record.surrogate)", "newly_broken",
                Double(record.newlyBroken))
        }
        for matrix in result.transferability {
            for (i, row) in matrix.success.enumerated() {
                for (j, value) in row.enumerated() {
                    add("transferability", matrix.epsilon, "pgd", matrix.models[i], "success_on:\(matrix.models[j])", value)
                }
            }
            add("transferability", matrix.epsilon, "pgd", "", "images", Double(matrix.images))
        }
        for check in result.sanityChecks {
            add("sanity", nil, "", check.name.rawValue, "passed", check.passed ? 1 : 0)
            for measurement in check.measurements {
                add("sanity", nil, "", check.name.rawValue, measurement.label, measurement.value)
            }
        }
        return rows.map { $0.map(csvField).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    private static func number(_ value: Double) -> String {
        value.isFinite ? String(format: "%.6g", value) : (value.isNaN ? "nan" : (value > 0 ? "inf" : "-inf"))
    }

    private static func csvField(_ field: String) -> String {
        field.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" })
            ? "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : field
    }

    private static func percent(_ value: Double) -> String { String(format: "%.1f%%", value * 100) }
    private static func epsilon(_ value: Double) -> String { String(format: "ε=%g", value) }
    private static func cell(_ text: String) -> String { text.replacingOccurrences(of: "|", with: "\\|") }

    /// A Markdown report: the worst case up front, then the settings and the command lines, the
    /// attack table, transfer results, transferability matrices, sanity checks and attack settings.
    public static func markdown(_ result: EvaluationResult) -> String {
        var lines: [String] = []
        let settings = result.settings
        let model = result.model
        lines.append("# Robustness evaluation" + (model.run.isEmpty ? "" : " of `\(model.run)`"))
        lines.append("")
        let worst = result.robustness.map { "\(epsilon($0.epsilon)) **\(percent($0.worstCaseAccuracy))**" }.joined(
            separator: ", ")
        lines.append(
            "**Worst-case robust accuracy** (per image, over every attack, objective, restart and surrogate; the number to quote), \(settings.norm.rawValue): \(worst) — on \(result.samples.count) \(result.samples.split) images, clean accuracy \(percent(result.clean.accuracy))."
        )
        lines.append("")
        lines.append("Attack budget: \(result.budgetDescription).")
        lines.append("")
        let passed = result.sanityChecks.filter(\.passed).count
        if !result.sanityChecks.isEmpty {
            lines.append(
                result.allChecksPassed
                    ? "Gradient-masking sanity checks: all \(passed) passed."
                    : "Gradient-masking sanity checks: **\(result.sanityChecks.count - passed) of \(result.sanityChecks.count) FAILED** — treat the robust accuracies as upper bounds that the attacks may not have reached."
            )
            lines.append("")
        }
        lines.append("## The command that made every number")
        lines.append("")
        lines.append("```")
        for command in result.provenance.commands { lines.append(command.map(shellQuoted).joined(separator: " ")) }
        lines.append("```")
        lines.append("")
        lines.append("| setting | value |")
        lines.append("|---|---|")
        let rows: [(String, String)] = [
            (
                "model",
                "\(model.members) × \(model.architecture), \(model.method), output \(model.output), \(model.dataset), \(model.epochs) epochs, training seed \(model.trainingSeed)"
            ),
            ("checkpoint sha256", "`\(model.checkpointSHA256)`"),
            (
                "samples",
                "\(result.samples.count) \(result.samples.split) images (seeded stratified subset, seed \(settings.seeding.seed); indices sha256 `\(result.samples.indicesSHA256.prefix(16))…`)"
            ),
            (
                "threat model",
                "\(settings.norm.rawValue), ε ∈ {\((settings.epsilons ?? []).map { String(format: "%g", $0) }.joined(separator: ", "))}, \(settings.targeted ? "targeted (seeded random wrong class)" : "untargeted")"
            ),
            (
                "preset",
                settings.preset.rawValue
                    + (settings.changesFromPreset.isEmpty
                        ? "" : " (changed: \(settings.changesFromPreset.joined(separator: ", ")))")
            ),
            ("attacks", settings.attacks.map(\.rawValue).joined(separator: ", ") + " (\(settings.mode.rawValue))"),
            ("objectives", settings.targets.map(\.description).joined(separator: ", ")),
            (
                "budget",
                "\(settings.steps) steps, \(settings.restarts) restart(s), \(settings.queries) Square queries, early stop \(settings.earlyStop ? "on" : "off")"
            ),
            (
                "versions",
                "edlcm \(result.provenance.edlcmVersion), libtorch \(result.provenance.libtorchVersion), \(result.provenance.threads) thread(s)"
            ),
            ("time", "\(result.provenance.started) → \(result.provenance.finished)"),
        ]
        for (key, value) in rows { lines.append("| \(key) | \(cell(value)) |") }
        lines.append("")

        lines.append("## Clean accuracy")
        lines.append("")
        lines.append("| model | accuracy |")
        lines.append("|---|---|")
        lines.append("| ensemble | \(percent(result.clean.accuracy)) |")
        for (index, accuracy) in result.clean.memberAccuracies.enumerated() {
            lines.append("| member\(index) | \(percent(accuracy)) |")
        }
        lines.append("")

        if !result.robustness.isEmpty {
            lines.append("## Robust accuracy")
            lines.append("")
            lines.append(
                settings.mode == .cascade
                    ? "Each run attacks only the images every earlier run failed on; a cell is the worst-case accuracy after that run, with the images it newly broke in parentheses."
                    : "Each run attacks every clean-correct image; a cell is the worst-case accuracy after that run, with the images it newly broke in parentheses."
            )
            lines.append("")
            lines.append(
                "| attack | objective | " + result.robustness.map { epsilon($0.epsilon) }.joined(separator: " | ") + " |")
            lines.append("|---|---|" + String(repeating: "---|", count: result.robustness.count))
            lines.append(
                "| clean | | " + result.robustness.map { _ in percent(result.clean.accuracy) }.joined(separator: " | ") + " |")
            if result.robustness.count > 1 {
                lines.append(
                    "| broken at a smaller ε | | " + result.robustness.map { "\($0.inheritedBroken)" }.joined(separator: " | ")
                        + " |")
            }
            for (index, unit) in result.robustness[0].units.enumerated() {
                let cells = result.robustness.map { record -> String in
                    guard index < record.units.count else { return "" }
                    let unit = record.units[index]
                    return "\(percent(unit.accuracyAfter)) (\(unit.newlyBroken))"
                }
                lines.append("| \(unit.attack) | \(unit.target) | " + cells.joined(separator: " | ") + " |")
            }
            lines.append(
                "| **worst case, suite** | | "
                    + result.robustness.map { "**\(percent($0.suiteAccuracy))**" }.joined(separator: " | ") + " |")
            if !result.transfer.isEmpty {
                lines.append(
                    "| **worst case, with transfer** | | "
                        + result.robustness.map { "**\(percent($0.worstCaseAccuracy))**" }.joined(separator: " | ") + " |")
            }
            lines.append("")
            if settings.mode == .independent {
                lines.append("Each attack on its own (worst over its objectives):")
                lines.append("")
                lines.append("| attack | " + result.robustness.map { epsilon($0.epsilon) }.joined(separator: " | ") + " |")
                lines.append("|---|" + String(repeating: "---|", count: result.robustness.count))
                for (index, attack) in result.robustness[0].attacks.enumerated() {
                    let cells = result.robustness.map { record in
                        record.attacks.indices.contains(index)
                            ? (record.attacks[index].standaloneAccuracy.map(percent) ?? "–") : ""
                    }
                    lines.append("| \(attack.attack) | " + cells.joined(separator: " | ") + " |")
                }
                lines.append("")
            }
        }

        if !result.transfer.isEmpty {
            lines.append("## Transfer attacks")
            lines.append("")
            lines.append(
                "| surrogate | members | clean | attack | ε | success on surrogate | target accuracy | newly broken | cache |")
            lines.append("|---|---|---|---|---|---|---|---|---|")
            let surrogates = Dictionary(uniqueKeysWithValues: result.surrogates.map { ($0.name, $0) })
            for record in result.transfer {
                let surrogate = surrogates[record.surrogate]
                lines.append(
                    "| \(cell(record.surrogate)) | \(surrogate.map { String($0.members) } ?? "") | \(surrogate.map { percent($0.cleanAccuracy) } ?? "") | \(record.attack) | \(String(format: "%g", record.epsilon)) | \(percent(record.surrogateSuccess)) | \(percent(record.targetAccuracy)) | \(record.newlyBroken) | \(record.reused ? "reused" : "written") |"
                )
            }
            lines.append("")
        }

        for matrix in result.transferability {
            lines.append("## Transferability matrix, \(epsilon(matrix.epsilon))")
            lines.append("")
            lines.append(
                "Success of PGD crafted on the row's member against the column's model, over \(matrix.images) images every member classifies correctly."
            )
            lines.append("")
            lines.append("| crafted on ↓ / evaluated on → | " + matrix.models.joined(separator: " | ") + " |")
            lines.append("|---|" + String(repeating: "---|", count: matrix.models.count))
            for (index, row) in matrix.success.enumerated() {
                lines.append("| \(matrix.models[index]) | " + row.map(percent).joined(separator: " | ") + " |")
            }
            lines.append("")
        }

        if !result.sanityChecks.isEmpty {
            lines.append("## Gradient-masking sanity checks")
            lines.append("")
            lines.append("| check | verdict | rule | numbers |")
            lines.append("|---|---|---|---|")
            for check in result.sanityChecks {
                let numbers = check.measurements.map { measurement in
                    let isCount = measurement.label.hasSuffix("non-finite") || measurement.label.hasSuffix("mean |g|")
                    return
                        "\(measurement.label) \(isCount ? String(format: "%.3g", measurement.value) : percent(measurement.value))"
                }.joined(separator: "; ")
                let verdict = check.passed ? "pass" : "**FAIL**: " + check.failures.joined(separator: "; ")
                lines.append("| \(check.name.rawValue) | \(cell(verdict)) | \(cell(check.rule)) | \(cell(numbers)) |")
            }
            lines.append("")
        }

        lines.append("## Attack settings")
        lines.append("")
        lines.append("| role | attack | configuration |")
        lines.append("|---|---|---|")
        for record in result.attackSettings {
            lines.append("| \(record.role) | \(record.attack) | `\(cell(record.configuration.compactText))` |")
        }
        lines.append("")
        return lines.joined(separator: "\n")
    }

    private static func shellQuoted(_ argument: String) -> String {
        let safe = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_./=:,+@%"))
        if !argument.isEmpty && argument.unicodeScalars.allSatisfy(safe.contains) { return argument }
        return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }

    /// Writes the JSON, CSV and Markdown files, each atomically.
    ///
    /// - Throws: ``EDLCMError`` naming the file that cannot be written.
    public static func write(_ result: EvaluationResult, to files: EvaluationFiles) throws {
        try writeFileAtomically(try json(result), to: files.json)
        try writeFileAtomically(Data(csv(result).utf8), to: files.csv)
        try writeFileAtomically(Data(markdown(result).utf8), to: files.markdown)
    }
}
