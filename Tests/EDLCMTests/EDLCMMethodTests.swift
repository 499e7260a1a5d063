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

/// A smooth float64 classifier (tanh MLP with softplus logits) whose input Hessian is non-zero
/// everywhere, so finite differences can be compared with exact double backprop.
final class SmoothClassifier: Classifier {
    let spec: ModelSpec
    let w1: Tensor
    let w2: Tensor
    var isTraining = true

    init(seed: UInt64, inputs: Int = 12, hidden: Int = 16, classes: Int = 3) {
        spec = ModelSpec(architecture: .cnn, channels: 1, height: 4, width: 3, classCount: classes, mean: [0], std: [1])
        Runtime.seed(seed)
        w1 = (Tensor.randn([hidden, inputs], dtype: .float64) * 0.8).requiringGrad()
        w2 = (Tensor.randn([classes, hidden], dtype: .float64) * 0.8).requiringGrad()
    }

    var localParameters: [NamedTensor] { [("w1", w1), ("w2", w2)] }

    func callAsFunction(_ input: Tensor) -> Tensor {
        linear(features(input, at: 0).tanh(), weight: w2).softplus() * 3
    }

    var featureLayerCount: Int { 1 }

    /// The hidden layer before its tanh.
    func features(_ input: Tensor, at layer: Int) -> Tensor {
        linear(input.flattened(startAxis: 1), weight: w1)
    }
}

private func smoothBatch() -> (Tensor, Tensor) {
    Runtime.seed(99)
    return (Tensor.rand([6, 1, 4, 3], dtype: .float64), Tensor([Int64(0), 1, 2, 0, 1, 2]))
}

