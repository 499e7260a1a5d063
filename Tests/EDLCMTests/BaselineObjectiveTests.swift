import Foundation
import TestSupport
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

/// A float64 linear classifier z = W·x + b on flattened inputs: its input gradients and features
/// (its logits, the one feature layer) are known in closed form. It records the training mode of
/// every call.
final class LinearClassifier: Classifier {
    let spec: ModelSpec
    let weight: Tensor
    let bias: Tensor
    var isTraining = true
    private(set) var modes: [Bool] = []

    init(weight: [[Double]], bias: [Double]? = nil) {
        let classes = weight.count, inputs = weight[0].count
        spec = ModelSpec(architecture: .cnn, channels: 1, height: 1, width: inputs, classCount: classes, mean: [0], std: [1])
        self.weight = Tensor(weight.flatMap { $0 }, shape: [classes, inputs]).requiringGrad()
        self.bias = Tensor(bias ?? Array(repeating: 0, count: classes), shape: [classes]).requiringGrad()
    }

    var localParameters: [NamedTensor] { [("weight", weight), ("bias", bias)] }

    func callAsFunction(_ input: Tensor) -> Tensor { features(input, at: 0) }

    var featureLayerCount: Int { 1 }

    func features(_ input: Tensor, at layer: Int) -> Tensor {
        modes.append(isTraining)
        return linear(input.flattened(startAxis: 1), weight: weight, bias: bias)
    }
}

/// Records what it was called with, then returns the plain ensemble's loss.
final class RecordingObjective: EnsembleObjective {
    private(set) var batches: [Batch] = []
    private(set) var modes: [Bool] = []

    func loss(ensemble: Ensemble, batch: Batch, context: TrainingContext) -> ObjectiveOutput {
        batches.append(batch)
        modes.append(ensemble.isTraining)
        return BaselineObjective().loss(ensemble: ensemble, batch: batch, context: context)
    }
}

let firstStep = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
private let ln2 = Foundation.log(2.0)

/// Inputs x = 0 of two pixels, shaped as images [B, 1, 1, 2].
private func zeroImages(_ count: Int) -> Tensor {
    Tensor.zeros([count, 1, 1, 2], dtype: .float64)
}

private func labels(_ values: [Int64]) -> Tensor {
    Tensor(values)
}

/// Three members that predict uniformly at x = 0, so that for label 0 each input gradient of the
/// CE is Wᵀ(p − e₀) = (W[1] − W[0]) / 2: (−½, ½), (½, −½) and (−½, −½). Pairwise cosines: −1
/// for the first two, 0 for the others; every squared norm is ½.
private func gradientMembers() -> [LinearClassifier] {
    [
        LinearClassifier(weight: [[1, 0], [0, 1]]), LinearClassifier(weight: [[0, 1], [1, 0]]),
        LinearClassifier(weight: [[1, 1], [0, 0]]),
    ]
}

@Suite("Baseline objectives: hand-computed values", .exclusiveRandomGenerator)
struct BaselineObjectiveTests {
    @Test func adpMatchesAHandComputation() {
        // Bias-only members: softmax(log p) = p, for every input.
        let zero = [[0.0, 0], [0, 0], [0, 0]]
        let a = LinearClassifier(weight: zero, bias: [0.5, 0.25, 0.25].map { Foundation.log($0) })
        let b = LinearClassifier(weight: zero, bias: [0.25, 0.5, 0.25].map { Foundation.log($0) })
        let ensemble = Ensemble(members: [a, b])
        let batch = Batch(images: zeroImages(2), labels: labels([0, 2]))
        let output = ADPObjective(options: ADPOptions(alpha: 2, beta: 0.5)).loss(
            ensemble: ensemble, batch: batch, context: firstStep)
        // CE: member a pays ln 2 (y = 0) and 2 ln 2 (y = 2), member b 2 ln 2 twice; batch means summed.
        let ce = 1.5 * ln2 + 2 * ln2
        // p̄ = (3/8, 3/8, 1/4) for both examples: H = ¾ ln(8/3) + ¼ ln 4.
        let entropy = 0.75 * Foundation.log(8.0 / 3) + 0.25 * Foundation.log(4.0)
        // y = 0: non-true predictions (¼, ¼) and (½, ¼), unit (1, 1)/√2 and (2, 1)/√5, cos = 3/√10.
        // y = 2: (½, ¼) and (¼, ½), unit (2, 1)/√5 and (1, 2)/√5, cos = 4/5.
        // det([[1, c], [c, 1]] + εI) = (1 + ε)² − c², ε = 10⁻⁶.
        let diagonal = (1 + 1e-6) * (1 + 1e-6)
        let logDet = (Foundation.log(diagonal - 0.9) + Foundation.log(diagonal - 0.64)) / 2
        #expect(output.terms.map(\.name) == ["ce", "entropy", "log_det"])
        #expect(output.terms.map(\.weight) == [1, -2, -0.5])
        assertClose(output.terms.map { $0.value.item() }, [ce, entropy, logDet], rtol: 1e-12)
        assertClose([output.total.item()], [ce - 2 * entropy - 0.5 * logDet], rtol: 1e-12)
        output.total.backward()
        #expect(ensemble.parameters.allSatisfy { $0.grad.map { $0.isFinite().all().item() == 1 } ?? false })
    }

