import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Logging
import Torch

/// What an evaluation attacks: the ensemble, the images and what is recorded about them.
public struct EvaluationInput {
    public var ensemble: Ensemble
    /// float32 [N, C, H, W] in [0, 1].
    public var images: Tensor
    /// int64 [N].
    public var labels: Tensor
    /// Each image's position in the test split (seeds and records use it).
    public var sampleIndices: [Int]
    public var surrogates: [Surrogate]
    public var model: ModelRecord

    public init(
        ensemble: Ensemble, images: Tensor, labels: Tensor, sampleIndices: [Int], surrogates: [Surrogate] = [], model: ModelRecord
    ) {
        self.ensemble = ensemble
        self.images = images
        self.labels = labels
        self.sampleIndices = sampleIndices
        self.surrogates = surrogates
        self.model = model
    }
}

/// What an evaluation reports while it runs, for progress displays.
public enum EvaluationEvent {
    /// A saved state was found and is continued.
    case resumed(path: String, finishedRuns: Int)
    /// A stage begins ("clean accuracy", "ε=0.1", "transferability matrix", "sanity checks").
    case stage(String)
    /// An attack run begins on `images` images.
    case runStarted(String, images: Int)
    /// A batch of an attack run finished.
    case batch(String, done: Int, total: Int)
    /// An attack run finished; `accuracyAfter` is the worst case after it (suite runs only).
    case runFinished(String, attacked: Int, succeeded: Int, accuracyAfter: Double?, seconds: Double)
    /// A sanity check was decided.
    case check(SanityCheckResult)
}

/// Runs an evaluation: clean accuracy, then at each radius (ascending) the attack suite on every
/// objective and the transfer attacks, keeping a per-example worst case; then the members'
/// transferability matrix and the gradient-masking sanity checks.
///
/// Worst-case bookkeeping: an image counts as robust at ε only if it is classified correctly and
/// no attack (any objective, any restart, any surrogate) fooled it at ε or at a smaller radius
/// (whose examples lie inside the larger ball). In cascade mode each attack runs only on the
/// images still robust. After every batch the state is written atomically to `stateURL`; a new
/// `Evaluator` with the same settings, model and images continues from it.
public final class Evaluator {
    public let config: EvaluationConfig
    public let input: EvaluationInput
    public let stateURL: URL?
    public let thresholds: SanityThresholds
    /// The radii, ascending.
    public let epsilons: [Double]
    var state: EvaluationState
    let targetClasses: Tensor?
    let logger = Logger(label: "edlcm.evaluate")
    private var resumedRuns: Int?
    private var stopCheck: () -> Bool = { false }

