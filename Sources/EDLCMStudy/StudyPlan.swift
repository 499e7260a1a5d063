import EDLCMCore
import EDLCMEvaluation
import EDLCMTraining
import Foundation

/// A comparison of methods: what a study file (YAML or JSON) asks for, resolved and checked.
///
/// The file is keyed like the flags:
///
/// ```yaml
/// name: fashion-mnist            # optional; default: the file's name
/// training:                      # `edlcm train` settings shared by every method (the budget)
///   dataset: fashion-mnist
///   arch: cnn
///   members: 3
///   epochs: 10
/// seeds: [0, 1, 2]
/// methods:                       # each: a name, then `edlcm train` settings over `training`
///   - name: plain
///     method: baseline
///   - name: lr-only
///     method: edlcm
///     alpha: 0
/// evaluation:                    # `edlcm evaluate` settings (a preset applies as on the command line)
///   preset: standard
/// analysis:                      # `edlcm analyze` settings
///   samples: 1000
/// sweep:                         # optional: trade-off fronts on the validation split
///   seed: 0
///   evaluation: {attacks: [apgd-ce], eps: [0.1]}
///   select: {within: 2, of: plain}
/// ```
///
/// Every run is one (method, seed): its training settings are `training`, then the method's keys,
/// then the seed. With a `sweep` section, a method may list `sweep: {KEY: [values]}` or
/// `sweep: {scale: [factors], keys: [KEY, …]}`: every point is first trained with the sweep's seed
/// and evaluated on the validation split (``StudySweepSettings``), and the method's runs then use
/// the point the rule selects (``StudySweepSelection``). Errors name the file, the line and the key.
public struct StudyPlan: Sendable, Equatable {
    /// One method of the study: a name and its training settings (without the seed).
    public struct Method: Sendable, Equatable {
        public var name: String
        public var training: TrainingConfig
        /// The study method whose run of the same seed this method starts from (`from: METHOD`,
        /// DVERGE's protocol of starting from a trained plain ensemble), nil for none.
        public var fromMethod: String? = nil
        /// The method's sweep over its strength, nil for none.
        public var sweep: StudySweep? = nil
    }

    /// Which part of a study a run belongs to.
    public enum Phase: String, Sendable, Equatable {
        /// A point of a method's front, under `sweep/`, evaluated on the validation split.
        case sweep
        /// A (method, seed) of the comparison, under `runs/`.
        case comparison
    }

    /// One (method, seed) to train, analyse and evaluate, or one point of a sweep.
    public struct Run: Sendable, Equatable {
        public var method: String
        public var seed: UInt64
        /// The training settings; for a comparison run of a swept method, before the selected
        /// point is applied (``StudyPlan/comparisonTraining(for:selection:)``).
        public var training: TrainingConfig
        /// The study method whose run of this seed (and phase) this run starts from.
        public var fromMethod: String? = nil
        public var phase: Phase = .comparison
        /// A sweep point's value, and its label in the folder name.
        public var sweepValue: Double? = nil
        public var label: String? = nil
        /// Whether the training settings wait for the sweep's selection.
        public var needsSelection = false
        /// The run's folder name under the study's `runs/` (or `sweep/`): "METHOD-seedS", or
        /// "METHOD-LABEL-seedS" for a sweep point.
        public var folderName: String { "\(method)\(label.map { "-\($0)" } ?? "")-seed\(seed)" }
        /// The folder name of the run it starts from.
        public var fromFolderName: String? { fromMethod.map { "\($0)-seed\(seed)" } }
        /// How `--only` and progress name the run: "sweep/FOLDER" for a sweep point, else the folder name.
        public var id: String { phase == .sweep ? "sweep/\(folderName)" : folderName }
        /// The id of the run it starts from (in the same phase).
        public var fromID: String? { fromFolderName.map { phase == .sweep ? "sweep/\($0)" : $0 } }
    }