    @Test func adpStaysFiniteForIdenticalMembers() {
        let member = { LinearClassifier(weight: [[0.0, 0], [0, 0], [0, 0]], bias: [0.1, 0.2, 0.3]) }
        let ensemble = Ensemble(members: [member(), member(), member()])
        let output = ADPObjective(options: ADPOptions(alpha: 2, beta: 0.5)).loss(
            ensemble: ensemble, batch: Batch(images: zeroImages(1), labels: labels([1])), context: firstStep)
        // Three equal unit vectors: G = 11ᵀ + εI has eigenvalues 3 + ε, ε, ε.
        assertClose([output.terms[2].value.item()], [Foundation.log((3 + 1e-6) * 1e-12)], rtol: 1e-6)
    }

    @Test func galIsTheLogSumExpOfPairwiseGradientCosines() {
        let members = gradientMembers()
        let three = GALObjective(lambda: 0.5, gradients: .perExample).loss(
            ensemble: Ensemble(members: members), batch: Batch(images: zeroImages(1), labels: labels([0])), context: firstStep)
        #expect(three.terms.map(\.name) == ["ce", "coherence"])
        #expect(three.terms.map(\.weight) == [1, 0.5])
        // Uniform predictions: CE = ln 2 per member. Cosines −1, 0, 0: log(e⁻¹ + 2).
        let coherence = Foundation.log(Foundation.exp(-1.0) + 2)
        assertClose(three.terms.map { $0.value.item() }, [3 * ln2, coherence], rtol: 1e-12)
        assertClose([three.total.item()], [3 * ln2 + 0.5 * coherence], rtol: 1e-12)
        // The DVERGE repository's form averages the cross-entropies.
        let averaged = GALObjective(lambda: 0.5, crossEntropy: .mean, gradients: .perExample).loss(
            ensemble: Ensemble(members: members), batch: Batch(images: zeroImages(1), labels: labels([0])), context: firstStep)
        #expect(averaged.terms.map(\.weight) == [1.0 / 3, 0.5])
        assertClose([averaged.total.item()], [ln2 + 0.5 * coherence], rtol: 1e-12)
        // Two members: the log-sum-exp of one cosine is the cosine.
        let two = GALObjective(lambda: 0.5, gradients: .perExample).loss(
            ensemble: Ensemble(members: Array(members[0..<2])), batch: Batch(images: zeroImages(1), labels: labels([0])),
            context: firstStep)
        assertClose([two.terms[1].value.item()], [-1], rtol: 1e-12)
        // Per-example cosines of a hand-made set: log(e^{1/√2} + 1 + e^{1/√2}) and log(e⁻¹ + 1 + 1).
        let a = Tensor([1.0, 0, 0, 2], shape: [2, 2]), b = Tensor([1.0, 1, 0, -2], shape: [2, 2]),
            c = Tensor([0.0, 1, 3, 0], shape: [2, 2])
        let r = 1 / Foundation.sqrt(2.0)
        let expected = (Foundation.log(2 * Foundation.exp(r) + 1) + Foundation.log(Foundation.exp(-1.0) + 2)) / 2
        assertClose(GALObjective.coherence([a, b, c]), [expected], rtol: 1e-12)
    }

    @Test func inputGradientsArePerExampleWhateverTheBatchSize() {
        let members = gradientMembers()
        for count in [1, 4] {
            let input = zeroImages(count).requiringGrad()
            let gradients = HessianProbe.inputGradients(
                of: members, at: input, labels: labels(Array(repeating: 0, count: count)), createGraph: false
            ).gradients
            assertClose(gradients[0].flattened(), Array(repeating: [-0.5, 0.5], count: count).flatMap { $0 }, rtol: 1e-12)
            assertClose(gradients[2].flattened(), Array(repeating: [-0.5, -0.5], count: count).flatMap { $0 }, rtol: 1e-12)
        }
        // So the gradient terms do not change when the batch repeats the same example (per-example form).
        let options = TRSOptions(lambdaA: 1, lambdaB: 1, deltaStart: 0, deltaEnd: 0, gradients: .perExample)
        let one = TRSObjective(options: options).loss(
            ensemble: Ensemble(members: members), batch: Batch(images: zeroImages(1), labels: labels([0])), context: firstStep)
        let four = TRSObjective(options: options).loss(
            ensemble: Ensemble(members: members), batch: Batch(images: zeroImages(4), labels: labels([0, 0, 0, 0])),
            context: firstStep)
        assertClose(four.terms.map { $0.value.item() }, one.terms.map { $0.value.item() }, rtol: 1e-12)
    }