    /// Prepares an evaluation, resuming the state in `stateURL` when it matches.
    ///
    /// - Parameters:
    ///   - config: settings with `epsilons` set (see ``EvaluationConfig/resolvedEpsilons(dataset:)``).
    ///   - input: the model and images.
    ///   - stateURL: where to keep the resumable state; nil keeps it in memory only.
    ///   - command: the command line, recorded with the results.
    /// - Throws: ``EDLCMError`` for invalid settings, images that do not fit the model, or a
    ///   state file of an unfinished evaluation with other settings.
    public init(
        config validated: Validated<EvaluationConfig>, input: EvaluationInput, stateURL: URL?, command: [String],
        thresholds: SanityThresholds = SanityThresholds()
    ) throws {
        let config = validated.settings
        guard let epsilons = config.epsilons else {
            throw EDLCMError("evaluation: no radii (set --eps or resolve the dataset's defaults)")
        }
        self.epsilons = Array(Set(epsilons)).sorted()
        for radius in config.lightEps where !epsilons.contains(radius) {
            throw EDLCMError(
                "--light-eps \(radius.argument) is not among the radii (\(self.epsilons.map(\.argument).joined(separator: ", ")))"
            )
        }
        let spec = input.ensemble.members[0].spec
        let count = input.sampleIndices.count
        guard input.images.shape == [count, spec.channels, spec.height, spec.width] else {
            throw EDLCMError(
                "evaluation: images of shape \(input.images.shape) for \(count) samples of a \(spec.channels)×\(spec.height)×\(spec.width) model"
            )
        }
        guard input.labels.shape == [count], count > 0 else {
            throw EDLCMError("evaluation: \(input.labels.shape) labels for \(count) samples")
        }
        for surrogate in input.surrogates {
            let other = surrogate.ensemble.members[0].spec
            guard other.channels == spec.channels, other.height == spec.height, other.width == spec.width,
                other.classCount == spec.classCount
            else {
                throw EDLCMError(
                    "--surrogates \(surrogate.run.isEmpty ? surrogate.name : surrogate.run): a \(other.channels)×\(other.height)×\(other.width) model with \(other.classCount) classes cannot stand in for a \(spec.channels)×\(spec.height)×\(spec.width) one with \(spec.classCount)"
                )
            }
            guard surrogate.checkpointSHA256 != input.model.checkpointSHA256 else {
                throw EDLCMError(
                    "--surrogates \(surrogate.run.isEmpty ? surrogate.name : surrogate.run): is the evaluated model itself; a transfer attack needs a held-out surrogate"
                )
            }
        }
        if input.surrogates.count != Set(input.surrogates.map(\.name)).count {
            throw EDLCMError(
                "--surrogates: two surrogates share the name '\(input.surrogates.map(\.name).first { n in input.surrogates.filter { $0.name == n }.count > 1 }!)'"
            )
        }
        self.config = config
        self.input = input
        self.stateURL = stateURL
        self.thresholds = thresholds
        targetClasses =
            config.targeted
            ? Self.targetClasses(
                labels: input.labels, indices: input.sampleIndices, classCount: spec.classCount, seed: config.seeding.seed) : nil

        let fingerprint = Self.fingerprint(config: config, epsilons: self.epsilons, input: input, thresholds: thresholds)
        if let stateURL, FileManager.default.fileExists(atPath: stateURL.path) {
            var saved = try EvaluationState.read(from: stateURL)
            if saved.fingerprint == fingerprint {
                saved.commands.append(command)
                state = saved
                resumedRuns = saved.units.count + saved.transfer.count + saved.matrix.count
            } else if saved.finished {
                state = EvaluationState(fingerprint: fingerprint, command: command)
            } else {
                throw EDLCMError(
                    "\(stateURL.path): holds an unfinished evaluation with other settings, model or images; run the same command to resume it, or delete the file to start over"
                )
            }
        } else {
            state = EvaluationState(fingerprint: fingerprint, command: command)
        }
    }

    /// A seeded wrong class per image: (y + 1 + u) mod C with u uniform in 0..<C−1.
    static func targetClasses(labels: Tensor, indices: [Int], classCount: Int, seed: UInt64) -> Tensor {
        let values = zip(labels.scalars(as: Int64.self), indices).map { label, index -> Int64 in
            var generator = SeededGenerator(seed: AttackSeed.mix(seed, AttackSeed.hash("target-class"), UInt64(index)))
            return (label + 1 + Int64(generator.nextInt(below: classCount - 1))) % Int64(classCount)
        }
        return Tensor(values, on: labels.device)
    }

    static func fingerprint(config: EvaluationConfig, epsilons: [Double], input: EvaluationInput, thresholds: SanityThresholds)
        -> String
    {
        var settings = config
        settings.epsilons = epsilons
        let encoder = JSONStyle.fingerprint.encoder
        let parts = [
            (try? encoder.encode(settings.fingerprintSettings)).map { String(decoding: $0, as: UTF8.self) } ?? "",
            (try? encoder.encode(thresholds)).map { String(decoding: $0, as: UTF8.self) } ?? "",
            input.model.checkpointSHA256,
            input.surrogates.map { "\($0.name)=\($0.checkpointSHA256)" }.joined(separator: ","),
            input.sampleIndices.map(String.init).joined(separator: ","),
            sha256Hex(of: Data(input.labels.scalars(as: Int64.self).map(String.init).joined(separator: ",").utf8)),
        ]
        return sha256Hex(of: Data(parts.joined(separator: "\n").utf8))
    }

    var sampleCount: Int { input.sampleIndices.count }

    func saveState() throws {
        if let stateURL { try state.write(to: stateURL) }
    }

    /// Saves the state, then stops the evaluation if the caller asked to.
    func checkpoint() throws {
        try saveState()
        if stopCheck() {
            throw EDLCMError(
                "evaluation interrupted; its state is saved\(stateURL.map { " in \($0.path)" } ?? ""): run the same command again to resume"
            )
        }
    }

