import Foundation
import TestSupport
import Testing
import Torch

@testable import EDLCMData
@testable import EDLCMDefenses
@testable import EDLCMModels

/// TRS and GAL against their authors' code, transcribed into PyTorch (TRS: AI-secure/
/// Transferability-Reduced-Smooth-Ensemble, train/Empirical/trainer.py `TRS_Trainer` lines 72–124
/// with `Cosine` and `Magnitude` from utils/Empirical/utils_ensemble.py; GAL: zjysteven/DVERGE,
/// train/train_gal.py lines 76–111), run on the same weights and batch: the loss terms, the total
/// and every parameter's gradient must agree to float32 precision.
@Suite("TRS and GAL against the authors' code", .exclusiveRandomGenerator)
struct BaselineReferenceTests {
    static let script = """
        import sys, json, torch
        import torch.nn.functional as F
        from torch import autograd
        from safetensors.torch import load_file
        torch.set_num_threads(1)
        t = load_file(sys.argv[1])
        class Tiny(torch.nn.Module):
            def __init__(self):
                super().__init__()
                self.conv = torch.nn.Conv2d(1, 8, 3, padding=1)
                self.fc = torch.nn.Linear(128, 4)
            def forward(self, x):
                x = F.max_pool2d(torch.relu(self.conv((x - 0.5) * 4)), 2)
                return self.fc(x.flatten(1))
        models = []
        for m in range(3):
            net = Tiny()
            net.load_state_dict({k.split('.', 1)[1]: v for k, v in t.items() if k.startswith(f'member{m}.')})
            net.train()
            models.append(net)
        criterion = torch.nn.CrossEntropyLoss()
        Cosine = lambda g1, g2: torch.abs(F.cosine_similarity(g1, g2)).mean()
        Magnitude = lambda g1: (torch.sum(g1 ** 2, 1)).mean() * 2
        def grads_out(loss, terms):
            params = [(f'member{m}.{n}', p) for m, net in enumerate(models) for n, p in net.named_parameters()]
            g = autograd.grad(loss, [p for _, p in params])
            return {'terms': terms, 'total': loss.item(), 'grads': {n: v.flatten().tolist() for (n, _), v in zip(params, g)}}
        def trs(inputs, targets, coeff, lamda):
            inputs = inputs.clone().requires_grad_(True)
            grads, loss_std = [], 0
            for j in range(3):
                loss = criterion(models[j](inputs), targets)
                grads.append(autograd.grad(loss, inputs, create_graph=True)[0].flatten(start_dim=1))
                loss_std += loss
            cos_loss = (Cosine(grads[0], grads[1]) + Cosine(grads[0], grads[2]) + Cosine(grads[1], grads[2])) / 3.
            N = inputs.shape[0] // 2
            adv_x = torch.cat([inputs[:N].detach(), inputs[N:].detach()])  # the PGD search at eps 0 moves nothing
            adv_x.requires_grad = True
            smooth_loss = 0
            for j in range(3):
                loss = criterion(models[j](adv_x), targets)
                smooth_loss += Magnitude(autograd.grad(loss, adv_x, create_graph=True)[0].flatten(start_dim=1))
            smooth_loss /= 3
            loss = loss_std + coeff * cos_loss + lamda * smooth_loss
            return grads_out(loss, [loss_std.item(), cos_loss.item(), smooth_loss.item()])
        def gal(inputs, targets, coeff, mean):
            inputs = inputs.clone().requires_grad_(True)
            ce_loss, grads = 0, []
            for m in models:
                loss = criterion(m(inputs), targets)
                grads.append(autograd.grad(loss, inputs, create_graph=True)[0].flatten(start_dim=1))
                ce_loss += criterion(m(inputs.clone().detach()), targets)
            cos_sim = torch.stack([F.cosine_similarity(grads[i], grads[j], dim=-1)
                                   for i in range(3) for j in range(i + 1, 3)], dim=-1)
            coh_loss = torch.log(cos_sim.exp().sum(dim=-1) + 1e-20).mean()
            loss = (ce_loss / 3 if mean else ce_loss) + coeff * coh_loss
            return grads_out(loss, [ce_loss.item(), coh_loss.item()])
        x, y = t['images'], t['labels']
        print(json.dumps({'trs': trs(x, y, 20.0, 2.5), 'gal': gal(x, y, 0.5, False), 'gal_mean': gal(x, y, 0.5, True)}))
        """

    struct Reference: Decodable {
        let terms: [Double]
        let total: Double
        let grads: [String: [Double]]
    }

    @Test(
        "TRS (the authors' smoothness scale) and GAL (summed and averaged cross-entropy) equal the authors' code",
        .enabled(if: autoAttackPython != nil, "needs Python with torch and safetensors (make test creates .venv)"))
    func matchTheAuthorsCode() throws {
        let python = try #require(autoAttackPython)
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        // Freshly initialised members: their input gradients stay well above cosine_similarity's
        // eps (1e-8). Below it (a trained fixture reaches 1e-10) PyTorch's own gradient of the
        // clamped cosine differs between 1.13 and 2.x, so no version-independent reference exists.
        Runtime.seed(21)
        let ensemble = Ensemble(members: (0..<3).map { _ in TinyCNN() }, output: .averagedProbabilities)
        ensemble.train()
        let (images, labels) = AttackFixtures.dataset(count: 12, seed: 5)
        let file = directory.appendingPathComponent("model.safetensors")
        try Checkpoint.save(
            ensemble.stateTensors() + [("images", images), ("labels", labels)], metadata: ["format": "pt"], to: file)
        let scriptURL = directory.appendingPathComponent("reference.py")
        try Self.script.write(to: scriptURL, atomically: true, encoding: .utf8)
        let result = try runProcess(python, [scriptURL.path, file.path])
        try #require(result.status == 0, "python: \(result.output)")
        let line = try #require(result.output.split(separator: "\n").last(where: { $0.hasPrefix("{") }))
        let reference = try JSONDecoder().decode([String: Reference].self, from: Data(line.utf8))

        let batch = Batch(images: images, labels: labels)
        let context = TrainingContext(epoch: 0, totalEpochs: 1, step: 0, stepsPerEpoch: 1)
        let objectives: [(String, any EnsembleObjective)] = [
            ("trs", TRSObjective(options: TRSOptions(lambdaA: 20, lambdaB: 2.5, deltaStart: 0, deltaEnd: 0))),
            ("gal", GALObjective(lambda: 0.5)),
            ("gal_mean", GALObjective(lambda: 0.5, crossEntropy: .mean)),
        ]
        for (name, objective) in objectives {
            let theirs = try #require(reference[name])
            for parameter in ensemble.parameters { parameter.grad?.zero_() }
            let output = objective.loss(ensemble: ensemble, batch: batch, context: context)
            assertClose(output.terms.map { $0.value.item() }, theirs.terms, rtol: 1e-4, atol: 1e-7)
            assertClose([output.total.item()], [theirs.total], rtol: 1e-4)
            output.total.backward()
            let gradients = Dictionary(uniqueKeysWithValues: ensemble.namedParameters().map { ($0.name, $0.tensor) })
            #expect(Set(gradients.keys) == Set(theirs.grads.keys), "\(name): parameter names")
            for (parameter, expected) in theirs.grads.sorted(by: { $0.key < $1.key }) {
                let ours = try #require(gradients[parameter]?.grad, "\(name): no gradient for \(parameter)")
                let scale = expected.map(abs).max() ?? 1
                assertClose(ours.flattened(), expected, rtol: 1e-3, atol: 1e-5 * scale)
            }
        }
    }
}