    @Test func trsMatchesAHandComputationOnACleanSmoothnessBatch() {
        // δ = 0: the smoothness batch is the clean batch.
        let options = TRSOptions(lambdaA: 20, lambdaB: 2.5, deltaStart: 0, deltaEnd: 0, gradients: .perExample)
        let output = TRSObjective(options: options).loss(
            ensemble: Ensemble(members: gradientMembers()), batch: Batch(images: zeroImages(2), labels: labels([0, 0])),
            context: firstStep)
        #expect(output.terms.map(\.name) == ["ce", "similarity", "smoothness"])
        #expect(output.terms.map(\.weight) == [1, 20, 2.5])
        // |cos|: 1, 0, 0 → 1/3. ‖g‖² = ½ for every member and example.
        assertClose(output.terms.map { $0.value.item() }, [3 * ln2, 1.0 / 3, 0.5], rtol: 1e-12)
        assertClose([output.total.item()], [3 * ln2 + 20.0 / 3 + 1.25], rtol: 1e-12)
        // The authors' scale: the gradient of the batch-mean CE is g/B, squared norm doubled:
        // 2·(½)/B² with B = 2.
        var authors = options
        authors.gradients = .batchMean
        let scaled = TRSObjective(options: authors).loss(
            ensemble: Ensemble(members: gradientMembers()), batch: Batch(images: zeroImages(2), labels: labels([0, 0])),
            context: firstStep)
        assertClose(scaled.terms.map { $0.value.item() }, [3 * ln2, 1.0 / 3, 2 * 0.5 / 4], rtol: 1e-12)
        #expect(TRSOptions.batchMeanSmoothnessFactor(batchSize: 128) == 2.0 / 16384)
    }