    // MARK: - Running

    /// Runs (or finishes) the evaluation.
    ///
    /// - Parameters:
    ///   - progress: called with every stage, attack run, batch and check.
    ///   - shouldStop: asked after every batch; when it returns true the evaluation stops with
    ///     its state saved (an interrupted evaluation, which the same settings resume).
    /// - Returns: the results, which ``EvaluationReport`` writes as JSON, CSV and Markdown.
    /// - Throws: ``EDLCMError`` when the state cannot be written, an attack rejects its settings
    ///   (an unsupported norm, too few classes), or `shouldStop` asked to stop.
    public func run(progress: (EvaluationEvent) -> Void = { _ in }, shouldStop: @escaping () -> Bool = { false }) throws
        -> EvaluationResult
    {
        stopCheck = shouldStop
        defer { stopCheck = { false } }
        if let resumedRuns, let stateURL { progress(.resumed(path: stateURL.path, finishedRuns: resumedRuns)) }
        progress(.stage("clean accuracy"))
        let clean = cleanOutcome()
        let cleanCorrect = (0..<sampleCount).filter { clean.deployed[$0] }
        var brokenBy = Array(repeating: [String?](repeating: nil, count: sampleCount), count: epsilons.count)
        var records: [EpsilonRecord] = []
        var transferRecords: [TransferRecord] = []
        var surrogateAccuracy: [String: Double] = [:]
        for surrogate in input.surrogates {
            surrogateAccuracy[surrogate.name] = state.surrogateAccuracy[surrogate.name] ?? surrogateCleanAccuracy(surrogate)
        }
        state.surrogateAccuracy = surrogateAccuracy

        for (e, epsilon) in epsilons.enumerated() {
            progress(.stage(String(format: "ε=%g", epsilon)))
            var robust = Set(cleanCorrect)
            var inherited = 0
            if e > 0 {
                for position in cleanCorrect where brokenBy[e - 1][position] != nil {
                    brokenBy[e][position] = "inherited"
                    robust.remove(position)
                    inherited += 1
                }
            }
            let record = try runSuite(
                e: e, epsilon: epsilon, cleanCorrect: cleanCorrect, robust: &robust, brokenBy: &brokenBy[e], progress: progress)
            let suiteAccuracy = Double(robust.count) / Double(sampleCount)
            let transfer = try runTransfer(
                e: e, epsilon: epsilon, cleanCorrect: cleanCorrect, robust: &robust, brokenBy: &brokenBy[e], progress: progress)
            transferRecords += transfer.records
            records.append(
                EpsilonRecord(
                    epsilon: epsilon, worstCaseAccuracy: Double(robust.count) / Double(sampleCount), suiteAccuracy: suiteAccuracy,
                    whiteBoxAccuracy: record.whiteBoxRobust.map { Double($0) / Double(sampleCount) },
                    transferAccuracy: transfer.records.isEmpty
                        ? nil : Double(cleanCorrect.filter { !transfer.fooled.contains($0) }.count) / Double(sampleCount),
                    inheritedBroken: inherited, units: record.units, attacks: record.attacks))
        }
        var matrices: [TransferabilityMatrix] = []
        if config.matrix {
            progress(.stage("transferability matrix"))
            matrices = try transferabilityMatrices(clean: clean, progress: progress)
        }
        var checks: [SanityCheckResult] = []
        if config.checks {
            progress(.stage("sanity checks"))
            let measurements = try sanityMeasurements(cleanCorrect: cleanCorrect, progress: progress)
            checks = SanityChecks.evaluate(measurements, thresholds: thresholds)
            for check in checks { progress(.check(check)) }
        }
        countEveryBreak(cleanCorrect: cleanCorrect, brokenBy: &brokenBy, records: &records)
        state.finished = true
        try saveState()
        return assemble(
            clean: clean, records: records, transfer: transferRecords, matrices: matrices, checks: checks, brokenBy: brokenBy)
    }

