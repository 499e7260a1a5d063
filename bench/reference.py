#!/usr/bin/env python3
"""The benchmark steps of `edlcm bench`, written in PyTorch from Python on Debian's libtorch 1.13.

Same math as Sources/EDLCM/Benchmark/StepBenchmark.swift: 3 members, SGD (lr 0.01, momentum 0.9),
Σ CE (batch mean); EDLCM adds β·L_r + α·L_g with finite-difference HVPs (h = 0.5, shared
gradient-sign probe from the ensemble loss, per-example gradients of the summed loss), kept in the
graph. The *-pgd cases run L-inf PGD-50 (eps 0.1) on the log-averaged softmax of the members in
evaluation mode, once per 10 steps; cnn-apgd-t and cnn-fab-t run the reference AutoAttack code's
APGD-T and FAB-T (PyPI `pyautoattack`: one single run per target class, 9 classes x 20 iterations,
on all images, labels the ensemble's own predictions), once per 10 steps. Run: /usr/bin/python3 bench/reference.py [--cases cnn-plain ...] [--steps N] [--threads T]
[--profile]
Prints one JSON line per configuration (each in a fresh process, so peak RSS is its own).
"""
import argparse, json, math, os, resource, subprocess, sys, time

CASES = ["cnn-plain", "cnn-edlcm", "resnet-plain", "resnet-edlcm", "cnn-pgd", "resnet-pgd", "cnn-apgd-t", "cnn-fab-t"]