    public var name: String
    /// The training settings shared by every method (the `training` section), which the
    /// surrogates that the study trains for transfer attacks use too.
    public var training: TrainingConfig
    public var methods: [Method]
    public var seeds: [UInt64]
    public var evaluation: EvaluationConfig
    public var analysis: AnalysisConfig
    /// The sweeps' settings, nil for a study without fronts.
    public var sweep: StudySweepSettings? = nil

    /// Every run, seed by seed, method by method (so that an interrupted study has finished whole
    /// seeds, and a run that starts from another comes after it).
    public var runs: [Run] {
        seeds.flatMap { seed in
            methods.map { method in
                var training = method.training
                training.seeding.seed = seed
                return Run(
                    method: method.name, seed: seed, training: training, fromMethod: method.fromMethod,
                    needsSelection: method.sweep != nil)
            }
        }
    }

    /// Every point of the sweeps, method by method, with the sweep's seed: one per value of a
    /// swept method, one for a method without a sweep (its own settings). Empty without a sweep.
    public var sweepRuns: [Run] {
        guard let sweep else { return [] }
        return methods.flatMap { method -> [Run] in
            var base = method.training
            base.seeding.seed = sweep.seed
            guard let points = method.sweep else {
                return [Run(method: method.name, seed: sweep.seed, training: base, fromMethod: method.fromMethod, phase: .sweep)]
            }
            // Checked when the file was read (every value applies).
            return points.values.map { value in
                Run(
                    method: method.name, seed: sweep.seed, training: (try? points.apply(value, to: base)) ?? base,
                    fromMethod: method.fromMethod, phase: .sweep, sweepValue: value, label: points.label(value))
            }
        }
    }

    /// A comparison run's training settings with its method's selected point applied.
    ///
    /// - Throws: ``EDLCMError`` when the selection chose no point for the method.
    public func comparisonTraining(for run: Run, selection: StudySweepSelection) throws -> TrainingConfig {
        guard run.needsSelection, let sweep = methods.first(where: { $0.name == run.method })?.sweep else { return run.training }
        guard let value = selection.chosen[run.method] else {
            throw EDLCMError("sweep: no operating point was selected for '\(run.method)'")
        }
        return try sweep.apply(value, to: run.training)
    }

    /// For each run (in ``runs``' order), the position of the run it depends on through `from`,
    /// followed to its root (itself for a run that starts fresh): the position a shard assigns it
    /// by, so that a run and the run it starts from are always in the same shard.
    public var rootPositions: [Int] {
        let all = runs
        let positions = Dictionary(uniqueKeysWithValues: all.enumerated().map { ($0.element.folderName, $0.offset) })
        return all.indices.map { position in
            var current = position
            while let source = all[current].fromFolderName, let next = positions[source] { current = next }
            return current
        }
    }

    /// ``rootPositions`` of one run.
    public func rootPosition(of position: Int) -> Int { rootPositions[position] }

    /// The top-level keys of a study file.
    static let sections = ["name", "training", "seeds", "methods", "evaluation", "analysis", "sweep"]
    /// Training keys that the study sets itself.
    static let reservedTrainingKeys = ["seed": "seeds are the study's 'seeds' list"]

    /// Reads and checks a study file.
    ///
    /// - Throws: ``EDLCMError`` "FILE: line N: …" for an unreadable file, an unknown key, a value of the
    ///   wrong type or out of range, a method without a name or with a name used twice, seeds that are
    ///   negative, repeated or missing, or a preset that does not exist.
    public init(path: String, overrides: [StudyOverride] = []) throws {
        let url = URL(fileURLWithPath: path)
        let data = try readFile(url, label: path, maxBytes: DocumentLimits.settings.maxBytes)
        let defaultName = url.deletingPathExtension().lastPathComponent
        try self.init(
            data: data, format: DocumentFormat(path: path), label: path, defaultName: defaultName, overrides: overrides)
    }