    @Test func trsSearchesTheSecondHalfForLargeGradients() {
        // Two copies of z = x: ‖g‖² = 2·p₁² for label 0, largest where x₁ is high and x₀ low. Six
        // steps of δ/3 from any start in the δ-ball end at x = (0, δ) (x₀ clamped at 0).
        let members = [LinearClassifier(weight: [[1, 0], [0, 1]]), LinearClassifier(weight: [[1, 0], [0, 1]])]
        let objective = TRSObjective(
            options: TRSOptions(lambdaA: 1, lambdaB: 1, deltaStart: 0.5, deltaEnd: 0.5, gradients: .perExample))
        Runtime.seed(4)
        let moved = objective.smoothnessBatch(members: members, images: zeroImages(2), labels: labels([0, 0]), delta: 0.5)
        assertClose(moved.flattened(), [0, 0, 0, 0.5], rtol: 0, atol: 1e-12)
        Runtime.seed(4)
        let output = objective.loss(
            ensemble: Ensemble(members: members), batch: Batch(images: zeroImages(2), labels: labels([0, 0])), context: firstStep)
        let p1 = 1 / (1 + Foundation.exp(-0.5))
        assertClose([output.terms[2].value.item()], [(0.5 + 2 * p1 * p1) / 2], rtol: 1e-12)
        // The radius ramps per epoch from δ₀ towards δ_M.
        let ramp = TRSOptions(lambdaA: 1, lambdaB: 1, deltaStart: 0.01, deltaEnd: 0.03)
        assertClose([0, 5, 9].map { ramp.delta(epoch: $0, totalEpochs: 10) }, [0.01, 0.02, 0.028], rtol: 1e-12)
        #expect(
            TRSObjective(options: ramp).epochSettings(epoch: 5, totalEpochs: 10, ensemble: Ensemble(members: members)) == [
                "trs_delta": ramp.delta(epoch: 5, totalEpochs: 10)
            ])
    }

    @Test func dvergeTrainsEachMemberOnTheOthersDistilledImages() {
        // Features are the logits z = W x. One signed step of 0.1 on ‖W x − W t‖² from x = (½, ½)
        // towards t = (0.9, 0.1): the gradient is ∝ WᵀW (x − t), with x − t = (−0.4, 0.4).
        //   W₁ = I:                 WᵀW(x − t) = (−0.4, 0.4) → x′₁ = (0.6, 0.4)
        //   W₂ = [[1, 2], [0, 0]]:  WᵀW(x − t) = (0.4, 0.8)  → x′₂ = (0.4, 0.4)
        let first = LinearClassifier(weight: [[1, 0], [0, 1]])
        let second = LinearClassifier(weight: [[1, 2], [0, 0]])
        let source = Tensor([0.5, 0.5], shape: [1, 1, 1, 2]), target = Tensor([0.9, 0.1], shape: [1, 1, 1, 2])
        let options = DVERGEOptions(epsilon: 0.2, stepSize: 0.1, steps: 1, momentum: 1, fixedLayer: 0, seed: 0)
        let objective = DVERGEObjective(options: options)
        assertClose(
            objective.distill(member: first, source: source, target: target, layer: 0).flattened(), [0.6, 0.4], rtol: 1e-12)
        assertClose(
            objective.distill(member: second, source: source, target: target, layer: 0).flattened(), [0.4, 0.4], rtol: 1e-12)
        let batch = Batch(images: source, labels: labels([0]), pairedImages: target)
        let output = objective.loss(ensemble: Ensemble(members: [first, second]), batch: batch, context: firstStep)
        // Member 1 on x′₂: z = (0.4, 0.4), CE = ln 2. Member 2 on x′₁: z = (1.4, 0), CE = ln(1 + e^−1.4).
        #expect(output.terms.map(\.name) == ["dverge"])
        assertClose([output.total.item()], [ln2 + Foundation.log(1 + Foundation.exp(-1.4))], rtol: 1e-12)
        // The reported logits are the clean ones.
        assertClose(output.memberLogits[1].flattened(), [1.5, 0], rtol: 1e-12)
    }

    @Test func dvergeSumsEveryOrderedPairOfDistinctMembers() {
        Runtime.seed(2)
        let members = (0..<3).map { _ in
            let values = (Tensor.rand([3, 4], dtype: .float64) * 2 - 1).scalars(as: Double.self)
            return LinearClassifier(weight: (0..<3).map { Array(values[($0 * 4)..<($0 * 4 + 4)]) })
        }
        let source = Tensor.rand([5, 1, 1, 4], dtype: .float64), target = Tensor.rand([5, 1, 1, 4], dtype: .float64)
        let y = labels([0, 1, 2, 1, 0])
        let objective = DVERGEObjective(
            options: DVERGEOptions(epsilon: 0.07, stepSize: 0.007, steps: 10, momentum: 1, fixedLayer: 0, seed: 0))
        let output = objective.loss(
            ensemble: Ensemble(members: members), batch: Batch(images: source, labels: y, pairedImages: target),
            context: firstStep)
        let distilled = members.map { objective.distill(member: $0, source: source, target: target, layer: 0) }
        var expected = 0.0
        for i in 0..<3 {
            for j in 0..<3 where j != i { expected += crossEntropy(logits: members[i](distilled[j]), labels: y).item() }
        }
        assertClose([output.total.item()], [expected], rtol: 1e-12)
        for (member, image) in zip(members, distilled) {
            // Within ε of the source and closer to the target in feature space.
            #expect((image - source).abs().max().item() <= 0.07 + 1e-12)
            let before = mseLoss(member.features(source, at: 0), member.features(target, at: 0)).item()
            let after = mseLoss(member.features(image, at: 0), member.features(target, at: 0)).item()
            #expect(after < before, "feature distance \(before) → \(after)")
        }
    }

    @Test func dvergeCyclesThroughEveryLayerBatchByBatch() {
        let options = DVERGEOptions(epsilon: 0.07, stepSize: 0.007, steps: 10, momentum: 1, fixedLayer: nil, seed: 7)
        #expect(options.layerDraw == .cycle)
        // 3 epochs of 7 batches over 5 blocks: every round of 5 consecutive batches is a permutation.
        let layers: [Int] = (0..<21).map { options.layer(epoch: $0 / 7, step: $0 % 7, stepsPerEpoch: 7, layerCount: 5) }
        let rounds: [[Int]] = (0..<4).map { Array(layers[($0 * 5)..<($0 * 5 + 5)]) }
        for round in rounds { #expect(round.sorted() == [0, 1, 2, 3, 4], "\(layers)") }
        // The rounds are in different orders, and another seed gives another sequence.
        #expect(Set(rounds).count > 1)
        var other = options
        other.seed = 8
        #expect((0..<21).map { other.layer(epoch: $0 / 7, step: $0 % 7, stepsPerEpoch: 7, layerCount: 5) } != layers)
        // The authors' per-epoch draw: one block for every batch of an epoch.
        other.layerDraw = .epoch
        #expect(
            (0..<7).allSatisfy {
                other.layer(epoch: 2, step: $0, stepsPerEpoch: 7, layerCount: 5) == other.layer(epoch: 2, layerCount: 5)
            })
        let dverge = DVERGEObjective(options: other), cycled = DVERGEObjective(options: options)
        let ensemble = Ensemble(members: [
            LinearClassifier(weight: [[1, 0], [0, 1]]), LinearClassifier(weight: [[1, 0], [0, 1]]),
        ])
        #expect(dverge.epochSettings(epoch: 2, totalEpochs: 3, ensemble: ensemble).keys.sorted() == ["dverge_layer"])
        #expect(cycled.epochSettings(epoch: 2, totalEpochs: 3, ensemble: ensemble).isEmpty)
    }

    @Test func dvergeDrawsItsLayerFromTheSeedAndEpoch() {
        let options = DVERGEOptions(
            epsilon: 0.07, stepSize: 0.007, steps: 10, momentum: 1, fixedLayer: nil, layerDraw: .epoch, seed: 7)
        let layers = (0..<200).map { options.layer(epoch: $0, layerCount: 10) }
        #expect(layers == (0..<200).map { options.layer(epoch: $0, layerCount: 10) })
        #expect(Set(layers) == Set(0..<10))
        var other = options
        other.seed = 8
        #expect((0..<200).map { other.layer(epoch: $0, layerCount: 10) } != layers)
        other.fixedLayer = 4
        #expect((0..<20).allSatisfy { other.layer(epoch: $0, layerCount: 10) == 4 })
    }
}

