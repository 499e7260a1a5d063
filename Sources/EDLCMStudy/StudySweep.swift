import EDLCMCore
import EDLCMEvaluation
import EDLCMTraining
import Foundation

/// One method's sweep over its strength (`sweep:` in a study file's method): a training key set to
/// each value (`{adp-alpha: [0.5, 1, 2, 4]}`), or several keys multiplied by each factor
/// (`{scale: [0.25, 0.5, 1, 2], keys: [alpha, beta]}`, EDLCM's α and β together).
public struct StudySweep: Sendable, Equatable {
    /// The training keys a point changes.
    public var keys: [String]
    /// Whether a point multiplies the keys' values (`scale`) or sets the one key to the value.
    public var scales: Bool
    /// The values (or factors), in the file's order.
    public var values: [Double]

    public init(keys: [String], scales: Bool, values: [Double]) {
        self.keys = keys
        self.scales = scales
        self.values = values
    }

    /// The training settings of the point `value`: `base` with the key set to it, or with every key
    /// multiplied by it (unset per-dataset defaults are resolved first).
    ///
    /// - Throws: ``EDLCMError`` when a key is unknown, not a number, or the value breaks its rule.
    public func apply(_ value: Double, to base: TrainingConfig) throws -> TrainingConfig {
        let current = base.resolved.flattened
        var values: [String: JSONValue] = [:]
        for key in keys {
            let number: Double
            if scales {
                switch current[key] {
                case let .number(x)?: number = x * value
                case let .integer(x)?: number = Double(x) * value
                default: throw EDLCMError("sweep: '\(key)' is not a numeric training setting, so it cannot be scaled")
                }
            } else {
                number = value
            }
            // Written as a file would write it: whole numbers as integers (which decimal settings take too).
            values[key] = number == number.rounded() && abs(number) < 1e15 ? .integer(Int64(number)) : .number(number)
        }
        let config = try base.merging(values) { _ in "sweep: " }
        try config.validate()
        return config
    }

    /// The label of a point in its run's folder name: "x0.5" for a factor, "adp-alpha-2" for a value.
    public func label(_ value: Double) -> String {
        scales ? "x\(value.argument)" : "\(keys[0])-\(value.argument)"
    }

    /// How the sweep reads in a report: "α, β × 0.25 … 2" or "adp-alpha 0.5 … 4".
    public var summary: String {
        let range = values.map(\.argument).joined(separator: ", ")
        return scales ? "\(keys.joined(separator: ", ")) × {\(range)}" : "\(keys[0]) ∈ {\(range)}"
    }
}

/// The study-level settings of the sweeps (`sweep:` at the top of a study file): the seed every
/// point is trained with, the one evaluation every point is measured by (on the validation split),
/// and the rule that picks each method's operating point.
///
/// ```yaml
/// sweep:
///   seed: 0                        # default: the study's first seed
///   evaluation: {attacks: [apgd-ce], eps: [0.1], steps: 50, samples: 1000}
///   select: {within: 2, of: plain} # the most robust point within 2 points of plain's accuracy
/// ```
public struct StudySweepSettings: Sendable, Equatable {
    public var seed: UInt64
    /// `edlcm evaluate` settings of every sweep point; always on the validation split.
    public var evaluation: EvaluationConfig
    /// The method whose validation accuracy the rule is relative to.
    public var reference: String
    /// How many points (percent) of validation accuracy below the reference a point may lose.
    public var within: Double

    /// The rule in words.
    public var ruleText: String {
        "the most robust point (worst case at ε = the sweep's largest) whose validation accuracy is within \(within.argument) points of \(reference)'s; ties to the more accurate; none within: the most accurate"
    }
}

/// A point of a method's front: its value, its run, and its accuracy on the sweep's validation images.
public struct StudySweepPoint: Codable, Equatable, Sendable {
    public var method: String
    /// The swept value or factor (nil for a method without a sweep).
    public var value: Double?
    /// The run's folder name under `sweep/`.
    public var run: String
    public var cleanAccuracy: Double
    /// Worst-case robust accuracy at each of `epsilons`.
    public var robustAccuracy: [Double]
    public var epsilons: [Double]

    enum CodingKeys: String, CodingKey {
        case method, value, run, epsilons
        case cleanAccuracy = "clean_accuracy", robustAccuracy = "robust_accuracy"
    }
}

/// The operating point of every method chosen from the sweep (`sweep.json` in a study folder).
public struct StudySweepSelection: Codable, Equatable, Sendable {
    public var rule: String
    public var reference: String
    public var referenceAccuracy: Double
    public var points: [StudySweepPoint]
    /// Each swept method's chosen value.
    public var chosen: [String: Double]

    enum CodingKeys: String, CodingKey {
        case rule, reference, points, chosen
        case referenceAccuracy = "reference_accuracy"
    }

    /// Applies the rule of `settings` to every method's points (the reference method's first point
    /// gives the reference accuracy).
    ///
    /// - Throws: ``EDLCMError`` when the reference method has no point.
    public init(points: [StudySweepPoint], settings: StudySweepSettings) throws {
        guard let reference = points.first(where: { $0.method == settings.reference }) else {
            throw EDLCMError("sweep: no point of the reference method '\(settings.reference)'")
        }
        rule = settings.ruleText
        self.reference = settings.reference
        referenceAccuracy = reference.cleanAccuracy
        self.points = points
        var chosen: [String: Double] = [:]
        let threshold = reference.cleanAccuracy - settings.within / 100 - 1e-12
        var methods: [String] = []
        for point in points where !methods.contains(point.method) { methods.append(point.method) }
        for method in methods {
            let front = points.filter { $0.method == method }
            guard front.contains(where: { $0.value != nil }) else { continue }
            let eligible = front.filter { $0.cleanAccuracy >= threshold }
            let best: StudySweepPoint?
            if eligible.isEmpty {
                best = front.max { $0.cleanAccuracy < $1.cleanAccuracy }
            } else {
                best = eligible.max { a, b in
                    let (ra, rb) = (a.robustAccuracy.last ?? 0, b.robustAccuracy.last ?? 0)
                    return ra != rb ? ra < rb : a.cleanAccuracy < b.cleanAccuracy
                }
            }
            if let value = best?.value { chosen[method] = value }
        }
        self.chosen = chosen
    }
}
