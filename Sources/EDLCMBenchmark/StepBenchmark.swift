import EDLCMAttacks
import EDLCMCore
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Foundation
import Torch

/// The training-step configurations of the performance benchmark (issue: beat PyTorch from Python).
public enum BenchmarkCase: String, SettingChoice {
    /// 3 × small CNN on 28×28 grey images, batch 128, plain ensemble SGD step.
    case cnnPlain = "cnn-plain"
    /// The same with the EDLCM step (h = 0.01, shared gradient-sign z, α = 0.5, β = 0.01).
    case cnnEDLCM = "cnn-edlcm"
    /// 3 × ResNet-20 on 32×32 RGB images, batch 64, plain ensemble SGD step.
    case resnetPlain = "resnet-plain"
    /// The same with the EDLCM step.
    case resnetEDLCM = "resnet-edlcm"
    /// L∞ PGD-50 (ε 0.1, random start, steps of 2.5ε/50, cross-entropy on the log-averaged
    /// softmax, no early stop) against 3 × small CNN in evaluation mode, on a batch of 128.
    case cnnPGD = "cnn-pgd"
    /// The same against 3 × ResNet-20, batch 64.
    case resnetPGD = "resnet-pgd"
    /// APGD-T as AutoAttack's standard version runs it (9 target classes, ε 0.1, ``StepBenchmark/autoAttackIterations``
    /// iterations each) against 3 × small CNN on the log-averaged softmax, batch 128, labels the
    /// ensemble's own predictions, no early stop: the per-iteration cost of the standard preset.
    case cnnAPGDT = "cnn-apgd-t"
    /// FAB-T the same way (9 target classes, each ``StepBenchmark/autoAttackIterations`` iterations).
    case cnnFABT = "cnn-fab-t"

    public var architecture: Architecture {
        [.cnnPlain, .cnnEDLCM, .cnnPGD, .cnnAPGDT, .cnnFABT].contains(self) ? .cnn : .resnet20
    }
    public var isEDLCM: Bool { self == .cnnEDLCM || self == .resnetEDLCM }
    public var isAttack: Bool { [.cnnPGD, .resnetPGD, .cnnAPGDT, .cnnFABT].contains(self) }
    /// The default batch: 128 for the CNN cases, 64 for ResNet-20 (`--batch` sets another).
    public var batchSize: Int { architecture == .cnn ? 128 : 64 }
    public var dataset: DatasetName { architecture == .cnn ? .fashionMNIST : .cifar10 }
}

/// One measured configuration.
public struct BenchmarkResult: Codable, Sendable {
    public var name: String
    public var imagesPerSecond: Double
    public var secondsPerStep: Double
    public var steps: Int
    /// Images per batch (nil in lines written before `--batch` existed: the case's default).
    public var batch: Int?
    public var threads: Int
    /// Estimated floating-point operations per second (see ``StepBenchmark/forwardFLOPs(_:)``).
    public var gflops: Double
    /// The kernel of the fully connected layers.
    public var denseKernel: DenseKernel
    /// Whether the EDLCM step held one member's graph at a time.
    public var lowMemory: Bool
    /// The process's peak resident memory (MiB), set by the process that ran the benchmark.
    public var peakRSSMB: Double?
    /// The best rate of a large convolution on the same threads, and this case's share of it.
    public var peakGFLOPs: Double?
    public var percentOfPeak: Double?
    /// Where it ran ("cpu", "cuda:0").
    public var device: String?

    enum CodingKeys: String, CodingKey {
        case name, steps, batch, threads, gflops, device
        case lowMemory = "low_memory"
        case denseKernel = "dense_kernel"
        case imagesPerSecond = "images_per_second", secondsPerStep = "seconds_per_step"
        case peakRSSMB = "peak_rss_mb", peakGFLOPs = "peak_gflops", percentOfPeak = "percent_of_peak"
    }
}

/// Times training steps on synthetic batches with the same math as `bench/reference.py`.
public enum StepBenchmark {
    /// The PGD iterations of the attack cases.
    public static let attackSteps = 50
    /// The iterations per target class of the APGD-T and FAB-T cases.
    public static let autoAttackIterations = 20

    /// How many times an attack case runs the whole PGD-50 for `steps` (one run per 10 steps,
    /// at least one): a PGD-50 run is about as long as 10 to 20 training steps.
    public static func attackRuns(steps: Int) -> Int { max(1, (steps + 9) / 10) }