@Suite("Training-time perturbation and adversarial training", .exclusiveRandomGenerator)
struct TrainingPerturbationTests {
    @Test func signedStepsAreProjectedOntoTheBallAndThePixelRange() {
        let x = Tensor([0.5, 0.95, 0.02, 0.3], shape: [1, 1, 2, 2])
        let up = TrainingPerturbation(epsilon: 0.1, stepSize: 0.03, steps: 5, randomStart: false, goal: .maximize)
        assertClose(up.perturb(x) { $0.sum() }, [0.6, 1, 0.12, 0.4], rtol: 1e-6)
        let down = TrainingPerturbation(epsilon: 0.1, stepSize: 0.03, steps: 2, randomStart: false, goal: .minimize)
        assertClose(down.perturb(x) { $0.sum() }, [0.44, 0.89, 0, 0.24], rtol: 1e-6)
        Runtime.seed(1)
        let random = TrainingPerturbation(epsilon: 0.1, stepSize: 0.03, steps: 0, randomStart: true, goal: .maximize).perturb(x) {
            $0.sum()
        }
        #expect((random - x).abs().max().item() <= 0.1 + 1e-7)
        #expect((random - x).abs().max().item() > 0)
        #expect(random.min().item() >= 0 && random.max().item() <= 1)
    }

    @Test func momentumAccumulatesTheL1NormalisedGradient() {
        // Minimising (x − 0.52)² from 0.5 in steps of 0.05: plain signed steps go 0.55, 0.50; with
        // momentum 1 the second gradient (+1 after L1 normalisation) cancels the first (−1), so x
        // stays at 0.55.
        let x = Tensor([0.5], shape: [1, 1, 1, 1])
        let loss = { (t: Tensor) in (t - 0.52).squared().sum() }
        let plain = TrainingPerturbation(epsilon: 0.2, stepSize: 0.05, steps: 2, randomStart: false, goal: .minimize)
        var momentum = plain
        momentum.momentum = 1
        assertClose(plain.perturb(x, loss: loss), [0.5], rtol: 1e-12)
        assertClose(momentum.perturb(x, loss: loss), [0.55], rtol: 1e-12)
    }

    @Test func adversarialTrainingSearchesInEvalModeAndReplacesTheBatch() {
        let members = [LinearClassifier(weight: [[1, 0], [0, 1]]), LinearClassifier(weight: [[1, -1], [0, 2]])]
        let ensemble = Ensemble(members: members)
        Runtime.seed(3)
        let images = Tensor.rand([4, 1, 1, 2], dtype: .float64)
        let paired = Tensor.rand([4, 1, 1, 2], dtype: .float64)
        let y = labels([0, 1, 1, 0])
        let recorder = RecordingObjective()
        let training = AdversarialTraining(
            wrapping: recorder, options: AdversarialTrainingOptions(epsilon: 0.1, stepSize: 0.05, steps: 5))
        _ = training.loss(ensemble: ensemble, batch: Batch(images: images, labels: y, pairedImages: paired), context: firstStep)
        // The search ran in evaluation mode; the wrapped objective ran in training mode.
        #expect(members[0].modes.dropLast().allSatisfy { !$0 } && members[0].modes.count == 6)
        #expect(members[0].modes.last == true && recorder.modes == [true] && ensemble.isTraining)
        let seen = recorder.batches[0]
        #expect((seen.images - images).abs().max().item() <= 0.1 + 1e-12)
        #expect(seen.images.min().item() >= 0 && seen.images.max().item() <= 1)
        #expect(seen.labels.scalars(as: Int64.self) == [0, 1, 1, 0])
        #expect(seen.pairedImages.map { $0.scalars(as: Double.self) } == paired.scalars(as: Double.self))
        func ensembleLoss(_ x: Tensor) -> Double {
            nllLoss(logProbabilities: averagedLogProbabilities(ensemble.memberLogits(x)), labels: y).item()
        }
        #expect(ensembleLoss(seen.images) > ensembleLoss(images) + 0.01)
        // Half the batch: the first two examples are replaced, the last two kept.
        let half = AdversarialTraining(
            wrapping: recorder, options: AdversarialTrainingOptions(epsilon: 0.1, stepSize: 0.05, steps: 5, fraction: 0.5))
        _ = half.loss(ensemble: ensemble, batch: Batch(images: images, labels: y), context: firstStep)
        let mixed = recorder.batches[1].images
        #expect(mixed[2..<4].scalars(as: Double.self) == images[2..<4].scalars(as: Double.self))
        #expect(mixed[0..<2].scalars(as: Double.self) != images[0..<2].scalars(as: Double.self))
    }