def child(case, steps, threads, profile=False, device="cpu", batch=None):
    import torch, torch.nn as nn, torch.nn.functional as F
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    # A GPU runs asynchronously: the clock is read only after the queued work is done.
    sync = (lambda: torch.cuda.synchronize(device)) if device.startswith("cuda") else (lambda: None)

    class Norm(nn.Module):
        def __init__(self, mean, std):
            super().__init__()
            self.register_buffer("mean", torch.tensor(mean).view(1, -1, 1, 1), persistent=False)
            self.register_buffer("inv", 1 / torch.tensor(std).view(1, -1, 1, 1), persistent=False)
        def forward(self, x):
            return (x - self.mean) * self.inv

    def cnn():
        return nn.Sequential(Norm([0.2860], [0.3530]), nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                             nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                             nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))

    class Block(nn.Module):
        def __init__(self, cin, cout, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False); self.bn1 = nn.BatchNorm2d(cout)
            self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False); self.bn2 = nn.BatchNorm2d(cout)
            self.stride, self.pad = stride, (cout - cin) // 2
        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            s = x
            if self.stride != 1 or self.pad:
                s = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))
            return F.relu(out + s)

    class ResNet20(nn.Module):
        def __init__(self):
            super().__init__()
            self.norm = Norm([0.4914, 0.4822, 0.4465], [0.2470, 0.2435, 0.2616])
            self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False); self.bn1 = nn.BatchNorm2d(16)
            blocks, cin = [], 16
            for i, w in enumerate([16, 32, 64]):
                for b in range(3):
                    blocks.append(Block(cin, w, 2 if i > 0 and b == 0 else 1)); cin = w
            self.blocks = nn.Sequential(*blocks)
            self.linear = nn.Linear(64, 10)
        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(self.norm(x))))
            x = F.adaptive_avg_pool2d(self.blocks(x), 1).flatten(1)
            return self.linear(x)

    is_cnn = case.startswith("cnn")
    members = [cnn() if is_cnn else ResNet20() for _ in range(3)]
    for m in members: m.train(); m.to(device)
    params = [p for m in members for p in m.parameters()]
    opt = torch.optim.SGD(params, lr=0.01, momentum=0.9)
    batch = batch or (128 if is_cnn else 64)
    x = torch.rand(batch, 1, 28, 28) if is_cnn else torch.rand(batch, 3, 32, 32)
    y = torch.randint(0, 10, (batch,))
    x, y = x.to(device), y.to(device)
    h, alpha, beta = 0.5, 0.5, 0.1  # the training defaults (TrainingConfig)

    def unit(t):
        return (t.flatten(1) / t.flatten(1).norm(dim=1, keepdim=True).clamp_min(1e-12)).view_as(t)

    def plain_step():
        loss = sum(F.cross_entropy(m(x), y) for m in members)
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    def edlcm_step():
        xr = x.detach().requires_grad_()
        logits = [m(xr) for m in members]
        gs = [torch.autograd.grad(F.cross_entropy(l, y, reduction="sum"), xr, retain_graph=True, create_graph=True)[0] for l in logits]
        logp = torch.logsumexp(torch.stack([l.log_softmax(1) for l in logits]), 0) - math.log(len(members))
        ge = torch.autograd.grad(F.nll_loss(logp.log_softmax(1), y, reduction="sum"), xr, retain_graph=True)[0]
        z = unit(ge.detach().sign())
        ds = []
        for m, g in zip(members, gs):
            x2 = (x.detach() + h * z).requires_grad_()
            g2 = torch.autograd.grad(F.cross_entropy(m(x2), y, reduction="sum"), x2, create_graph=True)[0]
            ds.append((g2 - g) / h)
        lr = sum(d.flatten(1).pow(2).sum(1).mean() for d in ds) / len(ds)
        pairs = [(i, j) for i in range(len(ds)) for j in range(i + 1, len(ds))]
        lg = sum(F.cosine_similarity(ds[i].flatten(1), ds[j].flatten(1), dim=1, eps=1e-12).mean() for i, j in pairs) / len(pairs)
        loss = sum(F.cross_entropy(l, y) for l in logits) + beta * lr + alpha * lg
        opt.zero_grad(set_to_none=True); loss.backward(); opt.step()

    def log_averaged_softmax(inputs):
        logp = torch.stack([F.log_softmax(m(inputs), dim=1) for m in members])
        return torch.logsumexp(logp, dim=0) - math.log(len(members))

    def pgd(pgd_steps, eps=0.1):
        # L-inf PGD as bench/pgd_reference.py: uniform random start, steps of 2.5*eps/steps along the
        # gradient sign, cross-entropy on the log-averaged softmax, then the decision on the result.
        step_size = 2.5 * eps / pgd_steps
        lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
        adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
        for _ in range(pgd_steps):
            adv.requires_grad_(True)
            loss = F.cross_entropy(log_averaged_softmax(adv), y, reduction="sum")
            (grad,) = torch.autograd.grad(loss, [adv])
            adv = torch.max(torch.min(adv.detach() + step_size * grad.sign(), upper), lower)
        with torch.no_grad():
            log_averaged_softmax(adv).argmax(1)

    def timed_attack(warm_up, run):
        # One untimed short run, then one timed run per 10 steps; one JSON line.
        warm_up()
        runs = max(1, (steps + 9) // 10)
        sync()
        start = time.perf_counter()
        for _ in range(runs): run()
        sync()
        seconds = time.perf_counter() - start
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps({"name": case, "images_per_second": runs * batch / seconds, "seconds_per_step": seconds / runs,
                          "peak_rss_mb": peak, "threads": torch.get_num_threads(), "steps": runs, "device": device}, sort_keys=True))

    if case in ("cnn-apgd-t", "cnn-fab-t"):
        # The reference code's single runs, one per target class, on every image (no early stop).
        from pyautoattack.autopgd_base import APGDAttack_targeted
        from pyautoattack.fab_pt import FABAttack_PT
        for m in members: m.eval()
        model = lambda inputs: log_averaged_softmax(inputs)
        with torch.no_grad():
            labels = model(x).argmax(1)
        def attack(iterations):
            if case == "cnn-apgd-t":
                a = APGDAttack_targeted(model, norm="Linf", eps=0.1, n_iter=iterations, n_target_classes=9, device="cpu")
                a.init_hyperparam(x)
                with torch.no_grad():
                    order = model(x).sort(dim=1)[1]
                for target_class in range(2, 11):
                    a.y_target = order[:, -target_class]
                    a.attack_single_run(x, labels)
            else:
                a = FABAttack_PT(model, norm="Linf", n_iter=iterations, eps=0.1, targeted=True, n_target_classes=9, device="cpu")
                for target_class in range(2, 11):
                    a.target_class = target_class
                    a.attack_single_run(x, labels, use_rand_start=False, is_targeted=True)
        timed_attack(lambda: attack(2), lambda: attack(20))
        return
    if case.endswith("pgd"):
        # PGD-50 against the freshly initialised members in evaluation mode, once per 10 steps.
        for m in members: m.eval()
        timed_attack(lambda: pgd(2), lambda: pgd(50))
        return
    step = edlcm_step if case.endswith("edlcm") else plain_step
    for _ in range(2): step()
    if profile:
        # How much of the step is inside ATen operators: their summed self time against the wall time.
        with torch.autograd.profiler.profile() as prof:
            start = time.perf_counter()
            for _ in range(steps): step()
            wall = time.perf_counter() - start
        events = prof.key_averages()
        inside = sum(e.self_cpu_time_total for e in events) / 1e6
        print(f"{case}: {steps} steps, wall {wall:.3f} s, ATen operators' self time {inside:.3f} s", file=sys.stderr)
        print(events.table(sort_by="self_cpu_time_total", row_limit=15), file=sys.stderr)
    sync()
    start = time.perf_counter()
    for _ in range(steps): step()
    sync()
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"name": case, "images_per_second": steps * batch / seconds, "seconds_per_step": seconds / steps,
                      "peak_rss_mb": peak, "threads": torch.get_num_threads(), "steps": steps, "device": device}, sort_keys=True))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", nargs="+", default=CASES, choices=CASES)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--profile", action="store_true",
                        help="before the timed steps, run them once under PyTorch's profiler and print to stderr how much "
                             "of the wall time the ATen operators take, and the top operators")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N] (the AutoAttack cases run on the CPU only)")
    parser.add_argument("--batch", type=int, default=None, help="images per batch (default: 128 for cnn-*, 64 for resnet-*)")
    parser.add_argument("--child", action="store_true")
    args = parser.parse_args()
    if args.child:
        child(args.cases[0], args.steps, args.threads, args.profile, args.device, args.batch)
        return
    for case in args.cases:
        result = subprocess.run([sys.executable, __file__, "--child", "--cases", case, "--steps", str(args.steps),
                                 "--threads", str(args.threads), "--device", args.device]
                                + (["--batch", str(args.batch)] if args.batch else []) + (["--profile"] if args.profile else []),
                                check=True, stdout=subprocess.PIPE, stderr=None if args.profile else subprocess.PIPE, text=True)
        print(result.stdout.strip(), flush=True)


if __name__ == "__main__":
    main()
