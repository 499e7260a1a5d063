import EDLCMCore
import EDLCMModels
import Foundation

/// The attacks an evaluation can run, by the names used on the command line and in results.
public enum AttackName: String, SettingChoice {
    /// ``FGSM``.
    case fgsm
    /// ``BIM``.
    case bim
    /// ``PGD`` with cross-entropy.
    case pgd
    /// ``MIM``.
    case mim
    /// ``PGD`` with the Carlini–Wagner margin loss.
    case pgdCW = "pgd-cw"
    /// ``CarliniWagnerL2``.
    case cwL2 = "cw-l2"
    /// ``APGD`` with cross-entropy.
    case apgdCE = "apgd-ce"
    /// ``APGD`` with the DLR loss.
    case apgdDLR = "apgd-dlr"
    /// APGD-T: ``APGD`` with the targeted DLR loss toward each of the 9 runner-up classes (AutoAttack).
    case apgdT = "apgd-t"
    /// ``FAB`` (FAB-T): the targeted minimum-norm boundary attack toward each of the 9 runner-up classes.
    case fabT = "fab-t"
    /// ``MORA``, the model-reweighing attack on ensembles (its standard version: 5 mixing weights, then
    /// 9 targeted passes).
    case mora
    /// ``SquareAttack`` (score-based black-box).
    case square
    /// M-PGD: ``MIM`` with a random start (transfer).
    case mpgd = "m-pgd"
    /// ``DiverseInputsFGSM`` (transfer).
    case diFGSM = "di2-fgsm"
    /// M-DI²-FGSM: ``DiverseInputsFGSM`` with momentum (transfer; DVERGE's black-box protocol).
    case mdiFGSM = "m-di2-fgsm"
    /// ``SkipGradientMethod`` (transfer from residual networks only).
    case sgm

    /// Whether the attack reads the model's gradients (white-box); false for Square.
    public var usesGradients: Bool { self != .square }

    /// Whether the attack runs on an objective: MORA weighs the members against the ensemble's
    /// averaged softmax or averaged logits, so it skips the sum of member losses.
    public func runs(on objective: TargetObjective) -> Bool {
        self != .mora || objective == .probabilities || objective == .logits
    }

    /// The attacks meant for crafting on surrogates (transfer attacks).
    public static let transferAttacks: [AttackName] = [.mpgd, .diFGSM, .mdiFGSM, .sgm]

    /// Whether the attack starts from a random point, so that restarts differ.
    public var startsAtRandom: Bool {
        switch self {
        case .pgd, .pgdCW, .apgdCE, .apgdDLR, .apgdT, .mora, .mpgd: true
        default: false
        }
    }

    /// Builds the attack with its paper's configuration, overridden by an evaluation's budget.
    ///
    /// `budget.steps` sets the iterations of every iterative attack (CW-L2: 10× as many Adam
    /// iterations per binary-search step), `budget.restarts` the restarts of PGD, PGD-CW, APGD,
    /// APGD-T, FAB-T and M-PGD, and `budget.queries` the Square attack's query budget. A nil field keeps the
    /// paper's value.
    public func makeAttack(_ budget: AttackBudget = AttackBudget()) -> any Attack {
        switch self {
        case .fgsm:
            return FGSM()
        case .bim:
            return BIM(BIM.Configuration(steps: budget.steps))
        case .pgd, .pgdCW:
            return PGD(
                budget.applied(
                    to: PGD.Configuration(loss: self == .pgd ? .crossEntropy : .margin), steps: \.steps,
                    restarts: \.restarts))
        case .mim:
            return MIM(budget.applied(to: MIM.Configuration(), steps: \.steps))
        case .mpgd:
            return MIM(
                budget.applied(
                    to: MIM.Configuration(steps: 50, stepSizeFactor: 2.5, randomStart: true), steps: \.steps,
                    restarts: \.restarts, loss: \.loss))
        case .cwL2:
            var configuration = CarliniWagnerL2.Configuration()
            if let steps = budget.steps { configuration.maxIterations = 10 * steps }
            return CarliniWagnerL2(configuration)
        case .apgdCE, .apgdDLR, .apgdT:
            let configuration = APGD.Configuration(
                loss: self == .apgdCE ? .crossEntropy : .dlr, targetClasses: self == .apgdT ? 9 : nil)
            return APGD(budget.applied(to: configuration, steps: \.steps, restarts: \.restarts))
        case .fabT:
            return FAB(budget.applied(to: FAB.Configuration(), steps: \.steps, restarts: \.restarts))
        case .mora:
            return MORA(budget.applied(to: MORA.Configuration(), steps: \.steps, restarts: \.restarts))
        case .square:
            var configuration = SquareAttack.Configuration()
            if let queries = budget.queries { configuration.queries = queries }
            configuration.schedule = budget.squareSchedule
            return SquareAttack(configuration)
        case .diFGSM, .mdiFGSM:
            return DiverseInputsFGSM(
                DiverseInputsFGSM.Configuration(
                    steps: budget.steps, decay: self == .mdiFGSM ? 1 : 0, loss: budget.loss ?? .crossEntropy))
        case .sgm:
            return SkipGradientMethod(budget.applied(to: SkipGradientMethod.Configuration(), steps: \.steps, loss: \.loss))
        }
    }
}

/// An evaluation's overrides of the attacks' paper settings; nil keeps the paper's value.
public struct AttackBudget: Codable, Sendable, Equatable {
    public var steps: Int?
    public var restarts: Int?
    public var queries: Int?
    /// The loss of the transfer attacks (M-PGD, DI²-FGSM, M-DI²-FGSM, SGM).
    public var loss: AttackLoss?
    /// Square's schedule of p (nil: the rescaled one).
    public var squareSchedule: SquareSchedule?

    public init(
        steps: Int? = nil, restarts: Int? = nil, queries: Int? = nil, loss: AttackLoss? = nil,
        squareSchedule: SquareSchedule? = nil
    ) {
        self.steps = steps
        self.restarts = restarts
        self.queries = queries
        self.loss = loss
        self.squareSchedule = squareSchedule
    }
}

extension AttackBudget {
    /// `configuration` with this budget's steps, restarts and loss written into the fields named,
    /// where the budget sets them.
    func applied<Configuration>(
        to configuration: Configuration, steps: WritableKeyPath<Configuration, Int>,
        restarts: WritableKeyPath<Configuration, Int>? = nil, loss: WritableKeyPath<Configuration, AttackLoss>? = nil
    ) -> Configuration {
        var configuration = configuration
        if let value = self.steps { configuration[keyPath: steps] = value }
        if let restarts, let value = self.restarts { configuration[keyPath: restarts] = value }
        if let loss, let value = self.loss { configuration[keyPath: loss] = value }
        return configuration
    }
}
