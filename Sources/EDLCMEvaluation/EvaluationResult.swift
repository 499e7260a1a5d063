import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation

/// Everything an evaluation found, with the exact settings, versions and command lines that
/// produced it: what `--out` holds as JSON (and, rendered, as CSV and Markdown).
public struct EvaluationResult: Codable, Equatable, Sendable {
    /// "edlcm-evaluation/1".
    public var format = EvaluationResult.formatName
    /// Versions, command lines and times.
    public var provenance: Provenance
    /// The resolved settings (radii filled in).
    public var settings: EvaluationConfig
    /// Each attack's exact configuration as run, by role.
    public var attackSettings: [AttackSettingsRecord]
    /// The sanity checks' thresholds.
    public var thresholds: SanityThresholds
    /// The evaluated model.
    public var model: ModelRecord
    /// The evaluated images (of the test split, or of the run's validation split).
    public var samples: SamplesRecord
    /// Clean accuracy on them.
    public var clean: CleanRecord
    /// Per radius, ascending: the worst case and each attack's contribution.
    public var robustness: [EpsilonRecord]
    /// The surrogates transfer attacks were crafted on.
    public var surrogates: [SurrogateRecord]
    /// Each transfer attack at each radius.
    public var transfer: [TransferRecord]
    /// The members' transferability matrices, one per radius.
    public var transferability: [TransferabilityMatrix]
    /// The gradient-masking checks, with their verdicts and numbers.
    public var sanityChecks: [SanityCheckResult]
    /// Per evaluated image: its label, whether it was classified correctly and, per radius, what broke it.
    public var perExample: [ExampleRecord]

    /// The value of `format` in files this version writes.
    public static let formatName = "edlcm-evaluation/1"

    enum CodingKeys: String, CodingKey {
        case format, provenance, settings, thresholds, model, samples, clean, robustness, surrogates, transfer, transferability
        case attackSettings = "attack_settings", sanityChecks = "sanity_checks", perExample = "per_example"
    }

    /// Whether every sanity check passed (true when none ran).
    public var allChecksPassed: Bool { sanityChecks.allSatisfy(\.passed) }

    /// Which attack budget produced the numbers, in words: the preset and the settings changed from it.
    public var budgetDescription: String {
        let changes = settings.changesFromPreset
        let light =
            settings.lightEps.isEmpty
            ? ""
            : "; at ε = \(settings.lightEps.map(\.argument).joined(separator: ", ")) the suite is only \(settings.lightAttacks.map(\.rawValue).joined(separator: ", "))"
        return settings.preset.summary + (changes.isEmpty ? "" : ", changed: " + changes.joined(separator: ", ")) + light
    }
}

/// Where the numbers come from.
public struct Provenance: Codable, Equatable, Sendable {
    public var edlcmVersion: String
    public var libtorchVersion: String
    /// The command lines that produced the result: the first, then one per resume.
    public var commands: [[String]]
    public var started: String
    public var finished: String
    public var threads: Int

    enum CodingKeys: String, CodingKey {
        case commands, started, finished, threads
        case edlcmVersion = "edlcm_version", libtorchVersion = "libtorch_version"
    }
}

/// One attack's configuration as it ran, and in which part of the evaluation.
public struct AttackSettingsRecord: Codable, Equatable, Sendable {
    /// "suite", "transfer", "matrix" or "checks".
    public var role: String
    public var attack: String
    public var configuration: JSONValue
}

/// The evaluated model.
public struct ModelRecord: Codable, Equatable, Sendable {
    /// The run folder (empty for an in-memory model).
    public var run: String
    public var checkpointSHA256: String
    public var members: Int
    public var architecture: String
    public var output: String
    public var method: String
    public var dataset: String
    public var epochs: Int
    public var trainingSeed: UInt64

    enum CodingKeys: String, CodingKey {
        case run, members, architecture, output, method, dataset, epochs
        case checkpointSHA256 = "checkpoint_sha256", trainingSeed = "training_seed"
    }
}

/// Which images of which split were evaluated.
public struct SamplesRecord: Codable, Equatable, Sendable {
    public var split: String
    public var count: Int
    /// Positions in the split, ascending (for `validation`, in the run's validation split).
    public var indices: [Int]
    /// SHA-256 of the indices (comma-separated decimal), to match against caches.
    public var indicesSHA256: String

    enum CodingKeys: String, CodingKey {
        case split, count, indices
        case indicesSHA256 = "indices_sha256"
    }
}

/// Clean accuracy on the evaluated images.
public struct CleanRecord: Codable, Equatable, Sendable {
    public var accuracy: Double
    public var correct: Int
    public var memberAccuracies: [Double]

    enum CodingKeys: String, CodingKey {
        case accuracy, correct
        case memberAccuracies = "member_accuracies"
    }
}