    /// Parses a study file held in memory; `label` names it in errors. `overrides` (from `--set`)
    /// replace or add keys before anything is checked; errors in them name the `--set` argument.
    public init(data: Data, format: DocumentFormat, label: String, defaultName: String, overrides: [StudyOverride] = [])
        throws
    {
        var value = try Document.value(from: data, format: format, limits: .settings, label: label)
        let lines = Document.keyLines(data, format: format)
        var overridden: [String: String] = [:]
        for override in overrides {
            overridden[try override.apply(to: &value, label: label)] = override.text
        }
        func place(_ path: String) -> String {
            if let text = overridden[path] ?? overridden.first(where: { $0.key.hasPrefix(path + ".") })?.value {
                return "--set \(text): "
            }
            return lines[path].map { "\(label): line \($0): " } ?? "\(label): "
        }
        func fail(_ path: String, _ message: String) -> EDLCMError { EDLCMError(place(path) + message) }
        guard case let .object(top) = value else {
            throw EDLCMError(
                "\(label): expected a study (name, training, seeds, methods, evaluation, analysis), got \(value.compactText.prefix(40))"
            )
        }
        for key in top.keys.sorted() where !Self.sections.contains(key) {
            throw fail(
                key,
                "unknown key '\(key)'\(suggestion(for: key, among: Self.sections)); a study has \(Self.sections.joined(separator: ", "))"
            )
        }
        func section(_ key: String) throws -> [String: JSONValue] {
            switch top[key] {
            case nil: return [:]
            case let .object(object)?: return object
            case let other?: throw fail(key, "'\(key)' must be a mapping of settings, got \(other.compactText.prefix(40))")
            }
        }
        /// Settings of one group from a section: its keys merged over `base`, then checked; errors name the key's line.
        func settings<Group: SettingsGroup>(_ values: [String: JSONValue], over base: Group, at path: String, what: String) throws
            -> Group
        {
            var merged = try base.merging(values) { key in place("\(path).\(key)") + "\(what): " }
            if let presetBase = merged.presetBase(over: base) {
                merged = try presetBase.merging(values) { key in place("\(path).\(key)") + "\(what): " }
            }
            do { try merged.validate() } catch let error as EDLCMError {
                // "--key must …": name the line of the key when the file set it.
                let key = error.message.dropFirst(2).prefix { $0 != " " }
                let where_ = error.message.hasPrefix("--") && values[String(key)] != nil ? "\(path).\(key)" : path
                throw fail(where_, "\(what): \(error.message)")
            }
            return merged
        }

        if let nameValue = top["name"] {
            guard case let .string(text) = nameValue, Self.isValidName(text) else {
                throw fail("name", "name must be letters, digits, '-' or '_', got \(nameValue.compactText.prefix(40))")
            }
            name = text
        } else {
            name = defaultName
        }

        let trainingValues = try section("training")
        for (key, reason) in Self.reservedTrainingKeys where trainingValues[key] != nil {
            throw fail("training.\(key)", "training: '\(key)' is not set here: \(reason)")
        }
        let training = try settings(trainingValues, over: TrainingConfig(), at: "training", what: "training")
        self.training = training
        if training.from != nil {
            throw fail("training.from", "training: 'from' is set per method (from: METHOD names a method listed before it)")
        }

        guard let seedsValue = top["seeds"] else { throw EDLCMError("\(label): no 'seeds' (a list such as [0, 1, 2])") }
        guard case let .array(seedValues) = seedsValue, !seedValues.isEmpty else {
            throw fail("seeds", "seeds must be a non-empty list of integers ≥ 0, got \(seedsValue.compactText.prefix(40))")
        }
        var seeds: [UInt64] = []
        for (index, seedValue) in seedValues.enumerated() {
            guard case let .integer(number) = seedValue, number >= 0 else {
                throw fail("seeds.\(index)", "seeds must be integers ≥ 0, got \(seedValue.compactText.prefix(40))")
            }
            guard !seeds.contains(UInt64(number)) else { throw fail("seeds.\(index)", "seed \(number) is listed twice") }
            seeds.append(UInt64(number))
        }
        self.seeds = seeds

        guard let methodsValue = top["methods"] else { throw EDLCMError("\(label): no 'methods' (a list of name: … entries)") }
        guard case let .array(methodValues) = methodsValue, !methodValues.isEmpty else {
            throw fail("methods", "methods must be a non-empty list of methods, got \(methodsValue.compactText.prefix(40))")
        }
        var methods: [Method] = []
        for (index, methodValue) in methodValues.enumerated() {
            let path = "methods.\(index)"
            guard case var .object(values) = methodValue else {
                throw fail(path, "each method must be a mapping with a name, got \(methodValue.compactText.prefix(40))")
            }
            guard case let .string(methodName)? = values.removeValue(forKey: "name") else {
                throw fail(path, "method \(index + 1) has no name (name: TEXT)")
            }
            guard Self.isValidName(methodName) else {
                throw fail("\(path).name", "method name '\(methodName)' must be letters, digits, '-' or '_'")
            }
            if let first = methods.firstIndex(where: { $0.name == methodName }) {
                throw fail("\(path).name", "the method name '\(methodName)' is used twice (first by method \(first + 1))")
            }
            for (key, reason) in Self.reservedTrainingKeys where values[key] != nil {
                throw fail("\(path).\(key)", "method '\(methodName)': '\(key)' is not set here: \(reason)")
            }
            let sweepValue = values.removeValue(forKey: "sweep")
            // `from: METHOD` names a method listed before: each run starts from that method's run of its seed.
            var fromMethod: String?
            if case let .string(source)? = values["from"], methods.contains(where: { $0.name == source }) {
                fromMethod = source
                values["from"] = nil
            } else if case let .string(source)? = values["from"], !FileManager.default.fileExists(atPath: source) {
                throw fail(
                    "\(path).from",
                    "method '\(methodName)': from: '\(source)' is neither a method listed before it (\(methods.isEmpty ? "none" : methods.map(\.name).joined(separator: ", "))) nor an existing run folder"
                )
            }
            var config = try settings(values, over: training, at: path, what: "method '\(methodName)'")
            if let fromMethod, let source = methods.first(where: { $0.name == fromMethod }) {
                guard source.training.architecture == config.architecture, source.training.members == config.members else {
                    throw fail(
                        "\(path).from", "method '\(methodName)': from: '\(fromMethod)' has another architecture or member count")
                }
                config.from = nil
            }
            var sweep: StudySweep?
            if let sweepValue {
                guard top["sweep"] != nil else {
                    throw fail(
                        "\(path).sweep",
                        "method '\(methodName)': a sweep needs the study's 'sweep' section (seed, evaluation, select)")
                }
                sweep = try Self.parseSweep(sweepValue, over: config) { fail("\(path).sweep", "method '\(methodName)': \($0)") }
            }
            if let fromMethod, methods.first(where: { $0.name == fromMethod })?.sweep != nil {
                throw fail(
                    "\(path).from",
                    "method '\(methodName)': from: '\(fromMethod)' is swept; a run can start only from a method without a sweep")
            }
            methods.append(Method(name: methodName, training: config, fromMethod: fromMethod, sweep: sweep))
        }
        self.methods = methods
        evaluation = try settings(try section("evaluation"), over: EvaluationConfig(), at: "evaluation", what: "evaluation")
        analysis = try settings(try section("analysis"), over: AnalysisConfig(), at: "analysis", what: "analysis")

        if top["sweep"] != nil {
            var values = try section("sweep")
            for key in values.keys.sorted() where !["seed", "evaluation", "select"].contains(key) {
                throw fail("sweep.\(key)", "sweep: unknown key '\(key)'; a sweep has seed, evaluation, select")
            }
            var seed = seeds[0]
            if let seedValue = values.removeValue(forKey: "seed") {
                guard case let .integer(number) = seedValue, number >= 0 else {
                    throw fail("sweep.seed", "sweep: seed must be an integer ≥ 0, got \(seedValue.compactText.prefix(40))")
                }
                seed = UInt64(number)
            }
            let evaluationValues: [String: JSONValue]
            switch values["evaluation"] {
            case nil: evaluationValues = [:]
            case let .object(object)?: evaluationValues = object
            case let other?:
                throw fail(
                    "sweep.evaluation", "sweep: evaluation must be a mapping of settings, got \(other.compactText.prefix(40))")
            }
            if let split = evaluationValues["split"], split != .string("validation") {
                throw fail("sweep.evaluation.split", "sweep: the sweep is evaluated on the validation split; leave 'split' out")
            }
            var sweepEvaluation = try settings(
                evaluationValues, over: EvaluationConfig(), at: "sweep.evaluation", what: "sweep evaluation")
            sweepEvaluation.split = .validation
            guard case let .object(select)? = values["select"], case let .string(reference)? = select["of"] else {
                throw fail(
                    "sweep", "sweep: select: {within: POINTS, of: METHOD} is needed (the rule that picks each operating point)")
            }
            for key in select.keys.sorted() where !["within", "of"].contains(key) {
                throw fail("sweep.select.\(key)", "sweep: select: unknown key '\(key)'; it has within and of")
            }
            guard methods.contains(where: { $0.name == reference }) else {
                throw fail(
                    "sweep.select.of",
                    "sweep: select: of: '\(reference)' is not a method (\(methods.map(\.name).joined(separator: ", ")))")
            }
            let within: Double
            switch select["within"] {
            case let .integer(number)? where number >= 0: within = Double(number)
            case let .number(number)? where number >= 0 && number.isFinite: within = number
            default:
                throw fail(
                    "sweep.select.within",
                    "sweep: select: within must be a number of accuracy points ≥ 0, got \(select["within"]?.compactText.prefix(40) ?? "nothing")"
                )
            }
            for (index, method) in methods.enumerated() where method.training.validation == nil {
                throw fail(
                    "methods.\(index)",
                    "method '\(method.name)': a sweep is evaluated on the validation split; set training.validation (held-out images)"
                )
            }
            sweep = StudySweepSettings(seed: seed, evaluation: sweepEvaluation, reference: reference, within: within)
        }
    }

