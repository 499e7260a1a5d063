import EDLCMCore
import EDLCMModels
import Foundation
import Torch

/// The L2 attack of Carlini and Wagner, "Towards Evaluating the Robustness of Neural Networks"
/// (IEEE S&P 2017): a minimum-norm attack that optimises, in the change of variables
/// x' = (tanh(w) + 1)/2 which keeps pixels in [0, 1],
///
///     minimise ‖x' − x‖₂² + c·f(x'),  f(x') = max(Z_y − maxᵢ≠y Zᵢ, −κ)
///     (targeted: max(maxᵢ≠t Zᵢ − Z_t, −κ)),
///
/// with Adam, and a binary search over c per example (start 10⁻³; a success halves the interval
/// toward it, a failure multiplies c by 10 until an upper bound exists), aborting a search step
/// early when the loss stops decreasing. It returns, per example, the smallest successful
/// perturbation found; ``Attack/perturb(_:labels:target:context:)`` projects it onto the ε-ball,
/// so at a given ε an example counts as broken only if a perturbation of norm ≤ ε was found.
/// Z is the target's loss input (logits, or log-probabilities for the averaged-softmax target).
/// Defined for L2 only.
public struct CarliniWagnerL2: Attack {
    /// The settings, as the authors' reference code sets them.
    public struct Configuration: Codable, Sendable, Equatable {
        /// Binary search steps over c (the paper: 9).
        public var binarySearchSteps: Int
        /// Adam iterations per search step (the reference code: 10 000).
        public var maxIterations: Int
        /// Adam's learning rate (the reference code: 0.01).
        public var learningRate: Double
        /// The starting c (the reference code: 10⁻³).
        public var initialConstant: Double
        /// κ, the confidence margin (the paper: 0).
        public var confidence: Double
        /// Stop a search step when the loss has not fallen by 0.01 % over a tenth of the iterations.
        public var abortEarly: Bool

        public init(
            binarySearchSteps: Int = 9, maxIterations: Int = 10_000, learningRate: Double = 0.01,
            initialConstant: Double = 1e-3, confidence: Double = 0, abortEarly: Bool = true
        ) {
            self.binarySearchSteps = binarySearchSteps
            self.maxIterations = maxIterations
            self.learningRate = learningRate
            self.initialConstant = initialConstant
            self.confidence = confidence
            self.abortEarly = abortEarly
        }
    }

