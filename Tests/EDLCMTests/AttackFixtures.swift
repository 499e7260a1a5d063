import Foundation
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMBenchmark
@testable import EDLCMCore
@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMEvaluation
@testable import EDLCMModels
@testable import EDLCMReport
@testable import EDLCMTraining

/// Small, fast, deterministic models and data for attack and evaluation tests.
///
/// The data: 1×8×8 images in 4 classes; class k brightens quadrant k (0.65 against 0.35) under
/// uniform noise of ±0.15. The members: ``TinyCNN``s initialised from a ``SeededGenerator`` (not
/// libtorch's shared generator, which parallel tests would race on) and trained full-batch with
/// SGD, so every test sees the same weights.
enum AttackFixtures {
    static let spec = ModelSpec(architecture: .cnn, channels: 1, height: 8, width: 8, classCount: 4, mean: [0.5], std: [0.25])

    /// `count` images and labels (classes in turn), from `seed`.
    static func dataset(count: Int, seed: UInt64) -> (images: Tensor, labels: Tensor) {
        var generator = SeededGenerator(seed: seed)
        var pixels = [Float]()
        var labels = [Int64]()
        for index in 0..<count {
            let label = index % 4
            for row in 0..<8 {
                for column in 0..<8 {
                    let quadrant = (row / 4) * 2 + column / 4
                    let base: Float = quadrant == label ? 0.65 : 0.35
                    pixels.append(base + Float(generator.nextUnit() * 0.3 - 0.15))
                }
            }
            labels.append(Int64(label))
        }
        return (Tensor(pixels, shape: [count, 1, 8, 8]), Tensor(labels))
    }

    private static let lock = NSLock()
    nonisolated(unsafe) private static var trained: [UInt64: [String: Tensor]] = [:]

    /// A trained member (cached by seed; each call returns a fresh network with those weights).
    static func member(seed: UInt64) -> TinyCNN {
        let network = TinyCNN()
        lock.lock()
        let cached = trained[seed]
        lock.unlock()
        let weights = cached ?? train(seed: seed)
        if cached == nil {
            lock.lock()
            trained[seed] = weights
            lock.unlock()
        }
        try! network.loadState(weights, source: "fixture")
        network.eval()
        return network
    }

    /// A plain ensemble of trained members.
    static func ensemble(seeds: [UInt64] = [1, 2, 3], output: EnsembleOutput = .averagedProbabilities) -> Ensemble {
        let ensemble = Ensemble(members: seeds.map { member(seed: $0) }, output: output)
        ensemble.eval()
        return ensemble
    }

    private static func train(seed: UInt64) -> [String: Tensor] {
        let network = TinyCNN()
        var generator = SeededGenerator(seed: seed &+ 0xF1C)
        withoutGradients {
            for (_, parameter) in network.namedParameters() {
                let fanIn = parameter.rank > 1 ? parameter.shape.dropFirst().reduce(1, *) : 64
                let bound = 1 / Double(fanIn).squareRoot()
                let values = (0..<parameter.scalarCount).map { _ in Float((generator.nextUnit() * 2 - 1) * bound) }
                parameter.copy_(Tensor(values, shape: parameter.shape))
            }
        }
        let (images, labels) = dataset(count: 256, seed: 100 + seed)
        let optimizer = SGD(parameters: network.parameters, learningRate: 0.05, momentum: 0.9)
        network.train()
        for _ in 0..<150 {
            let loss = crossEntropy(logits: network(images), labels: labels)
            optimizer.zeroGrad()
            loss.backward()
            optimizer.step()
        }
        return Dictionary(uniqueKeysWithValues: network.stateTensors().map { ($0.name, $0.tensor.detached().cloned()) })
    }
}

/// conv 3×3 (1→8, padding 1), ReLU, max-pool 2, linear (8·4·4 → 4), after normalisation by the
/// fixture spec's mean and std: a small nonlinear classifier that keeps tests fast.
final class TinyCNN: Classifier {
    let conv = Conv2d(inChannels: 1, outChannels: 8, kernelSize: 3, padding: 1)
    let fc = Linear(inputCount: 128, outputCount: 4)
    var isTraining = true