@Suite("EDLCM: finite-difference HVPs, regularisers and metrics", .exclusiveRandomGenerator)
struct EDLCMMethodTests {
    @Test func finiteDifferenceMatchesExactHVPAndTightensWithH() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 1), SmoothClassifier(seed: 2)])
        let (x, y) = smoothBatch()
        var errors: [Double] = []
        for h in [1e-1, 1e-2, 1e-3] {
            let probe = HessianProbe(
                ensemble: ensemble, images: x, labels: y, h: h, direction: .gradientSign, sharing: .perMember, createGraph: false)
            var worst = 0.0
            for (index, member) in ensemble.members.enumerated() {
                let z = probe.directions[index]
                let input = x.requiringGrad()
                let g = grad(
                    of: crossEntropy(logits: member(input), labels: y, reduction: .sum), withRespectTo: input, createGraph: true)
                let exact = grad(of: (g * z).sum(), withRespectTo: input)
                #expect(exact.norm().item() > 1e-3)
                worst = max(worst, (probe.products[index] - exact).norm().item() / exact.norm().item())
                // z is a unit vector per example, the sign of the member's own gradient.
                assertClose(z.flattened(startAxis: 1).norm(p: 2, alongAxes: [1]), [1, 1, 1, 1, 1, 1], rtol: 1e-12)
                #expect((z.sign() .== probe.gradients[index].sign()).all().item() == 1)
            }
            errors.append(worst)
        }
        // The forward difference is first order: relative error ≤ 5·h on this model (measured ≈ 3.8·h).
        for (h, error) in zip([1e-1, 1e-2, 1e-3], errors) { #expect(error < 5 * h, "relative error at h = \(h): \(error)") }
        #expect(errors[1] < errors[0] && errors[2] < errors[1], "error must shrink with h: \(errors)")
    }

    @Test func sharedGradientSignProbeComesFromTheEnsembleLoss() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 1), SmoothClassifier(seed: 2), SmoothClassifier(seed: 3)])
        let (x, y) = smoothBatch()
        let probe = HessianProbe(
            ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .gradientSign, sharing: .shared, createGraph: false)
        let input = x.requiringGrad()
        let ensembleGradient = grad(
            of: nllLoss(logProbabilities: ensemble(input), labels: y, reduction: .sum), withRespectTo: input)
        let expected = HessianProbe.unitPerExample(ensembleGradient.sign())
        for z in probe.directions { assertClose(z, expected, rtol: 0, atol: 1e-12) }
        // Random probes are unit vectors too, and independent per member unless shared.
        let random = HessianProbe(
            ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .rademacher, sharing: .perMember, createGraph: false)
        #expect(random.directions[0].scalars(as: Double.self) != random.directions[1].scalars(as: Double.self))
        assertClose(
            random.directions[2].flattened(startAxis: 1).norm(p: 2, alongAxes: [1]), Array(repeating: 1, count: 6), rtol: 1e-12)
        #expect(
            Set(random.directions[0].abs().scalars(as: Double.self).map { ($0 * 1e9).rounded() }) == [
                (1e9 / Foundation.sqrt(12.0)).rounded()
            ])
    }

    /// The fast path (ensemble gradient from member gradients, no extra backward) equals autograd.
    @Test func ensembleGradientFastPathEqualsAutograd() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 4), SmoothClassifier(seed: 6), SmoothClassifier(seed: 7)])
        let (x, y) = smoothBatch()
        for output in EnsembleOutput.allCases {
            ensemble.output = output
            let input = x.requiringGrad()
            let logits = ensemble.memberLogits(input)
            let members = logits.map {
                grad(of: crossEntropy(logits: $0, labels: y, reduction: .sum), withRespectTo: input, retainGraph: true)
            }
            let fast = HessianProbe.ensembleGradient(
                ensemble: ensemble, x: input, logits: logits, memberGradients: members, labels: y)
            let reference = grad(
                of: nllLoss(logProbabilities: ensemble.combine(logits).logSoftmax(alongAxis: 1), labels: y, reduction: .sum),
                withRespectTo: input)
            assertClose(fast, reference, rtol: 1e-10, atol: 1e-12)
        }
    }

    @Test func regularisersMatchTheirDefinitions() {
        let a = Tensor([1.0, 0, 0, 2], shape: [2, 2])
        let b = Tensor([1.0, 1, 0, -2], shape: [2, 2])
        let c = Tensor([0.0, 1, 3, 0], shape: [2, 2])
        // ‖·‖²: a → 1, 4; b → 2, 4; mean over examples then members = (2.5 + 3) / 2.
        assertClose(meanSquaredNorm([a, b]), [2.75], rtol: 1e-12)
        // cos(a,b) per example: 1/√2, −1; cos(a,c): 0, 0; cos(b,c): 1/√2, 0.
        let ab = (1 / Foundation.sqrt(2.0) - 1) / 2
        let bc = (1 / Foundation.sqrt(2.0)) / 2
        assertClose(meanPairwiseCosine([a, b, c]), [(ab + 0 + bc) / 3], rtol: 1e-12)
        assertClose(meanPairwiseCosine([a, b], absolute: true), [(1 / Foundation.sqrt(2.0) + 1) / 2], rtol: 1e-12)
    }

    @Test func aStepOnTheDispersionAloneLowersTheHVPCosine() {
        let first = SmoothClassifier(seed: 5)
        let second = SmoothClassifier(seed: 5)
        // Nearly identical members start with cosine ≈ 1: the worst case for transfer. The second is
        // a copy of the first plus a fixed small perturbation, so the setup does not depend on
        // libtorch's global generator (which tests running in parallel also draw from).
        withoutGradients {
            second.w1.copy_(first.w1 + Tensor.arange(0, 192, dtype: .float64).reshaped(to: [16, 12]).sin() * 0.05)
            second.w2.copy_(first.w2)
        }
        let ensemble = Ensemble(members: [first, second])
        let (x, y) = smoothBatch()
        func dispersion() -> Tensor {
            let probe = HessianProbe(
                ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .gradientSign, sharing: .shared, createGraph: true)
            return meanPairwiseCosine(probe.products)
        }
        let before = dispersion()
        let beforeValue = before.item()
        let sgd = SGD(parameters: ensemble.parameters, learningRate: 0.5)
        sgd.zeroGrad()
        before.backward()
        #expect(ensemble.parameters.allSatisfy { $0.grad.map { $0.isFinite().all().item() == 1 } ?? false })
        sgd.step()
        let after = withoutGradients { () -> Double in 0 } + dispersion().item()
        #expect(beforeValue > 0.9)
        #expect(after < beforeValue - 1e-3, "dispersion \(beforeValue) → \(after)")
    }

    @Test func aFewStepsOnTheCurvatureAloneLowerTheHVPNorm() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 8), SmoothClassifier(seed: 9)])
        let (x, y) = smoothBatch()
        func curvature() -> Tensor {
            meanSquaredNorm(
                HessianProbe(
                    ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .gradientSign, sharing: .perMember,
                    createGraph: true
                ).products)
        }
        let sgd = SGD(parameters: ensemble.parameters, learningRate: 0.02)
        let start = curvature().item()
        for _ in 0..<5 {
            let value = curvature()
            sgd.zeroGrad()
            value.backward()
            sgd.step()
        }
        let end = curvature().item()
        #expect(end < 0.8 * start, "L_r \(start) → \(end)")
    }

    @Test func powerIterationRecoversAKnownEigenvalue() {
        // ℓ(x) = Σ_b ½ x_bᵀ A x_b with A = diag(3, −5, 2, 1): the largest-magnitude eigenvalue is −5.
        let diagonal = Tensor([3.0, -5, 2, 1], shape: [1, 1, 2, 2])
        Runtime.seed(1)
        let x = Tensor.randn([3, 1, 2, 2], dtype: .float64)
        let eigen = DiversityAnalysis.dominantEigenvalue(of: { ($0.squared() * diagonal).sum() * 0.5 }, at: x, iterations: 60)
        assertClose(eigen, [-5, -5, -5], rtol: 1e-6)
        let positive = Tensor([3.0, 0.5, 2, 1], shape: [1, 1, 2, 2])
        assertClose(
            DiversityAnalysis.dominantEigenvalue(of: { ($0.squared() * positive).sum() * 0.5 }, at: x, iterations: 60),
            [3, 3, 3], rtol: 1e-6)
    }

    @Test func objectiveWithZeroWeightsIsThePlainEnsemble() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 1), SmoothClassifier(seed: 2)])
        let (x, y) = smoothBatch()
        let batch = Batch(images: x, labels: y)
        let context = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
        var options = TrainingConfig().edlcmOptions
        options.alpha = 0
        options.beta = 0
        let plain = BaselineObjective().loss(ensemble: ensemble, batch: batch, context: context)
        let zero = EDLCMObjective(options: options).loss(ensemble: ensemble, batch: batch, context: context)
        #expect(zero.terms.map(\.name) == ["ce"])
        #expect(zero.total.item() == plain.total.item())
        options.alpha = 0.5
        options.beta = 0.1
        options.gradientAlpha = 0.2
        let full = EDLCMObjective(options: options).loss(ensemble: ensemble, batch: batch, context: context)
        #expect(full.terms.map(\.name) == ["ce", "curvature", "dispersion", "gradient_dispersion"])
        #expect(full.terms.map(\.weight) == [1, 0.1, 0.5, 0.2])
        // The CE term is the same forward pass as the plain ensemble's.
        assertClose([full.terms[0].value.item()], [plain.total.item()], rtol: 1e-12)
        let expected = full.terms.reduce(0.0) { $0 + $1.weight * $1.value.item() }
        assertClose([full.total.item()], [expected], rtol: 1e-12)
    }

    @Test func warmupRampsHAndWeights() {
        var options = TrainingConfig().edlcmOptions
        options.warmupEpochs = 2
        let objective = EDLCMObjective(options: options)
        #expect(objective.warmup(TrainingContext(epoch: 0, totalEpochs: 5, step: 0, stepsPerEpoch: 10)) == 0)
        #expect(objective.warmup(TrainingContext(epoch: 1, totalEpochs: 5, step: 0, stepsPerEpoch: 10)) == 0.5)
        #expect(objective.warmup(TrainingContext(epoch: 1, totalEpochs: 5, step: 5, stepsPerEpoch: 10)) == 0.75)
        #expect(objective.warmup(TrainingContext(epoch: 3, totalEpochs: 5, step: 0, stepsPerEpoch: 10)) == 1)
    }

    @Test func analysisReportIsConsistent() {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 1), SmoothClassifier(seed: 2), SmoothClassifier(seed: 3)])
        let (x, y) = smoothBatch()
        var config = AnalysisConfig()
        config.hvp.h = 0.01
        config.batchSize = 4
        let report = DiversityAnalysis.analyse(ensemble, images: x, labels: y, config: config)
        #expect(report.samples == 6)
        for i in 0..<3 {
            assertClose([report.hvpCosine[i][i], report.gradientCosine[i][i]], [1, 1], rtol: 1e-9)
            for j in 0..<3 { assertClose([report.hvpCosine[i][j]], [report.hvpCosine[j][i]], rtol: 1e-9) }
        }
        let offDiagonal = [report.hvpCosine[0][1], report.hvpCosine[0][2], report.hvpCosine[1][2]]
        assertClose([report.meanHVPCosine], [offDiagonal.reduce(0, +) / 3], rtol: 1e-9)
        #expect(report.topEigenvalue.allSatisfy { $0.isFinite && $0 != 0 })
        #expect(report.hvpNorm.allSatisfy { $0 > 0 })
    }
}

