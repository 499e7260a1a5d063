import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMAttacks
@testable import EDLCMCore
@testable import EDLCMEvaluation
@testable import EDLCMModels

@Suite("MORA")
struct MORATests {
    /// wₘ = M·∂(log P̄_c − log P̄_y)/∂zₘ,c with τ = 1 and κ = 1 (gaps below 10), by autograd.
    @Test("the member weights are the sensitivity of the ensemble's log-probability margin to each member")
    func weightsAreDerivatives() {
        var generator = SeededGenerator(seed: 5)
        let (rows, classes, count) = (6, 5, 3)
        let members = (0..<count).map { _ in
            Tensor((0..<rows * classes).map { _ in Float(generator.nextGaussian() * 2) }, shape: [rows, classes])
        }
        let labels = Tensor((0..<rows).map { Int64($0 % classes) })
        let (scale, weights) = MORA.memberWeights(members, labels: labels, lossTargets: nil, temperature: 1, masked: false)
        #expect(scale.scalars(as: Float.self).allSatisfy { $0 == 1 })
        let leaves = members.map { $0.requiringGrad() }
        let averaged = withGradients {
            Tensor.stack(leaves.map { $0.softmax(alongAxis: 1) }, alongAxis: 0).mean(alongAxis: 0)
        }
        let other = withoutGradients { bestOtherClass(averaged, excluding: labels) }
        let margin = withGradients {
            (classScore(averaged, other).log() - classScore(averaged, labels).log()).sum() * Double(count)
        }
        let gradients = leaves.map { leaf in
            withGradients { grad(of: margin, withRespectTo: leaf, retainGraph: true) }
        }
        for (weight, gradient) in zip(weights, gradients) {
            assertClose(weight, classScore(gradient, other).scalars(as: Double.self), rtol: 1e-4, atol: 1e-6)
        }
        // Masked: a member whose argmax is not y weighs nothing.
        let (_, masked) = MORA.memberWeights(members, labels: labels, lossTargets: nil, temperature: 1, masked: true)
        for (member, (weight, full)) in zip(members, zip(masked, weights)) {
            let correct = (member.argmax(alongAxis: 1) .== labels).scalars(as: Bool.self)
            let expected = zip(correct, full.scalars(as: Double.self)).map { $0 ? $1 : 0 }
            assertClose(weight, expected)
        }
    }

    /// The reference weighting against the reference code itself: `MORAAttack.attack_single_run`'s
    /// `logits_prev` (untargeted) and `MORAAttack_targeted`'s (targeted), their helper functions
    /// copied from lafeat/mora's `mora_attack.py` into PyTorch, on the same member logits and ensemble
    /// output (the reference's outputs[-2]), on both ensemble patterns.
    @Test(
        "the reference weighting gives the reference code's mixed scores",
        .enabled(if: autoAttackPython != nil, "needs Python with torch (make test creates .venv)"))
    func referenceWeightingMatchesCode() throws {
        let python = try #require(autoAttackPython)
        var generator = SeededGenerator(seed: 11)
        let (rows, classes) = (8, 5)
        // Three members (the third with large logits, so that κ > 1 on some rows) and the ensemble output.
        let values = (0..<4).map { index in
            (0..<rows * classes).map { _ in Float(generator.nextGaussian() * (index == 2 ? 12 : 2)) }
        }
        let labels = (0..<rows).map { Int64($0 % classes) }
        let tensors = values.map { Tensor($0, shape: [rows, classes]) }
        func list(_ v: [Float]) -> String { "[" + v.map { "\($0)" }.joined(separator: ",") + "]" }
        let script = """
            import torch, numpy as np, torch.nn.functional as F
            R, C = \(rows), \(classes)
            outs = [torch.tensor(v, dtype=torch.float64).reshape(R, C) for v in [\(values.map(list).joined(separator: ","))]]
            y = torch.tensor(\(labels))
            def check_right_index(output, labels):
                return torch.unsqueeze((output.argmax(dim=-1) == labels).to(dtype=torch.int8), -1)
            def get_output_scale(output):
                v, _ = output.topk(2, 1, True, True)
                return torch.unsqueeze(torch.abs(v[:, 0] - v[:, 1]), -1)
            def get_sub_max_scale(outputs, n, y):
                gaps = [torch.abs(o.sort(dim=1)[0][:, -1] - o.sort(dim=1)[0][:, -2]).numpy() for o in outputs[:n]]
                m = np.max(np.stack(gaps), axis=0)
                return torch.unsqueeze(torch.tensor([abs(i) / 10.0 if i > 10.0 else 1.0 for i in m], dtype=torch.float64), -1)
            def weight(x_ens, x_sub, y, targeted):
                _, ind_sorted = x_ens.sort(dim=1)
                ind = (ind_sorted[:, -1] == y).double()
                r = np.arange(x_sub.shape[0])
                p_z_max = x_sub[r, ind_sorted[:, -1]] * (1. - ind) - x_sub[r, ind_sorted[:, -2]] * ind
                p_y = x_sub[r, y]
                if targeted:
                    w = p_z_max * (p_y + 1 - p_z_max)
                else:
                    z_max = x_ens[r, ind_sorted[:, -1]] * (1. - ind) - x_ens[r, ind_sorted[:, -2]] * ind
                    w = p_z_max * (p_y / x_ens[r, y] + (1 - p_z_max) / z_max)
                return torch.unsqueeze(w, -1)
            def logits_prev(scale, float_dis, pattern, targeted):
                outputs = outs + [outs[-1]]            # members, outputs[-2], outputs[-1]
                sub_output = len(outputs) - 1
                out_adv_scale = outputs[-2]
                sub_max = get_sub_max_scale(outputs, sub_output, y)
                scaled = [outputs[i] / sub_max for i in range(sub_output)]
                after = 0
                for i in range(sub_output - 1):
                    after += F.softmax(scaled[i], dim=-1)
                after = after / sub_output
                masks = [check_right_index(scaled[i], y) for i in range(sub_output)]
                ws = [weight(after, F.softmax(float_dis * outputs[i], dim=-1), y, targeted) for i in range(sub_output)]
                prev = (1 - scale) * out_adv_scale / get_output_scale(out_adv_scale)
                loss_sub, weight_sub = 0, 1e-8
                for i in range(sub_output):
                    m = masks[i] if pattern == 'softmax' else 1
                    loss_sub += scaled[i] * ws[i] * m
                    weight_sub += ws[i] * m
                return prev + scale * (loss_sub / weight_sub)
            for pattern in ('softmax', 'logits'):
                for targeted in (False, True):
                    print(' '.join(repr(v) for v in logits_prev(0.5, 0.2, pattern, targeted).flatten().tolist()))
            """
        let result = try runProcess(python, ["-c", script])
        try #require(result.status == 0, "\(result.output)")
        let lines = result.output.split(separator: "\n").filter { !$0.isEmpty }
        try #require(lines.count == 4, "\(result.output)")
        var line = 0
        for masked in [true, false] {
            for targeted in [false, true] {
                let reference = lines[line].split(separator: " ").map { Double($0)! }
                line += 1
                let ours = MORA.mixedScores(
                    scores: tensors[3], members: Array(tensors[0..<3]), labels: Tensor(labels),
                    lossTargets: targeted ? Tensor(labels.map { ($0 + 1) % Int64(classes) }) : nil, mix: 0.5, temperature: 0.2,
                    masked: masked, weighting: .reference)
                assertClose(ours, reference, rtol: 1e-4, atol: 1e-5)
            }
        }
    }