    @Test func theModifierPassesThroughWhatTheWrappedObjectiveNeeds() {
        let options = AdversarialTrainingOptions(epsilon: 0.1, stepSize: 0.025, steps: 10)
        let dverge = DVERGEObjective(
            options: DVERGEOptions(epsilon: 0.07, stepSize: 0.007, steps: 10, momentum: 1, fixedLayer: 2, seed: 0))
        let wrapped = AdversarialTraining(wrapping: dverge, options: options)
        let ensemble = Ensemble(members: [LinearClassifier(weight: [[1, 0]]), LinearClassifier(weight: [[0, 1]])])
        #expect(wrapped.needsPairedImages)
        #expect(wrapped.epochSettings(epoch: 3, totalEpochs: 5, ensemble: ensemble) == ["dverge_layer": 2])
        #expect(!AdversarialTraining(wrapping: BaselineObjective(), options: options).needsPairedImages)
    }
}

@Suite("Baselines with 2, 3 and 5 members", .exclusiveRandomGenerator)
struct BaselineMemberCountTests {
    @Test(arguments: [2, 3, 5])
    func everyMethodGivesFiniteNonZeroTermsAndGradients(members: Int) throws {
        var config = TrainingConfig()
        config.members = members
        config.trsSteps = 2
        config.dvergeSteps = 2
        config.advSteps = 2
        Runtime.seed(UInt64(members))
        let images = Tensor.rand([8, 1, 28, 28])
        let batch = Batch(
            images: images, labels: Tensor((0..<8).map { Int64($0 % 10) }), pairedImages: images.flipped(alongAxes: [0]))
        for method in [TrainingMethod.adp, .gal, .dverge, .trs] {
            config.method = method
            for adversarial in [AdversarialTrainingMode.disabled, .pgd] where adversarial == .disabled || method == .trs {
                config.adversarial = adversarial
                try config.validate()
                let ensemble = Ensemble(spec: config.modelSpec, count: members)
                let output = TrainingSetup.makeObjective(config.resolved).loss(
                    ensemble: ensemble, batch: batch, context: firstStep)
                for term in output.terms {
                    let value = term.value.item()
                    #expect(
                        value.isFinite && value != 0, "\(method) \(adversarial) with \(members) members: \(term.name) = \(value)")
                }
                #expect(output.memberLogits.count == members)
                output.total.backward()
                for (index, member) in ensemble.members.enumerated() {
                    let gradients = member.parameters.compactMap(\.grad)
                    #expect(gradients.count == member.parameters.count, "\(method): member \(index) got no gradient")
                    #expect(gradients.allSatisfy { $0.isFinite().all().item() == 1 })
                    #expect(gradients.contains { $0.abs().max().item() > 0 }, "\(method): member \(index) has all-zero gradients")
                }
            }
        }
    }
}

@Suite("DVERGE on ResNet-20", .exclusiveRandomGenerator)
struct DVERGEResNetTests {
    @Test(arguments: [0, 4, 9])
    func distillsAtAnyBlock(layer: Int) {
        var config = TrainingConfig()
        config.dataset = .cifar10
        config.architecture = .resnet20
        config.members = 2
        config.method = .dverge
        config.dvergeSteps = 2
        config.dvergeLayer = layer
        Runtime.seed(UInt64(layer))
        let ensemble = Ensemble(spec: config.modelSpec, count: 2)
        let images = Tensor.rand([4, 3, 32, 32])
        let batch = Batch(images: images, labels: Tensor([Int64(0), 1, 2, 3]), pairedImages: Tensor.rand([4, 3, 32, 32]))
        let objective = DVERGEObjective(options: config.resolved.dvergeOptions)
        for member in ensemble.members {
            let distilled = objective.distill(member: member, source: images, target: batch.pairedImages!, layer: layer)
            #expect((distilled - images).abs().max().item() <= 0.07 + 1e-6)
            #expect((distilled - images).abs().max().item() > 0)
        }
        let output = objective.loss(ensemble: ensemble, batch: batch, context: firstStep)
        #expect(output.total.item().isFinite && output.total.item() > 0)
        output.total.backward()
        #expect(ensemble.parameters.allSatisfy { $0.grad.map { $0.isFinite().all().item() == 1 } ?? false })
    }
}