    /// Every success counted: images that the sanity checks' own runs (within the radius) or the
    /// transferability matrix's examples broke count in the per-image worst case too, at their
    /// radius and every larger one, labelled "check:NAME" or "matrix:memberI" in `brokenBy`. Those
    /// runs are untargeted, so a targeted evaluation (`--targeted`) leaves them out: its worst case
    /// counts only examples classified as their image's target class.
    func countEveryBreak(cleanCorrect: [Int], brokenBy: inout [[String?]], records: inout [EpsilonRecord]) {
        let names = checkAttacks.map(\.name)
        let correct = Set(cleanCorrect)
        for (e, epsilon) in epsilons.enumerated() {
            var evidence: [(label: String, positions: [Int])] = []
            if config.checks && !config.targeted {
                for name in names {
                    if let outcome = state.units["check/\(Self.format(epsilon))/\(name)"] {
                        evidence.append(("check:\(name)", outcome.succeeded))
                    }
                }
            }
            for member in 0..<input.ensemble.members.count where !config.targeted {
                if let fooled = state.matrixEnsembleFooled?["matrix/\(Self.format(epsilon))/member\(member)"] {
                    evidence.append(("matrix:member\(member)", fooled))
                }
            }
            for (label, positions) in evidence {
                for position in positions where brokenBy[e][position] == nil && correct.contains(position) {
                    brokenBy[e][position] = label
                    for later in (e + 1)..<epsilons.count where brokenBy[later][position] == nil {
                        brokenBy[later][position] = "inherited"
                    }
                }
            }
        }
        for e in records.indices {
            records[e].worstCaseAccuracy = Double(cleanCorrect.filter { brokenBy[e][$0] == nil }.count) / Double(sampleCount)
            records[e].inheritedBroken = cleanCorrect.filter { brokenBy[e][$0] == "inherited" }.count
        }
    }

    /// Clean correctness of the deployed ensemble and of each member (computed once, then kept in the state).
    func cleanOutcome() -> CleanOutcome {
        if let clean = state.clean { return clean }
        let ensemble = input.ensemble
        let (deployed, members) = withEvaluationMode(of: EnsembleTarget.deployed(ensemble)) {
            withoutGradients { () -> ([Bool], [[Bool]]) in
                var deployed: [Bool] = []
                var members = Array(repeating: [Bool](), count: ensemble.members.count)
                for batch in batches(Array(0..<sampleCount)) {
                    let (images, labels) = slice(batch)
                    let logits = ensemble.firstOrderMemberLogits(images)
                    deployed += attackSucceeded(ensemble.combine(logits), labels: labels, targets: nil).map { !$0 }
                    for (index, memberLogits) in logits.enumerated() {
                        members[index] += attackSucceeded(memberLogits, labels: labels, targets: nil).map { !$0 }
                    }
                }
                return (deployed, members)
            }
        }
        let outcome = CleanOutcome(deployed: deployed, members: members)
        state.clean = outcome
        return outcome
    }

    private func surrogateCleanAccuracy(_ surrogate: Surrogate) -> Double {
        withEvaluationMode(of: EnsembleTarget.deployed(surrogate.ensemble)) {
            withoutGradients {
                var correct = 0
                for batch in batches(Array(0..<sampleCount)) {
                    let (images, labels) = slice(batch)
                    correct += attackSucceeded(surrogate.ensemble(images), labels: labels, targets: nil).filter { !$0 }.count
                }
                return Double(correct) / Double(sampleCount)
            }
        }
    }