    /// A method's `sweep:` value: `{KEY: [values]}` or `{scale: [factors], keys: [KEY, …]}`, every
    /// value applied to the method's settings once to check it.
    static func parseSweep(_ value: JSONValue, over config: TrainingConfig, fail: (String) -> EDLCMError) throws -> StudySweep {
        func numbers(_ value: JSONValue?, _ what: String) throws -> [Double] {
            guard case let .array(items)? = value, items.count >= 2 else {
                throw fail("\(what) must be a list of at least two numbers, got \(value?.compactText.prefix(40) ?? "nothing")")
            }
            return try items.map { item in
                switch item {
                case let .integer(number): return Double(number)
                case let .number(number) where number.isFinite: return number
                default: throw fail("\(what) must hold numbers, got \(item.compactText.prefix(40))")
                }
            }
        }
        guard case let .object(object) = value else {
            throw fail("sweep must be {KEY: [values]} or {scale: [factors], keys: [KEY, …]}, got \(value.compactText.prefix(40))")
        }
        let sweep: StudySweep
        if object["scale"] != nil || object["keys"] != nil {
            guard case let .array(keyValues)? = object["keys"], !keyValues.isEmpty, object.count == 2 else {
                throw fail("sweep: {scale: [factors], keys: [KEY, …]} needs both 'scale' and 'keys' and nothing else")
            }
            let keys = try keyValues.map { item -> String in
                guard case let .string(key) = item else {
                    throw fail("sweep: keys must be setting names, got \(item.compactText.prefix(40))")
                }
                return key
            }
            sweep = StudySweep(keys: keys, scales: true, values: try numbers(object["scale"], "sweep: scale"))
        } else {
            guard object.count == 1, let (key, list) = object.first else {
                throw fail("sweep must name one setting ({KEY: [values]}), got \(object.keys.sorted().joined(separator: ", "))")
            }
            sweep = StudySweep(keys: [key], scales: false, values: try numbers(list, "sweep: \(key)"))
        }
        guard Set(sweep.values).count == sweep.values.count else { throw fail("sweep: a value is listed twice") }
        for value in sweep.values {
            do { _ = try sweep.apply(value, to: config) } catch let error as EDLCMError {
                throw fail(error.message.hasPrefix("sweep: ") ? String(error.message.dropFirst(7)) : error.message)
            }
        }
        return sweep
    }