    /// Runs `warmup` untimed and `steps` timed steps of one configuration (for an attack case, one
    /// untimed PGD-2 and ``attackRuns(steps:)`` timed PGD-50 runs).
    public static func run(
        _ benchmark: BenchmarkCase, steps: Int, batchSize: Int? = nil, warmup: Int = 2, seed: UInt64 = 0,
        denseKernel: DenseKernel = .convolution, lowMemory: Bool = false, device: Device = .cpu
    ) throws -> BenchmarkResult {
        let batchSize = batchSize ?? benchmark.batchSize
        if benchmark.isAttack {
            return try runAttack(
                benchmark, runs: attackRuns(steps: steps), batchSize: batchSize, seed: seed, denseKernel: denseKernel,
                device: device)
        }
        let (ensemble, batch, spec) = setUp(
            benchmark, batchSize: batchSize, seed: seed, denseKernel: denseKernel, device: device)
        ensemble.train()
        let optimizer = SGD(parameters: ensemble.parameters, learningRate: 0.01, momentum: 0.9)
        // EDLCM with the training defaults (the cost of a step does not depend on their values).
        var config = TrainingConfig()
        config.method = .edlcm
        let objective: any EnsembleObjective =
            benchmark.isEDLCM
            ? EDLCMObjective(options: config.edlcmOptions, lowMemory: lowMemory)
            : BaselineObjective()
        let context = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
        func step() {
            optimizer.zeroGrad()
            _ = objective.accumulateGradients(ensemble: ensemble, batch: batch, context: context)
            optimizer.step()
        }
        for _ in 0..<warmup { step() }
        device.synchronize()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<steps { step() }
        device.synchronize()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        let flopsPerStep =
            Double(forwardFLOPs(ensemble.members[0], spec: spec) * 3 * batchSize) * (benchmark.isEDLCM ? 10 : 3)
        return BenchmarkResult(
            name: benchmark.rawValue, imagesPerSecond: Double(steps * batchSize) / seconds,
            secondsPerStep: seconds / Double(steps), steps: steps, batch: batchSize, threads: Runtime.threadCount,
            gflops: flopsPerStep * Double(steps) / seconds / 1e9, denseKernel: denseKernel, lowMemory: lowMemory,
            device: device.description)
    }

    /// Seeds the generator, then builds three freshly initialised members of the case's
    /// architecture and a batch of uniform random images with random labels, drawn on the CPU and
    /// moved to `device`.
    static func setUp(
        _ benchmark: BenchmarkCase, batchSize: Int, seed: UInt64, denseKernel: DenseKernel, device: Device = .cpu
    ) -> (Ensemble, Batch, ModelSpec) {
        Runtime.seed(seed)
        var config = TrainingConfig()
        config.dataset = benchmark.dataset
        config.architecture = benchmark.architecture
        let spec = config.modelSpec
        let ensemble = Ensemble(spec: spec, count: 3)
        ensemble.setDenseKernel(denseKernel)
        let images = Tensor.rand([batchSize, spec.channels, spec.height, spec.width])
        let labels = Tensor.randint(0..<spec.classCount, shape: [batchSize])
        ensemble.move(to: device)
        return (ensemble, Batch(images: images, labels: labels).on(device), spec)
    }

    /// PGD-50 (or APGD-T, FAB-T) against a freshly initialised ensemble on uniform random images:
    /// the attack's cost does not depend on the weights when no example leaves the batch early.
    static func runAttack(
        _ benchmark: BenchmarkCase, runs: Int, batchSize: Int, seed: UInt64, denseKernel: DenseKernel,
        device: Device = .cpu
    ) throws -> BenchmarkResult {
        let (ensemble, batch, spec) = setUp(
            benchmark, batchSize: batchSize, seed: seed, denseKernel: denseKernel, device: device)
        let images = batch.images
        let target = EnsembleTarget(ensemble: ensemble, objective: .probabilities)
        ensemble.eval()
        // The targeted attacks start from correctly classified images, as AutoAttack attacks only those.
        let labels =
            benchmark == .cnnPGD || benchmark == .resnetPGD
            ? batch.labels : withoutGradients { ensemble(images).argmax(alongAxis: 1) }
        let context = AttackContext(
            epsilon: 0.1, norm: .linf, seeds: (0..<batchSize).map(UInt64.init), stopOnSuccess: false)
        func attack(steps: Int) throws {
            let attack: any Attack =
                switch benchmark {
                case .cnnAPGDT: APGD(APGD.Configuration(loss: .dlr, steps: steps, targetClasses: 9))
                case .cnnFABT: FAB(FAB.Configuration(steps: steps, targetClasses: 9))
                default: PGD(PGD.Configuration(steps: steps))
                }
            _ = try attack.perturb(images, labels: labels, target: target, context: context)
        }
        let iterations = benchmark == .cnnPGD || benchmark == .resnetPGD ? attackSteps : autoAttackIterations
        // Iterations per run: 9 target classes for APGD-T and FAB-T.
        let perRun = benchmark == .cnnPGD || benchmark == .resnetPGD ? iterations : 9 * iterations
        try attack(steps: 2)
        device.synchronize()
        let start = DispatchTime.now().uptimeNanoseconds
        for _ in 0..<runs { try attack(steps: iterations) }
        device.synchronize()
        let seconds = Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
        // Each iteration: a forward pass and an input-gradient pass (≈ 2 forwards) of 3 members
        // (FAB-T: one more forward, not counted).
        let flops = Double(forwardFLOPs(ensemble.members[0], spec: spec) * 3 * batchSize * 2 * perRun * runs)
        return BenchmarkResult(
            name: benchmark.rawValue, imagesPerSecond: Double(runs * batchSize) / seconds,
            secondsPerStep: seconds / Double(runs), steps: runs, batch: batchSize, threads: Runtime.threadCount,
            gflops: flops / seconds / 1e9, denseKernel: denseKernel, lowMemory: false, device: device.description)
    }