@Suite("Baseline settings")
struct BaselineSettingsTests {
    @Test func unsetSettingsResolveToThePapersValuesForTheDataset() {
        var config = TrainingConfig()
        config.dataset = .cifar10
        let cifar = config.resolved
        #expect([cifar.trsLambdaA, cifar.trsLambdaB, cifar.trsDeltaStart, cifar.trsDeltaEnd] == [20, 2.5, 0.01, 0.03])
        #expect([cifar.dvergeEps, cifar.dvergeStep] == [0.07, 0.007])
        #expect([cifar.advEps, cifar.advStep] == [8.0 / 255, 2.0 / 255] && cifar.advSteps == 10)
        config.dataset = .fashionMNIST
        let fashion = config.resolved
        #expect([fashion.trsLambdaA, fashion.trsLambdaB, fashion.trsDeltaStart, fashion.trsDeltaEnd] == [10, 10, 0.1, 0.2])
        #expect([fashion.dvergeEps, fashion.dvergeStep] == [0.35, 0.035])
        #expect([fashion.advEps, fashion.advStep] == [0.1, 0.025] && fashion.advSteps == 10)
        config.dataset = .mnist
        let mnist = config.resolved
        #expect([mnist.advEps, mnist.advStep] == [0.3, 0.01] && mnist.advSteps == 40)
        // Given values win; an unset step keeps the paper's ratio to the radius given.
        config.dataset = .cifar10
        config.advEps = 16.0 / 255
        config.dvergeEps = 0.14
        config.trsLambdaB = 1
        let custom = config.resolved
        assertClose([custom.advStep!, custom.dvergeStep!, custom.trsLambdaB!], [4.0 / 255, 0.014, 1], rtol: 1e-12)
        #expect(custom.resolved == custom)
        #expect(custom.dvergeLayer == nil && custom.from == nil)
    }