    @Test("MORA breaks at least as many images as APGD-CE at the same steps, on both ensemble outputs")
    func atLeastAsStrongAsAPGD() throws {
        let (images, labels) = AttackFixtures.dataset(count: 96, seed: 21)
        for output in [EnsembleOutput.averagedProbabilities, .averagedLogits] {
            let ensemble = AttackFixtures.ensemble(output: output)
            let objective: TargetObjective = output == .averagedLogits ? .logits : .probabilities
            let apgd = try runAttack(
                APGD(APGD.Configuration(steps: 20)), on: ensemble, images: images, labels: labels, epsilon: 0.12,
                objective: objective)
            let mora = try runAttack(
                MORA(MORA.Configuration(steps: 20, targetClasses: 3)), on: ensemble, images: images, labels: labels,
                epsilon: 0.12, objective: objective)
            let decision = withoutGradients { ensemble(mora.adversarial) }
            #expect(mora.success == attackSucceeded(decision, labels: labels, targets: nil))
            #expect(
                rate(mora.success) >= rate(apgd.success) - 2.0 / 96,
                "\(output): MORA \(rate(mora.success)) vs APGD-CE \(rate(apgd.success))")
            #expect(rate(mora.success) > 0.2)
            print("\(output): MORA fooled \(rate(mora.success)), APGD-CE \(rate(apgd.success))")
        }
    }

    @Test("MORA refuses a targeted goal, and the evaluation refuses MORA without an ensemble output to weigh against")
    func refusals() throws {
        let ensemble = AttackFixtures.ensemble()
        let (images, labels) = AttackFixtures.dataset(count: 4, seed: 3)
        expectError(startingWith: "MORA has no targeted version") {
            _ = try runAttack(
                MORA(), on: ensemble, images: images, labels: labels, epsilon: 0.1, targets: Tensor([Int64]([1, 2, 3, 0])))
        }
        expectError(startingWith: "MORA: mixing weights must be in [0, 1], got 2") {
            _ = try runAttack(MORA(MORA.Configuration(mixes: [2])), on: ensemble, images: images, labels: labels, epsilon: 0.1)
        }
        var config = EvaluationConfig()
        config.attacks = [.mora]
        config.targets = [.memberLosses]
        expectError(startingWith: "--attacks mora weighs the members against the averaged softmax or logits") {
            try config.validateTogether()
        }
        config.targets = [.memberLosses, .logits]
        try config.validateTogether()
    }
}
