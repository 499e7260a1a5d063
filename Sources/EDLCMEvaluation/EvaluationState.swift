import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation

/// What an evaluation has done so far, kept on disk beside `--out` (written atomically after
/// every batch) so that an interrupted evaluation resumes where it stopped. Outcomes are stored
/// per unit of work as positions in the evaluated sample; everything else (worst cases, tables)
/// is recomputed from them.
package struct EvaluationState: Codable {
    static let formatName = "edlcm-evaluation-state/1"

    var format = EvaluationState.formatName
    /// A hash of the settings, the model's weights, the surrogates' weights and the sample.
    var fingerprint: String
    var commands: [[String]]
    var started: String
    var clean: CleanOutcome?
    /// Finished attack runs by key.
    var units: [String: UnitOutcome] = [:]
    /// The attack run in progress.
    var partial: PartialUnit?
    var transfer: [String: TransferOutcome] = [:]
    /// Success counts per model column of the transferability matrix, by key.
    var matrix: [String: [Int]] = [:]
    /// Positions whose transferability-matrix example (crafted on one member) fooled the deployed
    /// ensemble, by the same key (they count in the worst case). Optional: states written before
    /// it existed still load (their matrix runs are redone).
    var matrixEnsembleFooled: [String: [Int]]?
    var gradients: [String: GradientStatistics] = [:]
    var surrogateAccuracy: [String: Double] = [:]
    var finished = false

    init(fingerprint: String, command: [String]) {
        self.fingerprint = fingerprint
        commands = [command]
        started = ISO8601DateFormatter().string(from: Date())
    }

    /// Reads a state file.
    ///
    /// - Throws: ``EDLCMError`` naming the file when it is unreadable or not a state file.
    static func read(from url: URL) throws -> EvaluationState {
        try decode(readFile(url, maxBytes: DocumentLimits.records.maxBytes), name: url.path)
    }

    /// Decodes the bytes of a state file; `name` names it in errors.
    package static func decode(_ data: Data, name: String) throws -> EvaluationState {
        let state: EvaluationState
        do {
            state = try Document.decode(
                EvaluationState.self, from: data, format: .json, limits: .records,
                label: "\(name): not an evaluation state file")
        } catch let error as EDLCMError {
            throw EDLCMError("\(error.message); delete it to start over")
        }
        guard state.format == formatName else {
            throw EDLCMError("\(name): state format '\(state.format)', expected '\(formatName)'")
        }
        return state
    }

    func write(to url: URL) throws {
        try writeFileAtomically(try JSONStyle.line.encode(self), to: url)
    }
}

/// The deployed ensemble's and each member's correctness on the clean images.
struct CleanOutcome: Codable {
    var deployed: [Bool]
    var members: [[Bool]]
}

/// One attack run: the positions it attacked and those it fooled.
struct UnitOutcome: Codable {
    var attacked: [Int]
    var succeeded: [Int]
    var seconds: Double
    /// Processor time of this process (user + system, all threads) spent on the run.
    var cpuSeconds: Double
}

/// An attack run part-way through: its queue is fixed when it starts, so a resumed run attacks
/// exactly the same images in the same batches.
struct PartialUnit: Codable {
    var key: String
    var queue: [Int]
    var nextBatch: Int
    var succeeded: [Int]
    var seconds: Double
    var cpuSeconds: Double
}

/// Transfer examples evaluated on the target: positions whose decision they fooled.
struct TransferOutcome: Codable {
    var succeeded: [Int]
    /// Positions whose examples fool the surrogate itself (nil in states written before it was
    /// kept; those runs are redone, from the cache when there is one).
    var surrogateFooled: [Int]?
    var cache: String?
    var reused: Bool
    var seconds: Double
}

/// One transfer source: an attack with a loss, crafted on a surrogate, over its random starts.
struct TransferRun {
    let surrogate: Surrogate
    let attack: AttackName
    let loss: AttackLoss
    let starts: Int

    /// "m-pgd" with cross-entropy, "m-pgd-margin" with the C&W margin.
    var variant: String { loss == .crossEntropy ? attack.rawValue : "\(attack.rawValue)-\(loss.rawValue)" }
    /// "transfer:SURROGATE/VARIANT", as `per_example.broken_by` names it.
    var label: String { "transfer:\(surrogate.name)/\(variant)" }

    /// The state key of one start at one radius (the first start keeps the key it had before starts existed).
    func key(epsilon: String, start: Int) -> String {
        "transfer/\(epsilon)/\(surrogate.name)/\(variant)" + (start == 0 ? "" : "/start\(start + 1)")
    }
}

/// The processor time this process has used so far (user + system, every thread), in seconds.
func processorSeconds() -> Double {
    var usage = rusage()
    #if canImport(Glibc)
        getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
        getrusage(RUSAGE_SELF, &usage)
    #endif
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
