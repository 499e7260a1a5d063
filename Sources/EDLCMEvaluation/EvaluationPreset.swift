import EDLCMAttacks
import EDLCMCore
import Foundation

/// A named attack budget for `edlcm evaluate --preset`: the starting values of the attack settings,
/// which other flags and file keys override. Results name the preset and the settings changed from it.
public enum EvaluationPreset: String, SettingChoice {
    /// The CPU default: APGD-CE, APGD-DLR (20 steps, 1 restart) on every objective, Square with 300
    /// queries; transfer with M-PGD and DI²-FGSM (50 steps, cross-entropy) from the given surrogates.
    case quick
    /// AutoAttack's standard version (Croce & Hein 2020), ensemble-aware: APGD-CE, APGD-T (9 target
    /// classes), FAB-T (9 target classes), 100 iterations and 1 restart each, on every objective;
    /// Square with 5 000 queries; transfer as in quick.
    case standard
    /// Standard plus MORA (Yu, Gao, Xu 2022) and the transfer protocol of DVERGE (Yang et al. 2020)
    /// and TRS (Yang et al. 2021): plain surrogates of 1 and 3 members trained here, M-PGD with 3
    /// random starts, M-DI²-FGSM and (residual surrogates) SGM, each with cross-entropy and the C&W
    /// margin, 100 steps.
    case ensemble

    /// The settings that make up an attack budget, by flag: those a preset sets, and those a report
    /// names when a configuration changes them from its preset's values.
    public static let keys = [
        "attacks", "steps", "restarts", "queries", "train-surrogates", "transfer-attacks", "transfer-steps",
        "transfer-restarts", "transfer-losses", "targets", "every-objective", "square-schedule", "light-eps",
    ]

    /// Sets the preset's values in `config`. The quick preset is the declared defaults of
    /// ``EvaluationConfig`` (stated there once).
    public func apply(to config: inout EvaluationConfig) {
        let defaults = EvaluationConfig()
        switch self {
        case .quick:
            config.attacks = defaults.attacks
            (config.steps, config.restarts, config.queries) = (defaults.steps, defaults.restarts, defaults.queries)
        case .standard, .ensemble:
            config.attacks = self == .standard ? [.apgdCE, .apgdT, .fabT, .square] : [.apgdCE, .apgdT, .fabT, .mora, .square]
            (config.steps, config.restarts, config.queries) = (100, 1, 5000)
        }
        if self == .ensemble {
            config.trainSurrogates = [1, 3]
            config.transferAttacks = [.mpgd, .mdiFGSM, .sgm]
            (config.transferSteps, config.transferRestarts, config.transferLosses) = (100, 3, [.crossEntropy, .margin])
        } else {
            config.trainSurrogates = defaults.trainSurrogates
            config.transferAttacks = defaults.transferAttacks
            (config.transferSteps, config.transferRestarts, config.transferLosses) = (
                defaults.transferSteps, defaults.transferRestarts, defaults.transferLosses
            )
        }
    }

    /// What the preset runs, in words, for reports.
    public var summary: String {
        switch self {
        case .quick:
            "the quick preset (APGD-CE and APGD-DLR with 20 steps on every objective, Square with 300 queries; a CPU evaluation in minutes, weaker than AutoAttack)"
        case .standard:
            "the standard preset (AutoAttack's standard version on every objective: APGD-CE, APGD-T and FAB-T with 100 iterations, Square with 5 000 queries)"
        case .ensemble:
            "the ensemble preset (AutoAttack's standard version on every objective, MORA, and transfer from plain surrogates of 1 and 3 members with M-PGD ×3 starts, M-DI²-FGSM and SGM, each with cross-entropy and the C&W margin, 100 steps)"
        }
    }

    /// A setting's value as a flag takes it: list elements separated by spaces.
    static func argumentText(_ value: JSONValue) -> String {
        switch value {
        case let .array(elements): elements.map(argumentText).joined(separator: " ")
        case let .string(text): text
        default: value.compactText
        }
    }
}