/// The results at one radius.
public struct EpsilonRecord: Codable, Equatable, Sendable {
    public var epsilon: Double
    /// The per-example worst case over every attack (suite and transfer) and every smaller
    /// radius: the fraction of evaluated images still classified correctly. The number to quote.
    public var worstCaseAccuracy: Double
    /// The same after the suite only (white-box and Square), before transfer attacks.
    public var suiteAccuracy: Double
    /// By attack family: the accuracy after the gradient-based (white-box) attacks of the suite,
    /// the first stage of the cascade (nil when the suite lists Square before one of them, or has
    /// none); Square then runs on the images still robust, so the suite accuracy is white-box +
    /// score-based. Images broken at a smaller radius count as broken, as in the worst case.
    public var whiteBoxAccuracy: Double?
    /// The accuracy under the transfer attacks alone: clean-correct images that no transfer
    /// example (any surrogate, attack, loss or start) fooled, over the evaluated images; transfer
    /// examples are evaluated on every image (nil without surrogates; nil in results written
    /// before it was recorded).
    public var transferAccuracy: Double?
    /// Images broken at a smaller radius (their adversarial examples lie in this ball too).
    public var inheritedBroken: Int
    /// Each (attack, objective) run, in order.
    public var units: [UnitRecord]
    /// Each attack, worst over its objectives.
    public var attacks: [AttackSummary]

    enum CodingKeys: String, CodingKey {
        case epsilon, units, attacks
        case worstCaseAccuracy = "worst_case_accuracy", suiteAccuracy = "suite_accuracy", inheritedBroken = "inherited_broken"
        case whiteBoxAccuracy = "white_box_accuracy", transferAccuracy = "transfer_accuracy"
    }
}

/// One attack run on one objective at one radius.
public struct UnitRecord: Codable, Equatable, Sendable {
    public var attack: String
    /// The objective ("probabilities", "logits", "member-losses", or "deployed" for black-box).
    public var target: String
    /// Images the attack ran on.
    public var attacked: Int
    /// Of those, images it fooled.
    public var succeeded: Int
    /// Images it fooled that no earlier attack had.
    public var newlyBroken: Int
    /// The worst-case accuracy after this run.
    public var accuracyAfter: Double
    /// Wall-clock time of the run.
    public var seconds: Double
    /// Processor time of the process during the run (user + system, all threads).
    public var cpuSeconds: Double

    enum CodingKeys: String, CodingKey {
        case attack, target, attacked, succeeded, seconds
        case newlyBroken = "newly_broken", accuracyAfter = "accuracy_after", cpuSeconds = "cpu_seconds"
    }
}

/// One attack at one radius, over all its objectives.
public struct AttackSummary: Codable, Equatable, Sendable {
    public var attack: String
    /// Images this attack broke that no earlier attack had.
    public var newlyBroken: Int
    /// The worst-case accuracy after this attack.
    public var accuracyAfter: Double
    /// The attack's own robust accuracy (worst over its objectives); known in independent mode
    /// and for the first attack of a cascade at the smallest radius, nil otherwise.
    public var standaloneAccuracy: Double?
    /// The objective that broke the most images.
    public var strongestTarget: String?

    enum CodingKeys: String, CodingKey {
        case attack
        case newlyBroken = "newly_broken", accuracyAfter = "accuracy_after", standaloneAccuracy = "standalone_accuracy"
        case strongestTarget = "strongest_target"
    }
}

/// A surrogate ensemble used for transfer attacks.
public struct SurrogateRecord: Codable, Equatable, Sendable {
    public var name: String
    public var run: String
    public var checkpointSHA256: String
    public var members: Int
    public var trainingSeed: UInt64
    /// Whether this evaluation trained it (`--train-surrogates`).
    public var trainedHere: Bool
    public var cleanAccuracy: Double

    enum CodingKeys: String, CodingKey {
        case name, run, members
        case checkpointSHA256 = "checkpoint_sha256", trainingSeed = "training_seed", trainedHere = "trained_here"
        case cleanAccuracy = "clean_accuracy"
    }
}

/// Adversarial examples crafted on one surrogate, evaluated on the target.
public struct TransferRecord: Codable, Equatable, Sendable {
    public var surrogate: String
    public var attack: String
    public var epsilon: Double
    /// The fraction of evaluated images the examples fool on the surrogate itself.
    public var surrogateSuccess: Double
    /// The target's accuracy on the examples alone (clean-correct and not fooled).
    public var targetAccuracy: Double
    /// Images they broke that the suite had not.
    public var newlyBroken: Int
    /// The cache file holding the examples, and whether it was reused.
    public var cache: String?
    public var reused: Bool
    /// Random starts, each evaluated on the target (nil in results written before starts existed: 1).
    public var starts: Int?

    enum CodingKeys: String, CodingKey {
        case surrogate, attack, epsilon, cache, reused, starts
        case surrogateSuccess = "surrogate_success", targetAccuracy = "target_accuracy", newlyBroken = "newly_broken"
    }
}

/// PGD crafted on each member, evaluated on every member and on the ensemble, over images that
/// every member classifies correctly: `success[i][j]` is the fraction of them that the examples
/// made on member i make model j misclassify (j = M is the ensemble).
public struct TransferabilityMatrix: Codable, Equatable, Sendable {
    public var epsilon: Double
    public var images: Int
    /// "member0" … "member{M−1}", "ensemble".
    public var models: [String]
    public var success: [[Double]]
}

/// One evaluated image.
public struct ExampleRecord: Codable, Equatable, Sendable {
    /// Its position in the test split.
    public var index: Int
    public var label: Int
    public var cleanCorrect: Bool
    /// Per radius: the first thing that broke it ("pgd/logits", "transfer:NAME/m-pgd",
    /// "inherited"), or nil if it survived everything.
    public var brokenBy: [String?]

    enum CodingKeys: String, CodingKey {
        case index, label
        case cleanCorrect = "clean_correct", brokenBy = "broken_by"
    }
}