/// Its own suite: it reads libtorch's generator between two calls, so no other test of the
/// generator may run beside it.
@Suite("Analysis: the HVP cosine under a random probe", .exclusiveRandomGenerator)
struct RandomProbeAnalysisTests {
    /// The Rademacher matrix is the HVP cosine of one shared random ±1 probe, computed here
    /// independently from the generator state the analysis starts from; drawing it leaves the
    /// power iteration's start unchanged.
    @Test func analysisAddsTheCosineUnderARandomProbe() throws {
        let ensemble = Ensemble(members: [SmoothClassifier(seed: 1), SmoothClassifier(seed: 2), SmoothClassifier(seed: 3)])
        let (x, y) = smoothBatch()
        var config = AnalysisConfig()
        config.hvp.h = 0.01
        Runtime.seed(5)
        let report = DiversityAnalysis.analyse(ensemble, images: x, labels: y, config: config)
        Runtime.seed(5)
        _ = HessianProbe(
            ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .gradientSign, sharing: .shared, createGraph: false)
        let random = HessianProbe(
            ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .rademacher, sharing: .shared, createGraph: false)
        let matrix = try #require(report.hvpCosineRademacher)
        for i in 0..<3 {
            for j in 0..<3 {
                assertClose([matrix[i][j]], [meanCosine(random.products[i], random.products[j]).item()], rtol: 1e-9)
            }
        }
        assertClose([report.meanHVPCosineRademacher ?? .nan], [(matrix[0][1] + matrix[0][2] + matrix[1][2]) / 3], rtol: 1e-9)
        #expect(matrix[0][1] != report.hvpCosine[0][1], "a random probe is another direction than the gradient sign")
        // The power iteration sees the generator as it was before the random probe.
        Runtime.seed(5)
        _ = HessianProbe(
            ensemble: ensemble, images: x, labels: y, h: 0.01, direction: .gradientSign, sharing: .shared, createGraph: false)
        let eigen = DiversityAnalysis.dominantEigenvalue(
            of: { crossEntropy(logits: ensemble.members[0]($0), labels: y, reduction: .sum) }, at: x,
            iterations: config.powerIterations)
        assertClose([report.topEigenvalue[0]], [eigen.mean().item()], rtol: 1e-9)
    }
}