    /// The reference for "achieved GFLOP/s": the best rate libtorch reaches on this thread count,
    /// measured on a large convolution (512 → 512 channels, 3×3, 16×16, batch 8: 9.7 GFLOP a call,
    /// where oneDNN's kernels run near the cores' vector peak); the best of `repeats` timed calls
    /// after two untimed ones. Every configuration's GFLOP/s is reported against it.
    public static func peakGFLOPs(repeats: Int = 5, device: Device = .cpu) -> Double {
        let input = Tensor.randn([8, 512, 16, 16], on: device)
        let weight = Tensor.randn([512, 512, 3, 3], on: device)
        let flops = Double(peakConvolutionFLOPs)
        return withoutGradients {
            for _ in 0..<2 { _ = conv2d(input, weight: weight, padding: (1, 1)) }
            var best = Double.infinity
            for _ in 0..<max(repeats, 1) {
                device.synchronize()
                let start = DispatchTime.now().uptimeNanoseconds
                _ = conv2d(input, weight: weight, padding: (1, 1))
                device.synchronize()
                best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9)
            }
            return flops / best / 1e9
        }
    }

    /// 2 · 512 · 512 · 9 · 16 · 16 · 8: the floating-point operations of one ``peakGFLOPs(repeats:)`` call.
    static let peakConvolutionFLOPs = 2 * 512 * 512 * 9 * 16 * 16 * 8

    /// Multiply-adds ×2 of one image's forward pass through the convolutions and linear layers.
    ///
    /// A training step is counted as 3 forwards (forward + backward ≈ 2×); an EDLCM step as 10
    /// (two forwards and two input-gradient passes, whose double backward roughly doubles them).
    /// These are estimates for the "achieved GFLOP/s" column, not measurements.
    public static func forwardFLOPs(_ network: any Classifier, spec: ModelSpec) -> Int {
        var total = 0
        var height = spec.height, width = spec.width
        func visit(_ module: any Module) {
            if let conv = module as? Conv2d {
                let shape = conv.weight.shape
                height = (height + 2 * conv.padding - shape[2]) / conv.stride + 1
                width = (width + 2 * conv.padding - shape[3]) / conv.stride + 1
                total += 2 * shape[0] * shape[1] * shape[2] * shape[3] * height * width
                if network is SmallCNN {
                    height /= 2
                    width /= 2
                }
            } else if let layer = module as? Linear {
                total += 2 * layer.weight.shape[0] * layer.weight.shape[1]
            }
            for child in module.children { visit(child.module) }
        }
        if network is ResNet20 {
            // Shapes change inside the stages; count them stage by stage.
            return resNetFLOPs(network, spec: spec)
        }
        visit(network)
        return total
    }

    private static func resNetFLOPs(_ network: any Classifier, spec: ModelSpec) -> Int {
        var total = 0
        let widths = [16, 32, 64].map { $0 * spec.widthMultiplier }
        var size = spec.height * spec.width
        total += 2 * spec.channels * widths[0] * 9 * size
        var channels = widths[0]
        for (stage, width) in widths.enumerated() {
            for block in 0..<3 {
                if stage > 0 && block == 0 { size /= 4 }
                total += 2 * channels * width * 9 * size + 2 * width * width * 9 * size
                channels = width
            }
        }
        return total + 2 * widths[2] * spec.classCount
    }
}

/// The process's peak resident memory in bytes (Linux `VmHWM`).
public func peakResidentBytes() -> Int {
    guard let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
        let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") })
    else { return 0 }
    let kilobytes = line.split(separator: " ").compactMap { Int($0) }.first ?? 0
    return kilobytes * 1024
}

extension DenseKernel: SettingChoice {}

/// The settings of `edlcm bench`.
public struct BenchConfig: SettingsGroup {
    @Setting("Configurations to run.") public var cases: [BenchmarkCase] = BenchmarkCase.allCases
    @Setting(
        "Timed steps per configuration; the attack cases run their attack (PGD-50; APGD-T, FAB-T: 9 × 20 iterations) once per 10 steps.",
        .atLeast(1))
    public var steps = 10
    @Setting("Images per batch.", .ifSet(.atLeast(1)), defaultText: "128 for the CNN cases, 64 for ResNet-20")
    public var batch: Int? = nil
    @Setting("Kernel of the fully connected layers: convolution (oneDNN) or gemm (at::linear, libtorch's BLAS).")
    public var denseKernel: DenseKernel = .convolution
    public var memory = MemorySettings()
    public var runtime = RuntimeSettings()

    public init() {}
}