    var spec: ModelSpec { AttackFixtures.spec }
    var children: [(name: String, module: any Module)] { [("conv", conv), ("fc", fc)] }

    func callAsFunction(_ input: Tensor) -> Tensor {
        let x = maxPool2d(conv((input - 0.5) * 4).relu(), kernelSize: (2, 2))
        return fc(x.flattened(startAxis: 1))
    }
}

/// A classifier built to mask gradients by shattering them: it rounds its input down to 1/levels
/// steps before the wrapped network, so the input gradient is zero almost everywhere while the
/// decision is nearly unchanged.
final class RoundingClassifier: Classifier {
    let base: TinyCNN
    let levels: Double
    var isTraining = false

    init(base: TinyCNN, levels: Double = 8) {
        self.base = base
        self.levels = levels
    }

    var spec: ModelSpec { base.spec }
    var children: [(name: String, module: any Module)] { [("base", base)] }

    func callAsFunction(_ input: Tensor) -> Tensor {
        base((input * levels).floor() / levels)
    }
}

/// A classifier built to mask gradients stochastically: its outputs are the wrapped network's,
/// but its input gradient is dominated by a fresh random direction at every call (a term whose
/// value is zero and whose gradient is `scale`·R, R ~ N(0, 1) per call), as with randomised defenses.
final class NoisyGradientClassifier: Classifier {
    let base: TinyCNN
    let scale: Double
    var isTraining = false
    private var generator: SeededGenerator

    init(base: TinyCNN, scale: Double = 100, seed: UInt64 = 7) {
        self.base = base
        self.scale = scale
        generator = SeededGenerator(seed: seed)
    }

    var spec: ModelSpec { base.spec }
    var children: [(name: String, module: any Module)] { [("base", base)] }

    func callAsFunction(_ input: Tensor) -> Tensor {
        let logits = base(input)
        let features = input.flattened(startAxis: 1)
        let count = features.shape[1] * spec.classCount
        let weights = Tensor(
            (0..<count).map { _ in Float(generator.nextGaussian() * scale) }, shape: [features.shape[1], spec.classCount])
        let decoy = features.matmul(weights)
        return logits + (decoy - decoy.detached())
    }
}

/// Runs an attack on an ensemble's deployed output with seeds 0..<N.
func runAttack(
    _ attack: any Attack, on ensemble: Ensemble, images: Tensor, labels: Tensor, epsilon: Double,
    norm: PerturbationNorm = .linf, objective: TargetObjective? = nil, targets: Tensor? = nil, stopOnSuccess: Bool = true
) throws -> AttackOutput {
    let target = objective.map { EnsembleTarget(ensemble: ensemble, objective: $0) } ?? EnsembleTarget.deployed(ensemble)
    let context = AttackContext(
        epsilon: epsilon, norm: norm, targets: targets, seeds: (0..<labels.shape[0]).map(UInt64.init),
        stopOnSuccess: stopOnSuccess)
    return try attack.perturb(images, labels: labels, target: target, context: context)
}

/// The fraction of true values.
func rate(_ values: [Bool]) -> Double {
    values.isEmpty ? 0 : Double(values.filter { $0 }.count) / Double(values.count)
}

/// A classifier built to mask gradients by shattering them deterministically: it feeds the wrapped
/// network x + a·sin(ωx), which barely changes its decisions (|a| ≤ 0.01) but makes the input
/// gradient oscillate in sign with period 2π/ω, so small steps get trapped in local optima.
final class ShatteredClassifier: Classifier {
    let base: TinyCNN
    let frequency: Double
    let amplitude: Double
    var isTraining = false

    init(base: TinyCNN, period: Double = 0.02, slope: Double = 3) {
        self.base = base
        frequency = 2 * Double.pi / period
        amplitude = slope / frequency
    }

    var spec: ModelSpec { base.spec }
    var children: [(name: String, module: any Module)] { [("base", base)] }

    func callAsFunction(_ input: Tensor) -> Tensor {
        base(input + (input * frequency).sin() * amplitude)
    }
}