@Suite(
    "EDLCM training", .enabled(if: fashionMNISTInstalled, "needs Debian's dataset-fashion-mnist"), .serialized,
    .exclusiveRandomGenerator)
struct EDLCMTrainingTests {
    @Test func zeroWeightsTrainExactlyLikeThePlainEnsemble() throws {
        let plainFolder = try temporaryDirectory()
        let edlcmFolder = try temporaryDirectory()
        defer {
            try? FileManager.default.removeItem(at: plainFolder)
            try? FileManager.default.removeItem(at: edlcmFolder)
        }
        let plain = smallConfig(trainLimit: 256)
        var zero = plain
        zero.method = .edlcm
        zero.alpha = 0
        zero.beta = 0
        let a = try Trainer(config: plain, output: plainFolder, resume: false, command: []).train()
        let b = try Trainer(config: zero, output: edlcmFolder, resume: false, command: []).train()
        #expect(a.map(\.losses) == b.map(\.losses))
        #expect(a.map(\.testAccuracy) == b.map(\.testAccuracy))
    }

    @Test func edlcmLogsEveryTerm() throws {
        let folder = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: folder) }
        var config = smallConfig(trainLimit: 128)
        config.method = .edlcm
        config.gradAlpha = 0.1
        let metrics = try Trainer(config: config, output: folder, resume: false, command: []).train()
        #expect(Set(metrics[0].losses.keys) == ["ce", "curvature", "dispersion", "gradient_dispersion", "total"])
        #expect(metrics[0].weights["dispersion"] == config.alpha)
        #expect(metrics[0].losses.values.allSatisfy { $0.isFinite })
    }
}