    public let configuration: Configuration

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
    }

    public var displayName: String { "CW-L2" }
    public var supportedNorms: Set<PerturbationNorm> { [.l2] }

    public func run(_ images: Tensor, labels: Tensor, target: any AttackTarget, context: AttackContext) -> Tensor {
        let c = configuration
        let count = images.shape[0]
        let targets = context.targets
        // w₀ = atanh(2x − 1), kept finite at the bounds.
        let w0 = withoutGradients { () -> Tensor in
            let s = (images * 2 - 1) * 0.999999
            return ((1 + s) / (1 - s)).log() * 0.5
        }
        var lower = [Double](repeating: 0, count: count)
        var upper = [Double](repeating: 1e10, count: count)
        var constants = [Double](repeating: c.initialConstant, count: count)
        var bestDistance = [Float](repeating: .infinity, count: count)
        var best: [Tensor?] = Array(repeating: nil, count: count)
        let abortInterval = Swift.max(c.maxIterations / 10, 1)
        let repeatLast = c.binarySearchSteps >= 10

        for searchStep in 0..<c.binarySearchSteps {
            if repeatLast && searchStep == c.binarySearchSteps - 1 { constants = upper.map { Swift.min($0, 1e10) } }
            let constantTensor = Tensor(constants.map(Float.init), on: images.device)
            var modifier = Tensor.zeros(images.shape, on: images.device)
            var firstMoment = Tensor.zeros(images.shape, on: images.device)
            var secondMoment = Tensor.zeros(images.shape, on: images.device)
            var succeededThisStep = [Bool](repeating: false, count: count)
            var previousLoss = Double.infinity
            for iteration in 0..<c.maxIterations {
                let (adversarial, distances, totalLoss, gradient, decision) = withGradients {
                    () -> (Tensor, Tensor, Double, Tensor, Tensor) in
                    let w = modifier.requiringGrad()
                    let adversarial = ((w0 + w).tanh() + 1) * 0.5
                    let distances = (adversarial - images).squared().flattened(startAxis: 1).sum(alongAxes: [1])
                    let output = target.forward(adversarial)
                    let margins = output.lossInputs.map { scores -> Tensor in
                        let value =
                            targets.map { bestOtherScore(scores, excluding: $0) - classScore(scores, $0) }
                            ?? (classScore(scores, labels) - bestOtherScore(scores, excluding: labels))
                        return value.clamped(min: -c.confidence)
                    }
                    let f = margins.dropFirst().reduce(margins[0], +)
                    let loss = (distances + constantTensor * f).sum()
                    let gradient = grad(of: loss, withRespectTo: w)
                    return (adversarial.detached(), distances.detached(), loss.item(), gradient, output.decision.detached())
                }
                withoutGradients {
                    // Adam (β₁ 0.9, β₂ 0.999, ε 10⁻⁸), as in the reference code's TensorFlow optimiser.
                    let step = Double(iteration + 1)
                    firstMoment = firstMoment * 0.9 + gradient * 0.1
                    secondMoment = secondMoment * 0.999 + gradient.squared() * 0.001
                    let correctedFirst = firstMoment / (1 - Foundation.pow(0.9, step))
                    let correctedSecond = secondMoment / (1 - Foundation.pow(0.999, step))
                    modifier = modifier - correctedFirst / (correctedSecond.sqrt() + 1e-8) * c.learningRate
                }
                let success = succeeded(decision, labels: labels, targets: targets, confidence: c.confidence)
                let distanceValues = distances.scalars(as: Float.self)
                for index in 0..<count where success[index] {
                    succeededThisStep[index] = true
                    if distanceValues[index] < bestDistance[index] {
                        bestDistance[index] = distanceValues[index]
                        best[index] = adversarial[index].cloned()
                    }
                }
                if c.abortEarly && iteration % abortInterval == 0 {
                    if totalLoss > previousLoss * 0.9999 { break }
                    previousLoss = totalLoss
                }
            }
            for index in 0..<count {
                if succeededThisStep[index] {
                    upper[index] = Swift.min(upper[index], constants[index])
                    if upper[index] < 1e9 { constants[index] = (lower[index] + upper[index]) / 2 }
                } else {
                    lower[index] = Swift.max(lower[index], constants[index])
                    constants[index] = upper[index] < 1e9 ? (lower[index] + upper[index]) / 2 : constants[index] * 10
                }
            }
        }
        return Tensor.stack(best.enumerated().map { $0.element ?? images[$0.offset] }, alongAxis: 0)
    }

    /// Success with the confidence margin: the best other class beats the true one by κ
    /// (targeted: the target beats every other class by κ), judged on the decision scores.
    private func succeeded(_ decision: Tensor, labels: Tensor, targets: Tensor?, confidence: Double) -> [Bool] {
        let basic = attackSucceeded(decision, labels: labels, targets: targets)
        guard confidence > 0 else { return basic }
        let margin =
            targets.map { classScore(decision, $0) - bestOtherScore(decision, excluding: $0) }
            ?? (bestOtherScore(decision, excluding: labels) - classScore(decision, labels))
        return zip(basic, (margin .>= confidence).scalars(as: Bool.self)).map { $0 && $1 }
    }
}

extension CarliniWagnerL2.Configuration: AttackConfiguration {
    public func validate() throws {
        let check = SettingChecks(attack: "CW-L2")
        try check("binary search steps", binarySearchSteps, .atLeast(1))
        try check("iterations", maxIterations, .atLeast(1))
        try check("learning rate", learningRate, .positive)
        try check("initial constant", initialConstant, .positive)
        try check("confidence", confidence, .nonNegative)
    }
}
