import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels

/// The settings of the baseline defenses that their papers (or the authors' code) give per
/// dataset. ``TrainingConfig`` uses them where a run leaves the setting unset, and records the
/// resolved values in `config.json`. docs/baselines.md gives the source of every number.
public struct PaperDefaults: Equatable, Sendable {
    /// TRS λ_a: weight of the gradient-similarity term.
    public var trsLambdaA: Double
    /// TRS λ_b: weight of the smoothness term.
    public var trsLambdaB: Double
    /// TRS δ₀ and δ_M: the radius of the smoothness batch's search in the first and (in the limit)
    /// the last epoch.
    public var trsDeltaStart: Double
    public var trsDeltaEnd: Double
    /// DVERGE's distillation radius and step.
    public var dvergeEps: Double
    public var dvergeStep: Double
    /// Adversarial training: radius, step and number of steps.
    public var advEps: Double
    public var advStep: Double
    public var advSteps: Int

    /// The defaults for a dataset: the CIFAR settings for CIFAR-10/100 and Tiny ImageNet, the
    /// MNIST settings for MNIST, and for Fashion-MNIST the MNIST settings of TRS and DVERGE and the
    /// CIFAR recipe of adversarial training at ε = 0.1 (no paper gives one; see docs/baselines.md).
    public init(for dataset: DatasetName) {
        switch dataset {
        case .cifar10, .cifar100, .tinyImageNet:
            trsLambdaA = 20
            trsLambdaB = 2.5
            trsDeltaStart = 0.01
            trsDeltaEnd = 0.03
            dvergeEps = 0.07
            dvergeStep = 0.007
            advEps = 8.0 / 255
            advStep = 2.0 / 255
            advSteps = 10
        case .mnist, .fashionMNIST:
            trsLambdaA = 10
            trsLambdaB = 10
            trsDeltaStart = 0.1
            trsDeltaEnd = 0.2
            dvergeEps = 0.35
            dvergeStep = 0.035
            if dataset == .mnist {
                advEps = 0.3
                advStep = 0.01
                advSteps = 40
            } else {
                advEps = 0.1
                advStep = 0.025
                advSteps = 10
            }
        }
    }
}

extension PaperDefaults {
    private static let cifar = PaperDefaults(for: .cifar10)
    private static let mnist = PaperDefaults(for: .mnist)
    private static let fashion = PaperDefaults(for: .fashionMNIST)

    /// "a for CIFAR-10/100 and Tiny ImageNet, b for MNIST and Fashion-MNIST": a default that
    /// differs per dataset, for help texts.
    static func perDataset(_ value: (PaperDefaults) -> Double) -> String {
        "\(value(cifar).argument) for CIFAR-10/100 and Tiny ImageNet, \(value(mnist).argument) for MNIST and Fashion-MNIST"
    }

    static var dvergeStepText: String { "\((cifar.dvergeStep / cifar.dvergeEps).argument) × --dverge-eps" }

    static var advEpsText: String {
        "\((cifar.advEps * 255).argument)/255 for CIFAR-10/100 and Tiny ImageNet, \(mnist.advEps.argument) for MNIST, \(fashion.advEps.argument) for Fashion-MNIST"
    }

    static var advStepText: String {
        "ε/\((cifar.advEps / cifar.advStep).argument), ε/\((mnist.advEps / mnist.advStep).argument) for MNIST"
    }

    static var advStepsText: String { "\(cifar.advSteps), \(mnist.advSteps) for MNIST" }
}