/// Seeds the generator, then builds an ensemble of `members` for `architecture` (in training
/// mode) and a batch of uniform random images with `labels`: the setting of the tests that compare
/// two ways of computing the same gradients.
func gradientTestSetup(_ architecture: Architecture, seed: UInt64, members: Int, labels: [Int64]) -> (
    config: TrainingConfig, ensemble: Ensemble, batch: Batch
) {
    var config = TrainingConfig()
    config.dataset = architecture == .cnn ? .fashionMNIST : .cifar10
    config.architecture = architecture
    Runtime.seed(seed)
    let ensemble = Ensemble(spec: config.modelSpec, count: members)
    ensemble.train()
    let spec = config.modelSpec
    let batch = Batch(images: Tensor.rand([labels.count, spec.channels, spec.height, spec.width]), labels: Tensor(labels))
    return (config, ensemble, batch)
}

@Suite("EDLCM low-memory step", .exclusiveRandomGenerator)
struct EDLCMLowMemoryTests {
    /// The training step backpropagates into the parameters only (not into the probe's input
    /// leaves); the parameters' gradients are those of `loss(...).total.backward()`.
    @Test(arguments: [Architecture.cnn, .resnet20])
    func stepGradientsEqualABackwardPassOfTheTotal(architecture: Architecture) {
        let (config, ensemble, batch) = gradientTestSetup(architecture, seed: 5, members: 2, labels: [0, 2, 4, 6])
        let initial = ensemble.stateTensors().map { $0.tensor.cloned() }
        var options = config.edlcmOptions
        options.alpha = 0.5
        options.beta = 0.1
        let objective = EDLCMObjective(options: options)
        let context = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
        func gradients(_ run: () -> Void) -> [Tensor] {
            withoutGradients {
                for (tensor, saved) in zip(ensemble.stateTensors().map(\.tensor), initial) { tensor.copy_(saved) }
            }
            ensemble.zeroGrad()
            Runtime.seed(6)
            run()
            return ensemble.parameters.map { $0.grad!.cloned() }
        }
        let reference = gradients { objective.loss(ensemble: ensemble, batch: batch, context: context).total.backward() }
        let step = gradients { _ = objective.accumulateGradients(ensemble: ensemble, batch: batch, context: context) }
        #expect(step.count == reference.count)
        for (gradient, expected) in zip(step, reference) {
            #expect((gradient - expected).abs().max().item() <= 1e-6 * expected.abs().max().item() + 1e-9)
        }
    }

