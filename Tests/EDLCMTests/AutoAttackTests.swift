import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMCore
@testable import EDLCMModels

/// An affine classifier z = W·x + b on 1×4×4 images, for closed-form minimal perturbations.
final class AffineClassifier: Classifier {
    let layer: Linear
    var isTraining = false
    let spec: ModelSpec

    init(weights: [[Float]], bias: [Float]) {
        spec = ModelSpec(architecture: .cnn, channels: 1, height: 4, width: 4, classCount: weights.count, mean: [0], std: [1])
        layer = Linear(inputCount: 16, outputCount: weights.count)
        withoutGradients {
            layer.weight.copy_(Tensor(weights.flatMap { $0 }, shape: [weights.count, 16]))
            layer.bias!.copy_(Tensor(bias))
        }
    }

    var children: [(name: String, module: any Module)] { [("layer", layer)] }
    func callAsFunction(_ input: Tensor) -> Tensor { layer(input.flattened(startAxis: 1)) }
}

/// The Python with PyTorch and the reference AutoAttack code (PyPI's `pyautoattack`, which
/// `make test` installs into .venv).
let autoAttackPython: String? = {
    let python =
        ProcessInfo.processInfo.environment["EDLCM_TEST_PYTHON"] ?? repositoryRoot.appendingPathComponent(".venv/bin/python").path
    guard FileManager.default.isExecutableFile(atPath: python),
        let check = try? runProcess(python, ["-c", "import torch, safetensors, pyautoattack"]), check.status == 0
    else { return nil }
    return python
}()