    /// The suite at one radius (``EvaluationConfig/suite(at:)``): every attack on its objectives, in order.
    private func runSuite(
        e: Int, epsilon: Double, cleanCorrect: [Int], robust: inout Set<Int>, brokenBy: inout [String?],
        progress: (EvaluationEvent) -> Void
    ) throws -> (units: [UnitRecord], attacks: [AttackSummary], whiteBoxRobust: Int?) {
        var units: [UnitRecord] = []
        var summaries: [AttackSummary] = []
        // Robust images after the gradient attacks, while no Square run came before them.
        var whiteBoxRobust: Int?
        var onlyGradientsSoFar = true
        for (attackIndex, name) in config.suite(at: epsilon).enumerated() {
            onlyGradientsSoFar = onlyGradientsSoFar && name.usesGradients
            let attack = name.makeAttack(config.budget)
            let objectives = config.objectives(of: name)
            var newlyBroken = 0
            var fooledByAttack = Set<Int>()
            var strongest: (String, Int)?
            for objective in objectives {
                let targetName = objective?.description ?? "deployed"
                let label = "\(name.rawValue)/\(targetName)"
                let key = "suite/\(Self.format(epsilon))/\(label)"
                let target =
                    objective.map { EnsembleTarget(ensemble: input.ensemble, objective: $0) }
                    ?? EnsembleTarget.deployed(input.ensemble)
                let queue = config.mode == .cascade ? robust.sorted() : cleanCorrect
                let outcome = try runAttack(
                    key: key, label: String(format: "ε=%g %@", epsilon, label), attack: attack, target: target,
                    epsilon: epsilon, positions: queue, targeted: config.targeted, stopOnSuccess: config.earlyStop,
                    progress: progress)
                var unitNew = 0
                for position in outcome.succeeded where robust.contains(position) {
                    robust.remove(position)
                    brokenBy[position] = label
                    unitNew += 1
                }
                newlyBroken += unitNew
                fooledByAttack.formUnion(outcome.succeeded)
                if outcome.succeeded.count > (strongest?.1 ?? -1) { strongest = (targetName, outcome.succeeded.count) }
                let after = Double(robust.count) / Double(sampleCount)
                units.append(
                    UnitRecord(
                        attack: name.rawValue, target: targetName, attacked: outcome.attacked.count,
                        succeeded: outcome.succeeded.count,
                        newlyBroken: unitNew, accuracyAfter: after, seconds: outcome.seconds, cpuSeconds: outcome.cpuSeconds))
                progress(
                    .runFinished(
                        String(format: "ε=%g %@", epsilon, label), attacked: outcome.attacked.count,
                        succeeded: outcome.succeeded.count,
                        accuracyAfter: after, seconds: outcome.seconds))
            }
            let after = Double(robust.count) / Double(sampleCount)
            let standalone: Double? =
                config.mode == .independent
                ? Double(cleanCorrect.filter { !fooledByAttack.contains($0) }.count) / Double(sampleCount)
                : (e == 0 && attackIndex == 0 ? after : nil)
            summaries.append(
                AttackSummary(
                    attack: name.rawValue, newlyBroken: newlyBroken, accuracyAfter: after,
                    standaloneAccuracy: standalone, strongestTarget: strongest?.0))
            if onlyGradientsSoFar { whiteBoxRobust = robust.count }
        }
        return (units, summaries, whiteBoxRobust)
    }

    /// Transfer attacks at one radius: examples crafted on each surrogate (or read from its
    /// cache) with each attack, loss and random start, evaluated on the target. An image counts as
    /// broken by a source when any of its starts fooled the target (DVERGE's and TRS's rule).
    private func runTransfer(
        e: Int, epsilon: Double, cleanCorrect: [Int], robust: inout Set<Int>, brokenBy: inout [String?],
        progress: (EvaluationEvent) -> Void
    ) throws -> (records: [TransferRecord], fooled: Set<Int>) {
        var records: [TransferRecord] = []
        var fooledByAny = Set<Int>()
        for run in transferRuns {
            var fooled = Set<Int>()
            var fooledSurrogate = Set<Int>()
            var caches: [String] = []
            var reused = true
            var seconds = 0.0
            for start in 0..<run.starts {
                let key = run.key(epsilon: Self.format(epsilon), start: start)
                let outcome = try transferOutcome(
                    key: key,
                    label: String(format: "ε=%g %@", epsilon, run.label) + (run.starts > 1 ? " start \(start + 1)" : ""),
                    run: run, start: start, epsilon: epsilon, progress: progress)
                fooled.formUnion(outcome.succeeded)
                fooledByAny.formUnion(outcome.succeeded)
                fooledSurrogate.formUnion(outcome.surrogateFooled ?? [])
                caches += outcome.cache.map { [$0] } ?? []
                reused = reused && outcome.reused
                seconds += outcome.seconds
            }
            var newlyBroken = 0
            for position in fooled.sorted() where robust.contains(position) {
                robust.remove(position)
                brokenBy[position] = run.label
                newlyBroken += 1
            }
            records.append(
                TransferRecord(
                    surrogate: run.surrogate.name, attack: run.variant, epsilon: epsilon,
                    surrogateSuccess: Double(fooledSurrogate.count) / Double(sampleCount),
                    targetAccuracy: Double(cleanCorrect.filter { !fooled.contains($0) }.count) / Double(sampleCount),
                    newlyBroken: newlyBroken, cache: caches.first, reused: reused, starts: run.starts))
            progress(
                .runFinished(
                    String(format: "ε=%g %@", epsilon, run.label), attacked: sampleCount, succeeded: fooled.count,
                    accuracyAfter: Double(robust.count) / Double(sampleCount), seconds: seconds))
        }
        return (records, fooledByAny)
    }