    /// `--low-memory` (a values-only pass, then each member's graph rebuilt and backpropagated on
    /// its own with the regularisers' coefficients) must give the gradients of one backward pass of
    /// the whole loss, leave the same batch-norm statistics, and log the same terms: for the CNN
    /// and for ResNet-20 (batch norm), with the shared gradient-sign probe and with random
    /// per-member probes (drawn once).
    @Test(arguments: [
        (Architecture.cnn, ProbeDirection.gradientSign, ProbeSharing.shared),
        (.cnn, .rademacher, .perMember), (.resnet20, .gradientSign, .shared),
    ])
    func lowMemoryStepEqualsOneBackwardOfTheWholeLoss(
        architecture: Architecture, direction: ProbeDirection, sharing: ProbeSharing
    ) {
        let (config, ensemble, batch) = gradientTestSetup(architecture, seed: 3, members: 3, labels: [1, 3, 5, 7, 9])
        let initial = ensemble.stateTensors().map { $0.tensor.cloned() }
        var options = config.edlcmOptions
        options.alpha = 0.5
        options.beta = 0.1
        options.gradientAlpha = 0.2
        options.direction = direction
        options.sharing = sharing
        let context = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
        func step(lowMemory: Bool) -> (output: ObjectiveOutput, gradients: [Tensor], buffers: [Tensor]) {
            withoutGradients {
                for (tensor, saved) in zip(ensemble.stateTensors().map(\.tensor), initial) { tensor.copy_(saved) }
            }
            ensemble.zeroGrad()
            Runtime.seed(4)
            let output = EDLCMObjective(options: options, lowMemory: lowMemory).accumulateGradients(
                ensemble: ensemble, batch: batch, context: context)
            return (output, ensemble.parameters.map { $0.grad!.cloned() }, ensemble.namedBuffers().map { $0.tensor.cloned() })
        }
        let reference = step(lowMemory: false)
        let low = step(lowMemory: true)
        #expect(low.output.terms.map(\.name) == ["ce", "curvature", "dispersion", "gradient_dispersion"])
        #expect(low.output.terms.map(\.name) == reference.output.terms.map(\.name))
        #expect(low.output.terms.map(\.weight) == reference.output.terms.map(\.weight))
        assertClose(
            low.output.terms.map { $0.value.item() }, reference.output.terms.map { $0.value.item() }, rtol: 1e-4, atol: 1e-6)
        #expect(low.gradients.count == reference.gradients.count)
        for (gradient, expected) in zip(low.gradients, reference.gradients) {
            let scale = expected.abs().max().item()
            #expect((gradient - expected).abs().max().item() <= 1e-4 * scale + 1e-7)
        }
        // The regularisers reach the parameters: the low-memory gradients are not the plain ones.
        ensemble.zeroGrad()
        withoutGradients { for (tensor, saved) in zip(ensemble.stateTensors().map(\.tensor), initial) { tensor.copy_(saved) } }
        _ = BaselineObjective().accumulateGradients(ensemble: ensemble, batch: batch, context: context)
        let plain = ensemble.parameters.map { $0.grad!.cloned() }
        #expect(zip(low.gradients, plain).contains { ($0 - $1).abs().max().item() > 1e-3 * $1.abs().max().item() })
        #expect(low.buffers.count == reference.buffers.count)
        for (buffer, expected) in zip(low.buffers, reference.buffers) {
            #expect((buffer.converted(to: .float64) - expected.converted(to: .float64)).abs().max().item() <= 1e-5)
        }
        if architecture == .resnet20 { #expect(!low.buffers.isEmpty) }
    }
}