@Suite("APGD-T and FAB-T")
struct AutoAttackTests {
    /// Two classes, z₁ − z₀ = v·x + c: the nearest point of the other class is at distance
    /// (z₀ − z₁)/‖v‖₁ (L∞) or /‖v‖₂ (L2) while the box [0, 1] does not bind.
    @Test("FAB-T finds the closed-form minimal perturbation of an affine classifier", arguments: PerturbationNorm.allCases)
    func fabOnAffineClassifier(norm: PerturbationNorm) throws {
        var generator = SeededGenerator(seed: 42)
        let v = (0..<16).map { _ in Float(generator.nextUnit() * 2 - 1) }
        // c puts the boundary at L∞ distance 0.1 from the grey image 0.5.
        let c = -0.5 * v.reduce(0, +) - 0.1 * v.map(abs).reduce(0, +)
        let model = AffineClassifier(weights: [[Float](repeating: 0, count: 16), v], bias: [0, c])
        let ensemble = Ensemble(members: [model], output: .averagedLogits)
        // Images near 0.5, all classified 0 (v·x + c < 0 for these values).
        let count = 6
        let pixels = (0..<count * 16).map { _ in Float(0.45 + generator.nextUnit() * 0.1) }
        let images = Tensor(pixels, shape: [count, 1, 4, 4])
        let labels = Tensor([Int64](repeating: 0, count: count))
        let dual = norm == .linf ? v.map { Double(abs($0)) }.reduce(0, +) : v.map { Double($0 * $0) }.reduce(0, +).squareRoot()
        let expected = (0..<count).map { i -> Double in
            let margin = zip(v, pixels[(i * 16)..<(i * 16 + 16)]).map { Double($0 * $1) }.reduce(0, +) + Double(c)
            return -margin / dual
        }
        // The minimal step moves a pixel by at most this much (pixels lie in [0.45, 0.55]): the box does not bind.
        let largestShift = norm == .linf ? 1 : Double(v.map(abs).max()!) / dual
        #expect(
            expected.allSatisfy { $0 > 0 && $0 * largestShift < 0.45 },
            "the fixture's distances \(expected) should not touch the box")
        let output = try runAttack(
            FAB(FAB.Configuration(steps: 100)), on: ensemble, images: images, labels: labels, epsilon: 1, norm: norm,
            stopOnSuccess: false)
        #expect(output.success.allSatisfy { $0 })
        let found = norm.norms(output.adversarial - images).scalars(as: Double.self)
        for (distance, minimal) in zip(found, expected) {
            #expect(distance >= minimal * (1 - 1e-4), "\(distance) is below the minimal \(minimal): not adversarial")
            #expect(distance <= minimal * 1.01, "\(distance) is more than 1 % above the minimal \(minimal)")
        }
        // Just below the minimal radius nothing can succeed; just above, everything does.
        for (scale, succeeds) in [(0.99, false), (1.02, true)] {
            for i in 0..<count {
                let one = images[i..<(i + 1)]
                let result = try runAttack(
                    FAB(), on: ensemble, images: one, labels: labels[i..<(i + 1)], epsilon: expected[i] * scale, norm: norm)
                #expect(result.success == [succeeds], "image \(i) at \(scale) × the minimal radius")
            }
        }
    }

    /// Projections onto a hyperplane within the box, against a brute-force check: the step lands on
    /// the hyperplane, stays in [0, 1], and no random feasible step of that hyperplane is shorter.
    @Test("FAB's projections land on the hyperplane inside the box with the minimal norm", arguments: PerturbationNorm.allCases)
    func projections(norm: PerturbationNorm) {
        var generator = SeededGenerator(seed: 7)
        let rows = 8, dimensions = 12
        let points = Tensor((0..<rows * dimensions).map { _ in Float(generator.nextUnit()) }, shape: [rows, dimensions])
        let normals = Tensor((0..<rows * dimensions).map { _ in Float(generator.nextGaussian()) }, shape: [rows, dimensions])
        // Offsets near w·t so that the plane is reachable inside the box.
        let offsets = (normals * points).sum(alongAxes: [1]) + Tensor((0..<rows).map { _ in Float(generator.nextGaussian()) })
        let step = FAB.projectOntoHyperplane(norm: norm, points: points, normals: normals, offsets: offsets)
        let landed = points + step
        let residual = ((normals * landed).sum(alongAxes: [1]) - offsets).abs().scalars(as: Double.self)
        let lengths = norm.norms(step).scalars(as: Double.self)
        #expect(landed.min().item() >= -1e-6 && landed.max().item() <= 1 + 1e-6)
        for row in 0..<rows where residual[row] > 1e-4 {
            // Unreachable inside the box: then the step goes to the box's best corner (not tested further).
            let w = normals[row].scalars(as: Float.self), t = points[row].scalars(as: Float.self)
            let reachable = zip(w, t).map { Double($0 > 0 ? $0 * (1 - $1) : -$0 * $1) }.reduce(0, +)
            let lowest = zip(w, t).map { Double($0 > 0 ? -$0 * $1 : $0 * (1 - $1)) }.reduce(0, +)
            let needed = Double(offsets[row].item()) - zip(w, t).map { Double($0 * $1) }.reduce(0, +)
            #expect(needed > reachable || needed < lowest, "row \(row) missed a reachable hyperplane by \(residual[row])")
        }
        // No feasible step found by random search is shorter (up to float rounding).
        for row in 0..<rows where residual[row] <= 1e-4 {
            let w = normals[row].scalars(as: Float.self).map(Double.init),
                t = points[row].scalars(as: Float.self).map(Double.init)
            let b = Double(offsets[row].item())
            for _ in 0..<2000 {
                var d = (0..<dimensions).map { _ in generator.nextGaussian() * lengths[row] }
                // Move along w onto the plane, then check the box.
                let gap = b - zip(w, zip(t, d)).map { $0 * ($1.0 + $1.1) }.reduce(0, +)
                let ww = w.map { $0 * $0 }.reduce(0, +)
                d = zip(d, w).map { $0 + gap / ww * $1 }
                guard zip(t, d).allSatisfy({ (0...1).contains($0 + $1) }) else { continue }
                let length = norm == .linf ? d.map(abs).max()! : d.map { $0 * $0 }.reduce(0, +).squareRoot()
                #expect(length >= lengths[row] * (1 - 1e-4), "row \(row): a feasible step of norm \(length) < \(lengths[row])")
            }
        }
    }

    @Test("APGD-T and FAB-T refuse a targeted goal and too few classes")
    func refusals() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 4, seed: 3)
        let targets = Tensor([Int64]([1, 2, 3, 0]))
        expectError(startingWith: "APGD-T has no targeted version") {
            _ = try runAttack(
                AttackName.apgdT.makeAttack(), on: ensemble, images: images, labels: labels, epsilon: 0.1, targets: targets)
        }
        expectError(startingWith: "FAB-T has no targeted version") {
            _ = try runAttack(
                AttackName.fabT.makeAttack(), on: ensemble, images: images, labels: labels, epsilon: 0.1, targets: targets)
        }
        let twoClasses = Ensemble(
            members: [
                AffineClassifier(weights: [[Float](repeating: 0, count: 16), [Float](repeating: 1, count: 16)], bias: [0, 0])
            ],
            output: .averagedLogits)
        expectError(startingWith: "APGD-T needs at least 4 classes") {
            _ = try runAttack(
                AttackName.apgdT.makeAttack(), on: twoClasses, images: Tensor.zeros([1, 1, 4, 4]), labels: Tensor([Int64(0)]),
                epsilon: 0.1)
        }
    }

    @Test("APGD-T attacks toward the runner-up classes of the clean output and succeeds by misclassification")
    func apgdTargetsRunnersUp() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 64, seed: 11)
        let attack = APGD(APGD.Configuration(loss: .dlr, steps: 20, targetClasses: 3))
        let output = try runAttack(attack, on: ensemble, images: images, labels: labels, epsilon: 0.15)
        let decision = withoutGradients { ensemble(output.adversarial) }
        #expect(output.success == attackSucceeded(decision, labels: labels, targets: nil))
        // More target classes can only break more images (the same seeds for the first classes).
        let one = try runAttack(
            APGD(APGD.Configuration(loss: .dlr, steps: 20, targetClasses: 1)), on: ensemble, images: images, labels: labels,
            epsilon: 0.15)
        #expect(zip(one.success, output.success).allSatisfy { !$0 || $1 })
        #expect(rate(output.success) > 0.2 && rate(output.success) < 1)
    }

    /// Square's p at every iteration of a 5 000-query run, as AutoAttack's Square computes it
    /// (`p_selection` of pyautoattack's `SquareAttack`, p_init 0.8): with `resc_schedule=False` (the
    /// standard version's setting, our `autoattack` schedule) and with `True` (our default).
    @Test(
        "Square's schedule of p matches the reference code at every iteration, both ways",
        .enabled(if: autoAttackPython != nil, "needs Python with torch, safetensors and pyautoattack (make test creates .venv)"))
    func squareScheduleMatchesReference() throws {
        let python = try #require(autoAttackPython)
        let script = """
            from pyautoattack.square import SquareAttack
            for rescale in (False, True):
                attack = SquareAttack(lambda x: x, p_init=0.8, n_queries=5000, resc_schedule=rescale, device='cpu')
                print(' '.join(repr(attack.p_selection(i)) for i in range(5000)))
            """
        let result = try runProcess(python, ["-c", script])
        try #require(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { !$0.isEmpty }
        try #require(lines.count == 2)
        for (line, schedule) in zip(lines, [SquareSchedule.autoattack, .rescaled]) {
            let reference = line.split(separator: " ").map { Double($0)! }
            #expect(reference.count == 5000)
            let ours = (0..<5000).map { SquareAttack.fraction(initial: 0.8, iteration: $0, total: 5000, schedule: schedule) }
            let first = zip(ours, reference).enumerated().first { $0.element.0 != $0.element.1 }
            #expect(
                first == nil,
                "\(schedule): iteration \(first?.offset ?? -1): ours \(first?.element.0 ?? 0), reference \(first?.element.1 ?? 0)"
            )
        }
        // The standard version's schedule ends at p_init/128 within 5 000 queries; the rescaled one at p_init/512.
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 4998, total: 5000, schedule: .autoattack) == 0.8 / 128)
        #expect(SquareAttack.fraction(initial: 0.8, iteration: 4998, total: 5000, schedule: .rescaled) == 0.8 / 512)
    }

    /// The reference: fra31/auto-attack's APGD-T and FAB-T (PyPI `pyautoattack`), run on the same
    /// weights, images and budget. Our robust accuracy may not be above theirs by more than 1 point.
    @Test(
        "APGD-T and FAB-T are at least as strong as the reference AutoAttack code on the same weights",
        .enabled(if: autoAttackPython != nil, "needs Python with torch, safetensors and pyautoattack (make test creates .venv)"))
    func matchReference() throws {
        let python = try #require(autoAttackPython)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let ensemble = AttackFixtures.ensemble()
        let count = 200
        let (images, labels) = AttackFixtures.dataset(count: count, seed: 99)
        let file = directory.appendingPathComponent("model.safetensors")
        try Checkpoint.save(
            ensemble.stateTensors() + [("images", images), ("labels", labels)], metadata: ["format": "pt"], to: file)
        let epsilon = 0.12
        let steps = 20
        let script = """
            import sys, torch
            from safetensors.torch import load_file
            from pyautoattack.autopgd_base import APGDAttack_targeted
            from pyautoattack.fab_pt import FABAttack_PT
            torch.set_num_threads(2)
            t = load_file(sys.argv[1])
            class Tiny(torch.nn.Module):
                def __init__(self):
                    super().__init__()
                    self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
                    self.fc = torch.nn.Linear(128, 4)
                def forward(self, x):
                    x = torch.nn.functional.max_pool2d(torch.relu(self.conv((x - 0.5) * 4)), 2)
                    return self.fc(x.flatten(1))
            members = []
            for m in range(3):
                net = Tiny()
                net.load_state_dict({k.split('.', 1)[1]: v for k, v in t.items() if k.startswith(f'member{m}.')})
                net.eval()
                members.append(net)
            def ensemble(x):
                logp = torch.stack([torch.log_softmax(n(x), 1) for n in members])
                return torch.logsumexp(logp, 0) - torch.log(torch.tensor(3.0))
            x, y = t['images'], t['labels']
            eps, steps = float(sys.argv[2]), int(sys.argv[3])
            with torch.no_grad():
                clean = ensemble(x).argmax(1) == y
            apgdt = APGDAttack_targeted(ensemble, norm='Linf', eps=eps, n_iter=steps, n_restarts=1, n_target_classes=3,
                                        seed=0, device='cpu')
            adv = apgdt.perturb(x, y)
            with torch.no_grad():
                robust = clean & (ensemble(adv).argmax(1) == y) & ((adv - x).abs().flatten(1).max(1)[0] <= eps + 1e-6)
            print('apgd-t', robust.float().mean().item())
            fab = FABAttack_PT(ensemble, norm='Linf', n_restarts=1, n_iter=steps, eps=eps, seed=0, targeted=True,
                               n_target_classes=3, device='cpu')
            adv = fab.perturb(x, y)
            with torch.no_grad():
                robust = clean & (ensemble(adv).argmax(1) == y) & ((adv - x).abs().flatten(1).max(1)[0] <= eps + 1e-6)
            print('fab-t', robust.float().mean().item())
            """
        let scriptURL = directory.appendingPathComponent("reference.py")
        try script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let result = try runProcess(python, [scriptURL.path, file.path, String(epsilon), String(steps)])
        #expect(result.status == 0, "python: \(result.output)")
        var reference: [String: Double] = [:]
        for line in result.output.split(separator: "\n") {
            let parts = line.split(separator: " ")
            if parts.count == 2, let value = Double(parts[1]) { reference[String(parts[0])] = value }
        }
        let clean = attackSucceeded(withoutGradients { ensemble(images) }, labels: labels, targets: nil).map { !$0 }
        for (name, attack) in [
            ("apgd-t", APGD(APGD.Configuration(loss: .dlr, steps: steps, targetClasses: 3)) as any Attack),
            ("fab-t", FAB(FAB.Configuration(steps: steps, targetClasses: 3))),
        ] {
            let theirs = try #require(reference[name], "no \(name) line in: \(result.output)")
            let output = try runAttack(attack, on: ensemble, images: images, labels: labels, epsilon: epsilon)
            let ours = Double(zip(clean, output.success).filter { $0 && !$1 }.count) / Double(count)
            #expect(ours <= theirs + 0.01, "\(name): our robust accuracy \(ours) vs the reference's \(theirs)")
            print("\(name): robust accuracy \(ours), reference \(theirs)")
            #expect(
                ours > 0.05 && ours < Double(clean.filter { $0 }.count) / Double(count), "\(name): ε should break some images")
        }
    }
}