    /// Every transfer source, in order: each surrogate × transfer attack (SGM only on residual
    /// surrogates) × loss, with its random starts.
    var transferRuns: [TransferRun] {
        input.surrogates.flatMap { surrogate in
            config.transferAttacks.filter { $0 != .sgm || SkipGradientMethod.hasResidualBranches(surrogate.ensemble) }
                .flatMap { attack in
                    config.transferLosses.map { loss in
                        TransferRun(
                            surrogate: surrogate, attack: attack, loss: loss,
                            starts: attack.startsAtRandom ? config.transferRestarts : 1)
                    }
                }
        }
    }

    /// A transfer attack's configuration for crafting on surrogates (one start each; the
    /// evaluation runs the starts as separate runs).
    func transferAttack(_ name: AttackName, loss: AttackLoss) -> any Attack {
        name.makeAttack(AttackBudget(steps: config.transferSteps, restarts: 1, loss: loss))
    }

    private func transferOutcome(
        key: String, label: String, run: TransferRun, start startIndex: Int, epsilon: Double,
        progress: (EvaluationEvent) -> Void
    ) throws -> TransferOutcome {
        if let done = state.transfer[key], done.surrogateFooled != nil { return done }
        let start = Date()
        let surrogate = run.surrogate
        let attack = transferAttack(run.attack, loss: run.loss)
        var settings: [String: JSONValue] = [
            "surrogate_sha256": .string(surrogate.checkpointSHA256), "attack": .string(run.attack.rawValue),
            "configuration": attack.configurationJSON(), "epsilon": .number(epsilon), "norm": .string(config.norm.rawValue),
            "seed": .string(String(config.seeding.seed)), "targeted": .bool(config.targeted),
            "samples_sha256": .string(sha256Hex(of: Data(input.sampleIndices.map(String.init).joined(separator: ",").utf8))),
            "labels_sha256": .string(
                sha256Hex(of: Data(input.labels.scalars(as: Int64.self).map(String.init).joined(separator: ",").utf8))),
        ]
        // The first start keeps the key it had before starts existed, so caches stay valid.
        if startIndex > 0 { settings["start"] = .number(Double(startIndex)) }
        let cache = surrogate.cacheDirectory.map { TransferCache(directory: $0, settings: .object(settings)) }
        let all = Array(0..<sampleCount)
        var reused = false
        var adversarial: Tensor
        if let cached = cache?.load(expectedShape: input.images.shape) {
            adversarial = cached.on(input.images.device)
            reused = true
            progress(.runStarted("\(label) (cached)", images: sampleCount))
        } else {
            progress(.runStarted(label, images: sampleCount))
            var pieces: [Tensor] = []
            let target = EnsembleTarget.deployed(surrogate.ensemble)
            for (index, batch) in batches(all).enumerated() {
                let (images, labels) = slice(batch)
                let context = AttackContext(
                    epsilon: epsilon, norm: config.norm, targets: targets(batch), seeds: seeds(batch, key: key),
                    stopOnSuccess: false, keepsFirstSuccess: false)
                pieces.append(try attack.perturb(images, labels: labels, target: target, context: context).adversarial)
                progress(.batch(label, done: Swift.min((index + 1) * config.batchSize, sampleCount), total: sampleCount))
            }
            adversarial = Tensor.concatenate(pieces, alongAxis: 0)
            cache?.save(adversarial, logger: logger)
        }
        // The cache is trusted only after checking that it stays in the ball.
        let ball = PerturbationBall(center: input.images, norm: config.norm, epsilon: epsilon)
        adversarial = withoutGradients { ball.project(adversarial) }
        var succeeded: [Int] = []
        var surrogateFooled: [Int] = []
        withEvaluationMode(of: EnsembleTarget.deployed(input.ensemble)) {
            withEvaluationMode(of: EnsembleTarget.deployed(surrogate.ensemble)) {
                withoutGradients {
                    for batch in batches(all) {
                        let selection = Tensor(batch.map(Int64.init), on: adversarial.device)
                        let images = adversarial.indexSelected(alongAxis: 0, indices: selection)
                        let labels = input.labels.indexSelected(alongAxis: 0, indices: selection)
                        let onTarget = attackSucceeded(input.ensemble(images), labels: labels, targets: targets(batch))
                        succeeded += zip(batch, onTarget).filter(\.1).map(\.0)
                        let onSurrogate = attackSucceeded(surrogate.ensemble(images), labels: labels, targets: targets(batch))
                        surrogateFooled += zip(batch, onSurrogate).filter(\.1).map(\.0)
                    }
                }
            }
        }
        let outcome = TransferOutcome(
            succeeded: succeeded, surrogateFooled: surrogateFooled,
            cache: cache?.url.path, reused: reused, seconds: Date().timeIntervalSince(start))
        state.transfer[key] = outcome
        try checkpoint()
        return outcome
    }