    /// Names used as folder names: letters, digits, '-' and '_', 1 to 64 characters.
    static func isValidName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}

/// One `--set PATH=VALUE` of `edlcm study run`: a key of the study file replaced or added, its
/// path the sections and keys joined by dots (`training.epochs=1`, `evaluation.samples=8`,
/// `seeds=[0]`, `methods.NAME.key=VALUE` for a method by its name), its value written as in YAML.
public struct StudyOverride: Sendable, Equatable {
    /// The argument as given.
    public let text: String
    public let path: [String]
    public let value: JSONValue

    /// Parses "PATH=VALUE".
    ///
    /// - Throws: ``EDLCMError`` "--set …" without '=', with an empty path or an unreadable value.
    public init(parsing text: String) throws {
        guard let equals = text.firstIndex(of: "=") else {
            throw EDLCMError("--set \(text): expected PATH=VALUE, for example training.epochs=1")
        }
        let path = text[..<equals].split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        guard !path.isEmpty, path.allSatisfy({ !$0.isEmpty }) else {
            throw EDLCMError("--set \(text): expected PATH=VALUE, for example training.epochs=1")
        }
        self.text = text
        self.path = path
        value = try Document.value(
            from: Data(text[text.index(after: equals)...].utf8), format: .yaml, limits: .settings, label: "--set \(text)")
    }

