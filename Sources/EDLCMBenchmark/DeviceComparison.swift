import EDLCMAttacks
import EDLCMData
import EDLCMDefenses
import EDLCMModels
import EDLCMTraining
import Torch

/// The same fixed computations on the CPU and on another device, compared: a forward pass, a
/// finite-difference HVP, one training step of every method, and APGD-CE and Square on fixed
/// seeds (`edlcm device-check`, scripts/gpu-check.sh). The members are initialised on the CPU
/// from one seed and moved, and every random draw comes from the CPU generator or the attacks'
/// per-image generators, so the two sides start from the same numbers; what differs is the
/// devices' arithmetic (reduction order, cuDNN's algorithms, TF32 where libtorch allows it).
public enum DeviceComparison {
    /// One comparison: the largest difference between the two sides, against its tolerance.
    public struct Check: Codable, Sendable {
        public var name: String
        /// max |device − cpu| over the compared values, divided by max |cpu| (or, for the attacks,
        /// the images whose outcome differs, as a fraction of the batch).
        public var difference: Double
        public var tolerance: Double
        public var passed: Bool { difference <= tolerance }
    }

    /// Float32 tolerances: a forward pass and an HVP agree to about 1e-5 of their scale on a GPU
    /// without TF32 (libtorch's default for convolutions allows TF32 on Ampere and later, about
    /// 1e-3); one optimiser step moves the weights by the learning rate times a gradient, so its
    /// difference is measured on the update itself. Attacks follow sign(∇) and argmax decisions,
    /// so a tiny difference can change an image's path: at most 1 image in 16 may differ.
    public static let valueTolerance = 5e-3
    public static let attackTolerance = 1.0 / 16

    /// Runs every check on `device` against the CPU (the forward, HVP and step checks for each of
    /// `architectures`, the attacks on the CNN).
    public static func run(device: Device, seed: UInt64 = 0, architectures: [Architecture] = [.cnn, .resnet20]) throws
        -> [Check]
    {
        var checks: [Check] = []
        for architecture in architectures {
            var config = TrainingConfig()
            config.dataset = architecture == .cnn ? .fashionMNIST : .cifar10
            config.architecture = architecture
            config.members = 3
            let spec = config.modelSpec
            let batchSize = architecture == .cnn ? 16 : 8
            Runtime.seed(seed)
            let images = Tensor.rand([batchSize, spec.channels, spec.height, spec.width])
            let labels = Tensor.randint(0..<spec.classCount, shape: [batchSize])
            let paired = Tensor.rand([batchSize, spec.channels, spec.height, spec.width])
            let name = architecture.rawValue

            let (cpu, moved) = pair(config, seed: seed, device: device)
            checks.append(
                compare(
                    "\(name) forward", withoutGradients { cpu.memberLogits(images) },
                    withoutGradients { moved.memberLogits(images.on(device)) }))

            Runtime.seed(seed)
            let probe = HessianProbe(
                ensemble: cpu, images: images, labels: labels, h: 0.01, direction: .gaussian, sharing: .shared,
                createGraph: false)
            Runtime.seed(seed)
            let movedProbe = HessianProbe(
                ensemble: moved, images: images.on(device), labels: labels.on(device), h: 0.01, direction: .gaussian,
                sharing: .shared, createGraph: false)
            checks.append(compare("\(name) HVP", probe.products, movedProbe.products))

            var methods: [(String, TrainingConfig)] = TrainingMethod.allCases.map { method in
                var methodConfig = config
                methodConfig.method = method
                return (method.rawValue, methodConfig)
            }
            var adversarial = config
            adversarial.adversarial = .pgd
            methods.append(("pgd-at", adversarial))
            for (method, methodConfig) in methods {
                let cpuUpdate = try step(pair(methodConfig, seed: seed, device: .cpu).0, methodConfig, images, labels, paired)
                let deviceUpdate = try step(
                    pair(methodConfig, seed: seed, device: device).1, methodConfig, images.on(device), labels.on(device),
                    paired.on(device))
                checks.append(compare("\(name) \(method) step", cpuUpdate, deviceUpdate))
            }
        }

        // Attacks on the CNN, on fixed per-image seeds.
        var config = TrainingConfig()
        config.members = 3
        let spec = config.modelSpec
        Runtime.seed(seed)
        let images = Tensor.rand([32, spec.channels, spec.height, spec.width])
        let (cpu, moved) = pair(config, seed: seed, device: device)
        cpu.eval()
        moved.eval()
        let labels = withoutGradients { cpu(images).argmax(alongAxis: 1) }
        let context = AttackContext(epsilon: 0.1, norm: .linf, seeds: (0..<32).map { UInt64($0) + seed })
        let attacks: [(String, any Attack)] = [
            ("APGD-CE", APGD(APGD.Configuration(steps: 20))),
            ("Square", SquareAttack(SquareAttack.Configuration(queries: 200))),
        ]
        for (name, attack) in attacks {
            let onCPU = try attack.perturb(
                images, labels: labels, target: EnsembleTarget.deployed(cpu), context: context)
            let onDevice = try attack.perturb(
                images.on(device), labels: labels.on(device), target: EnsembleTarget.deployed(moved), context: context)
            let differing = zip(onCPU.success, onDevice.success).filter { $0 != $1 }.count
            checks.append(Check(name: "cnn \(name)", difference: Double(differing) / 32, tolerance: attackTolerance))
        }
        return checks
    }

    /// Two ensembles with the same initial weights: one on the CPU, one moved to `device`.
    static func pair(_ config: TrainingConfig, seed: UInt64, device: Device) -> (Ensemble, Ensemble) {
        Runtime.seed(seed)
        let cpu = Ensemble(spec: config.modelSpec, count: config.members, output: config.ensembleOutput)
        Runtime.seed(seed)
        let moved = Ensemble(spec: config.modelSpec, count: config.members, output: config.ensembleOutput)
        moved.move(to: device)
        return (cpu, moved)
    }

    /// One SGD step of the method's objective; returns each parameter's update.
    static func step(_ ensemble: Ensemble, _ config: TrainingConfig, _ images: Tensor, _ labels: Tensor, _ paired: Tensor)
        throws -> [Tensor]
    {
        ensemble.train()
        let before = ensemble.parameters.map { $0.detached().cloned() }
        let optimizer = SGD(parameters: ensemble.parameters, learningRate: 0.1, momentum: 0)
        let objective = TrainingSetup.makeObjective(config)
        let batch = Batch(images: images, labels: labels, pairedImages: objective.needsPairedImages ? paired : nil)
        // The objectives that draw (HVP directions, random starts) draw from the CPU generator.
        Runtime.seed(7)
        optimizer.zeroGrad()
        _ = objective.accumulateGradients(
            ensemble: ensemble, batch: batch, context: TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1))
        optimizer.step()
        return zip(ensemble.parameters, before).map { $0.detached() - $1 }
    }

    /// max |b − a| / max |a| over paired tensors (b brought back to the CPU).
    static func compare(_ name: String, _ a: [Tensor], _ b: [Tensor]) -> Check {
        var largest = 0.0
        var scale = 0.0
        for (x, y) in zip(a, b) {
            let host = y.on(.cpu)
            largest = max(largest, (host - x).abs().max().item())
            scale = max(scale, x.abs().max().item())
        }
        return Check(name: name, difference: scale > 0 ? largest / scale : largest, tolerance: valueTolerance)
    }
}