    // MARK: - Attack runs

    /// Runs one attack on `positions` in batches, resuming a partial run with the same key, and
    /// records which positions it fooled. Seeds come from `seedKey` (default: `key`) and each
    /// image's test-set index, so they do not depend on batching or on which images are attacked.
    func runAttack(
        key: String, seedKey: String? = nil, label: String, attack: any Attack, target: any AttackTarget, epsilon: Double,
        positions: [Int], targeted: Bool, stopOnSuccess: Bool, progress: (EvaluationEvent) -> Void
    ) throws -> UnitOutcome {
        if let done = state.units[key] { return done }
        var partial =
            state.partial?.key == key
            ? state.partial! : PartialUnit(key: key, queue: positions, nextBatch: 0, succeeded: [], seconds: 0, cpuSeconds: 0)
        let chunks = batches(partial.queue)
        progress(.runStarted(label, images: partial.queue.count))
        for index in partial.nextBatch..<chunks.count {
            let start = Date()
            let cpuStart = processorSeconds()
            let batch = chunks[index]
            let (images, labels) = slice(batch)
            let context = AttackContext(
                epsilon: epsilon, norm: config.norm, targets: targeted ? targets(batch) : nil,
                seeds: seeds(batch, key: seedKey ?? key), stopOnSuccess: stopOnSuccess)
            let output = try attack.perturb(images, labels: labels, target: target, context: context)
            partial.succeeded += zip(batch, output.success).filter(\.1).map(\.0)
            partial.nextBatch = index + 1
            partial.seconds += Date().timeIntervalSince(start)
            partial.cpuSeconds += processorSeconds() - cpuStart
            state.partial = partial
            try checkpoint()
            progress(
                .batch(label, done: Swift.min((index + 1) * config.batchSize, partial.queue.count), total: partial.queue.count))
        }
        let outcome = UnitOutcome(
            attacked: partial.queue, succeeded: partial.succeeded, seconds: partial.seconds, cpuSeconds: partial.cpuSeconds)
        state.units[key] = outcome
        state.partial = nil
        try saveState()
        return outcome
    }

    /// Positions in batches of the configured size.
    func batches(_ positions: [Int]) -> [[Int]] {
        stride(from: 0, to: positions.count, by: config.batchSize).map {
            Array(positions[$0..<Swift.min($0 + config.batchSize, positions.count)])
        }
    }

    /// The images and labels at `positions`.
    func slice(_ positions: [Int]) -> (Tensor, Tensor) {
        let selection = Tensor(positions.map(Int64.init), on: input.images.device)
        return (
            input.images.indexSelected(alongAxis: 0, indices: selection),
            input.labels.indexSelected(alongAxis: 0, indices: selection)
        )
    }

    /// The target classes at `positions` in targeted mode, nil otherwise.
    func targets(_ positions: [Int]) -> Tensor? {
        targetClasses?.indexSelected(alongAxis: 0, indices: Tensor(positions.map(Int64.init)))
    }

    func seeds(_ positions: [Int], key: String) -> [UInt64] {
        let keyHash = AttackSeed.hash(key)
        return positions.map { AttackSeed.mix(config.seeding.seed, keyHash, UInt64(input.sampleIndices[$0])) }
    }

    static func format(_ epsilon: Double) -> String {
        String(format: "%g", epsilon)
    }
}