    @Test func flagsKeysDecodeAndRoundTrip() throws {
        let json = #"""
            {"method": "dverge", "adp-alpha": 1, "adp-beta": 0.25, "gal-lambda": 0.75, "trs-lambda-a": 5, "trs-lambda-b": 1.5,
             "trs-delta-start": 0.02, "trs-delta-end": 0.04, "trs-steps": 3, "dverge-eps": 0.05, "dverge-step": 0.01, "dverge-steps": 4,
             "dverge-layer": 2, "dverge-momentum": 0, "adversarial": "pgd", "adv-eps": 0.2, "adv-step": 0.02, "adv-steps": 7,
             "adv-fraction": 0.5, "from": "runs/plain"}
            """#
        let config = try JSONDecoder().decode(TrainingConfig.self, from: Data(json.utf8))
        #expect(config.method == .dverge && config.adversarial == .pgd && config.from == "runs/plain")
        #expect(
            [config.adpAlpha, config.adpBeta, config.galLambda, config.dvergeMomentum, config.advFraction] == [
                1, 0.25, 0.75, 0, 0.5,
            ])
        #expect(config.trsOptions == TRSOptions(lambdaA: 5, lambdaB: 1.5, deltaStart: 0.02, deltaEnd: 0.04, steps: 3))
        #expect(
            config.dvergeOptions == DVERGEOptions(epsilon: 0.05, stepSize: 0.01, steps: 4, momentum: 0, fixedLayer: 2, seed: 0))
        #expect(config.adversarialOptions == AdversarialTrainingOptions(epsilon: 0.2, stepSize: 0.02, steps: 7, fraction: 0.5))
        try config.validate()
        #expect(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(config)) == config)
        let resolved = TrainingConfig().resolved
        #expect(try JSONDecoder().decode(TrainingConfig.self, from: JSONEncoder().encode(resolved)) == resolved)
    }

    @Test func validationNamesTheBaselineFlags() {
        func message(_ change: (inout TrainingConfig) -> Void) -> String? {
            var config = TrainingConfig()
            change(&config)
            do { try config.validate() } catch let error as EDLCMError { return error.message } catch { return "\(error)" }
            return nil
        }
        #expect(message { $0.adpAlpha = -1 } == "--adp-alpha must be ≥ 0, got -1")
        #expect(message { $0.galLambda = .nan } == "--gal-lambda must be ≥ 0, got nan")
        #expect(message { $0.trsLambdaA = -2 } == "--trs-lambda-a must be ≥ 0, got -2")
        #expect(message { $0.trsDeltaEnd = 2 } == "--trs-delta-end must be in [0, 1], got 2")
        #expect(message { $0.trsSteps = 0 } == "--trs-steps must be in 1...1000, got 0")
        #expect(message { $0.dvergeEps = 0 } == "--dverge-eps must be in (0, 1], got 0")
        #expect(message { $0.dvergeStep = -0.1 } == "--dverge-step must be a positive number, got -0.1")
        #expect(message { $0.dvergeLayer = 3 } == "--dverge-layer must be in 0...2 for --arch cnn, got 3")
        #expect(
            message {
                $0.architecture = .resnet20
                $0.dvergeLayer = 9
            } == nil)
        #expect(message { $0.advEps = 1.5 } == "--adv-eps must be in (0, 1], got 1.5")
        #expect(message { $0.advSteps = 0 } == "--adv-steps must be in 1...1000, got 0")
        #expect(message { $0.advFraction = 0 } == "--adv-fraction must be in (0, 1], got 0")
        #expect(message { $0.from = "" } == "--from must name a run folder or checkpoint file, got \"\"")
        #expect(
            message {
                $0.method = .trs
                $0.members = 1
            } == "--members must be at least 2 (an ensemble), got 1")
    }

    @Test func resumingComparesResolvedSettings() {
        var config = TrainingConfig()
        config.method = .trs
        #expect(config.resolved.resumeConflicts(with: config).isEmpty)
        #expect(config.resumeConflicts(with: config.resolved).isEmpty)
        var changed = config
        changed.trsLambdaA = 3
        #expect(!config.resolved.resumeConflicts(with: changed).isEmpty)
        changed = config
        changed.from = "elsewhere"
        #expect(!config.resumeConflicts(with: changed).isEmpty)
    }

    @Test func eachMethodBuildsItsObjective() {
        var config = TrainingConfig()
        let expected: [(TrainingMethod, String)] = [
            (.baseline, "BaselineObjective"), (.edlcm, "EDLCMObjective"), (.cure, "EDLCMObjective"),
            (.adp, "ADPObjective"), (.gal, "GALObjective"), (.dverge, "DVERGEObjective"), (.trs, "TRSObjective"),
        ]
        #expect(Set(expected.map(\.0)) == Set(TrainingMethod.allCases))
        for (method, name) in expected {
            config.method = method
            config.adversarial = .disabled
            #expect(String(describing: type(of: TrainingSetup.makeObjective(config))) == name)
            config.adversarial = .pgd
            let wrapped = TrainingSetup.makeObjective(config)
            #expect((wrapped as? AdversarialTraining).map { String(describing: type(of: $0.wrapped)) } == name)
            #expect((wrapped as? AdversarialTraining)?.options == config.adversarialOptions)
        }
    }
}

@Suite("Member-by-member backward", .exclusiveRandomGenerator)
struct MemberBackwardTests {
    /// The plain ensemble backpropagates each member's loss on its own (one member's graph held at
    /// a time); the gradients must equal those of one backward pass of the summed loss, bit for
    /// bit, with and without batch norm, and the logged loss must be the same number.
    @Test(arguments: [Architecture.cnn, .resnet20])
    func baselineGradientsEqualOneBackwardOfTheSum(architecture: Architecture) {
        let (_, ensemble, batch) = gradientTestSetup(architecture, seed: 11, members: 3, labels: [0, 1, 2, 3, 4, 5])
        let objective = BaselineObjective()
        ensemble.zeroGrad()
        let joint = objective.loss(ensemble: ensemble, batch: batch, context: firstStep)
        joint.total.backward()
        let reference = ensemble.parameters.map { $0.grad!.cloned() }
        ensemble.zeroGrad()
        let separate = objective.accumulateGradients(ensemble: ensemble, batch: batch, context: firstStep)
        let gradients = ensemble.parameters.map { $0.grad! }
        #expect(
            gradients.count == reference.count && reference.count == ensemble.members.count * ensemble.members[0].parameters.count
        )
        for (gradient, expected) in zip(gradients, reference) {
            #expect(gradient.shape == expected.shape)
            #expect((gradient - expected).abs().max().item() == 0)
        }
        #expect(reference.contains { $0.abs().max().item() > 0 })
        #expect(separate.total.item() == joint.total.item())
        #expect(!separate.total.requiresGrad)
        #expect(zip(separate.memberLogits, joint.memberLogits).allSatisfy { ($0 - $1).abs().max().item() == 0 })
    }
}

@Suite("Channels-last first-order passes", .exclusiveRandomGenerator)
struct ChannelsLastTests {
    /// ResNet-20 takes channels-last images in evaluation-mode first-order passes (attacks); the
    /// logits and their input gradient must be those of the default layout (float rounding apart).
    /// In training mode it keeps the default layout (bit for bit), and the small CNN always does.
    @Test func channelsLastResNetComputesTheSameFunctionAndGradient() {
        var config = TrainingConfig()
        config.dataset = .cifar10
        config.architecture = .resnet20
        Runtime.seed(5)
        let network = config.modelSpec.makeNetwork()
        #expect(network.prefersChannelsLast)
        var cnn = TrainingConfig()
        cnn.architecture = .cnn
        #expect(!cnn.modelSpec.makeNetwork().prefersChannelsLast)
        let images = Tensor.rand([4, 3, 32, 32])
        network.train()
        _ = withoutGradients { network(images) }  // running statistics that are not the initial 0 and 1
        for training in [false, true] {
            network.setTraining(training)
            func pass(_ forward: (Tensor) -> Tensor) -> (Tensor, Tensor) {
                let x = images.detached().requiringGrad()
                let logits = forward(x)
                return (logits.detached(), grad(of: (logits * logits).sum(), withRespectTo: x))
            }
            let (reference, referenceGradient) = pass { network($0) }
            let (logits, gradient) = pass { network.firstOrderLogits($0) }
            #expect(reference.abs().max().item() > 0 && referenceGradient.abs().max().item() > 0)
            let tolerance = training ? 0 : 1e-4
            #expect((logits - reference).abs().max().item() <= tolerance * reference.abs().max().item())
            #expect((gradient - referenceGradient).abs().max().item() <= tolerance * referenceGradient.abs().max().item())
        }
    }
}
