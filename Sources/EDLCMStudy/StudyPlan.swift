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
/// ```
///
/// Every run is one (method, seed): its training settings are `training`, then the method's keys,
/// then the seed. Errors name the file, the line and the key.
public struct StudyPlan: Sendable, Equatable {
    /// One method of the study: a name and its training settings (without the seed).
    public struct Method: Sendable, Equatable {
        public var name: String
        public var training: TrainingConfig
    }

    /// One (method, seed) to train, analyse and evaluate.
    public struct Run: Sendable, Equatable {
        public var method: String
        public var seed: UInt64
        public var training: TrainingConfig
        /// The run's folder name under the study's `runs/`: "METHOD-seedS".
        public var folderName: String { "\(method)-seed\(seed)" }
    }

    public var name: String
    public var methods: [Method]
    public var seeds: [UInt64]
    public var evaluation: EvaluationConfig
    public var analysis: AnalysisConfig

    /// Every run, method by method, seed by seed.
    public var runs: [Run] {
        methods.flatMap { method in
            seeds.map { seed in
                var training = method.training
                training.seeding.seed = seed
                return Run(method: method.name, seed: seed, training: training)
            }
        }
    }

    /// The top-level keys of a study file.
    static let sections = ["name", "training", "seeds", "methods", "evaluation", "analysis"]
    /// Training keys that the study sets itself.
    static let reservedTrainingKeys = ["seed": "seeds are the study's 'seeds' list"]

    /// Reads and checks a study file.
    ///
    /// - Throws: ``EDLCMError`` "FILE: line N: …" for an unreadable file, an unknown key, a value of the
    ///   wrong type or out of range, a method without a name or with a name used twice, seeds that are
    ///   negative, repeated or missing, or a preset that does not exist.
    public init(path: String) throws {
        let url = URL(fileURLWithPath: path)
        let data = try readFile(url, label: path, maxBytes: DocumentLimits.settings.maxBytes)
        let defaultName = url.deletingPathExtension().lastPathComponent
        try self.init(data: data, format: DocumentFormat(path: path), label: path, defaultName: defaultName)
    }

    /// Parses a study file held in memory; `label` names it in errors.
    public init(data: Data, format: DocumentFormat, label: String, defaultName: String) throws {
        let value = try Document.value(from: data, format: format, limits: .settings, label: label)
        let lines = Document.keyLines(data, format: format)
        func place(_ path: String) -> String { lines[path].map { "\(label): line \($0): " } ?? "\(label): " }
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
            let config = try settings(values, over: training, at: path, what: "method '\(methodName)'")
            methods.append(Method(name: methodName, training: config))
        }
        self.methods = methods
        evaluation = try settings(try section("evaluation"), over: EvaluationConfig(), at: "evaluation", what: "evaluation")
        analysis = try settings(try section("analysis"), over: AnalysisConfig(), at: "analysis", what: "analysis")
    }

    /// Names used as folder names: letters, digits, '-' and '_', 1 to 64 characters.
    static func isValidName(_ text: String) -> Bool {
        !text.isEmpty && text.count <= 64
            && text.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }
    }
}