    /// Sets the value in a parsed study file; returns the key's path as `Document.keyLines` names
    /// it (methods by their position).
    func apply(to document: inout JSONValue, label: String) throws -> String {
        guard case var .object(top) = document else { throw EDLCMError("\(label): --set \(text): the file is not a study") }
        var keyPath = path
        if path[0] == "methods" {
            guard path.count == 3 else {
                throw EDLCMError("--set \(text): a method's key is methods.NAME.KEY, for example methods.edlcm.alpha=0")
            }
            guard case var .array(methods)? = top["methods"] else { throw EDLCMError("--set \(text): the study has no methods") }
            let names = methods.map { method -> String in
                if case let .object(values) = method, case let .string(name)? = values["name"] { return name }
                return ""
            }
            guard let index = names.firstIndex(of: path[1]), case var .object(values) = methods[index] else {
                throw EDLCMError("--set \(text): no method named '\(path[1])' (\(names.joined(separator: ", ")))")
            }
            values[path[2]] = value
            methods[index] = .object(values)
            top["methods"] = .array(methods)
            keyPath[1] = String(index)
        } else {
            func set(_ value: JSONValue, at path: ArraySlice<String>, in node: JSONValue?) throws -> JSONValue {
                guard let key = path.first else { return value }
                var object: [String: JSONValue] = [:]
                switch node {
                case nil: break
                case let .object(existing)?: object = existing
                case let other?:
                    throw EDLCMError("--set \(text): '\(key)' is inside \(other.compactText.prefix(40)), not a mapping")
                }
                object[key] = try set(value, at: path.dropFirst(), in: object[key])
                return .object(object)
            }
            guard case let .object(updated) = try set(value, at: path[...], in: .object(top)) else {
                return path.joined(separator: ".")
            }
            top = updated
        }
        document = .object(top)
        return keyPath.joined(separator: ".")
    }
}
