#!/usr/bin/python3
"""PGD-50 against an EDLCM ensemble, written in PyTorch, for comparison with `edlcm evaluate`.

It rebuilds the ensemble from the run's checkpoint.safetensors (read with the small loader below,
no `safetensors` package needed), attacks the same Fashion-MNIST test images that an `edlcm
evaluate` result attacked (its sample indices and clean-correct flags), in the same batch size,
with the same attack (L-inf PGD, uniform random start, 50 steps of 2.5*eps/50, cross-entropy on the
log-averaged softmax, no early stopping), and prints images per second.

Both of EDLCM's architectures are implemented (cnn on Fashion-MNIST, resnet20 on CIFAR-10 binary
files, read from the folder the run recorded); the models run in PyTorch's default layout.

Usage: bench/pgd_reference.py RUN_FOLDER EDLCM_RESULT.json [--threads N] [--eps 0.1] [--steps 50]
                              [--batch-size 500] [--repeats 1]
"""
import argparse
import gzip
import json
import math
import struct
import time

import numpy as np
import torch
import torch.nn.functional as F

DTYPES = {"F32": np.float32, "F64": np.float64, "I64": np.int64, "I32": np.int32, "U8": np.uint8, "BOOL": np.bool_}


def load_safetensors(path):
    """Reads a safetensors file: an 8-byte little-endian header length, a JSON header, raw bytes."""
    with open(path, "rb") as handle:
        data = handle.read()
    (length,) = struct.unpack("<Q", data[:8])
    header = json.loads(data[8:8 + length])
    metadata = header.pop("__metadata__", {})
    base = 8 + length
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        array = np.frombuffer(data[base + begin:base + end], dtype=DTYPES[entry["dtype"]]).reshape(entry["shape"])
        tensors[name] = torch.from_numpy(array.copy())
    return tensors, metadata


class SmallCNN(torch.nn.Module):
    """EDLCM's SmallCNN (Sources/EDLCM/Models/SmallCNN.swift), normalisation included."""

    def __init__(self, spec):
        super().__init__()
        w = spec["widthMultiplier"]
        self.register_buffer("mean", torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("inv_std", 1 / torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.conv1 = torch.nn.Conv2d(spec["channels"], 32 * w, 3, padding=1)
        self.conv2 = torch.nn.Conv2d(32 * w, 64 * w, 3, padding=1)
        self.fc1 = torch.nn.Linear(64 * w * (spec["height"] // 4) * (spec["width"] // 4), 128 * w)
        self.fc2 = torch.nn.Linear(128 * w, spec["classCount"])

    def forward(self, x):
        x = (x - self.mean) * self.inv_std
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc2(F.relu(self.fc1(x.flatten(1))))


class BasicBlock(torch.nn.Module):
    """ResNet-20's block with the option-A shortcut (Sources/EDLCM/Models/ResNet20.swift)."""

    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(cout)
        self.conv2 = torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(cout)
        self.stride, self.pad = stride, (cout - cin) // 2

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        shortcut = x
        if self.stride != 1 or self.pad:
            shortcut = F.pad(x[:, :, ::self.stride, ::self.stride], (0, 0, 0, 0, self.pad, self.pad))
        return F.relu(out + shortcut)


class ResNet20(torch.nn.Module):
    """EDLCM's ResNet20 (Sources/EDLCM/Models/ResNet20.swift), normalisation included."""

    def __init__(self, spec):
        super().__init__()
        w = spec["widthMultiplier"]
        widths = [16 * w, 32 * w, 64 * w]
        self.register_buffer("mean", torch.tensor(spec["mean"], dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.register_buffer("inv_std", 1 / torch.tensor(spec["std"], dtype=torch.float32).view(1, -1, 1, 1), persistent=False)
        self.conv1 = torch.nn.Conv2d(spec["channels"], widths[0], 3, 1, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(widths[0])
        cin = widths[0]
        for index, cout in enumerate(widths):
            blocks = []
            for block in range(3):
                blocks.append(BasicBlock(cin, cout, 2 if index > 0 and block == 0 else 1))
                cin = cout
            setattr(self, f"layer{index + 1}", torch.nn.Sequential(*blocks))
        self.linear = torch.nn.Linear(widths[2], spec["classCount"])

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1((x - self.mean) * self.inv_std)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(F.adaptive_avg_pool2d(x, 1).flatten(1))


def load_ensemble(run):
    tensors, metadata = load_safetensors(f"{run}/checkpoint.safetensors")
    spec = json.loads(metadata["edlcm.model"])
    assert spec["architecture"] in ("cnn", "resnet20"), spec["architecture"]
    assert metadata["edlcm.ensemble_output"] == "probabilities"
    members = []
    for index in range(int(metadata["edlcm.members"])):
        member = SmallCNN(spec) if spec["architecture"] == "cnn" else ResNet20(spec)
        prefix = f"member{index}."
        member.load_state_dict({k[len(prefix):]: v for k, v in tensors.items() if k.startswith(prefix)})
        members.append(member.eval())
    return members


def log_averaged_softmax(members, x):
    logp = torch.stack([F.log_softmax(m(x), dim=1) for m in members])
    return torch.logsumexp(logp, dim=0) - math.log(len(members))


def pgd(members, x, y, eps, steps):
    """L-inf PGD as Madry et al.: uniform random start, steps of 2.5*eps/steps along the gradient sign."""
    alpha = 2.5 * eps / steps
    lower, upper = (x - eps).clamp(min=0), (x + eps).clamp(max=1)
    adv = (x + torch.empty_like(x).uniform_(-eps, eps)).clamp(0, 1)
    for _ in range(steps):
        adv.requires_grad_(True)
        loss = F.cross_entropy(log_averaged_softmax(members, adv), y, reduction="sum")
        (grad,) = torch.autograd.grad(loss, [adv])
        adv = torch.max(torch.min(adv.detach() + alpha * grad.sign(), upper), lower)
    return adv


def read_idx(path):
    with gzip.open(path, "rb") as handle:
        data = handle.read()
    magic, count = struct.unpack(">II", data[:8])
    if magic == 0x803:
        rows, cols = struct.unpack(">II", data[8:16])
        return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, 1, rows, cols)
    return np.frombuffer(data[8:], dtype=np.uint8)


def read_cifar10_test(folder):
    """test_batch.bin of the CIFAR-10 binary version: records of 1 label byte and 3072 pixel bytes."""
    data = np.fromfile(f"{folder}/test_batch.bin", dtype=np.uint8).reshape(-1, 3073)
    return data[:, 1:].reshape(-1, 3, 32, 32), data[:, 0]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("result", help="an edlcm evaluate result (for the sample indices and clean-correct flags)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--eps", type=float, default=0.1)
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--data-dir", help="default: the folder the run recorded")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    members = load_ensemble(args.run)
    for member in members:
        for parameter in member.parameters():
            parameter.requires_grad_(True)  # as in EDLCM, whose parameters always require gradients
    with open(args.result) as handle:
        result = json.load(handle)
    attacked = [e["index"] for e in result["per_example"] if e["clean_correct"]]
    with open(f"{args.run}/config.json") as handle:
        dataset = json.load(handle)["dataset"]
    folder = args.data_dir or dataset["directory"]
    if dataset["name"] == "fashion-mnist":
        all_images, all_labels = read_idx(f"{folder}/t10k-images-idx3-ubyte.gz"), read_idx(f"{folder}/t10k-labels-idx1-ubyte.gz")
    else:
        assert dataset["name"] == "cifar10", dataset["name"]
        all_images, all_labels = read_cifar10_test(folder)
    images = torch.from_numpy(all_images[attacked].astype(np.float32) / 255)
    labels = torch.from_numpy(all_labels[attacked].astype(np.int64))

    with torch.no_grad():
        clean = log_averaged_softmax(members, images).argmax(1).eq(labels).float().mean().item()
    # One warm-up batch, then the timed runs.
    pgd(members, images[: args.batch_size], labels[: args.batch_size], args.eps, 2)
    timings = []
    for _ in range(args.repeats):
        start, cpu_start = time.perf_counter(), time.process_time()
        correct = 0
        for begin in range(0, len(attacked), args.batch_size):
            x, y = images[begin:begin + args.batch_size], labels[begin:begin + args.batch_size]
            adv = pgd(members, x, y, args.eps, args.steps)
            with torch.no_grad():
                correct += log_averaged_softmax(members, adv).argmax(1).eq(y).sum().item()
        timings.append((time.perf_counter() - start, time.process_time() - cpu_start))
    seconds, cpu_seconds = sorted(timings)[len(timings) // 2]
    print(json.dumps({
        "implementation": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "images": len(attacked),
        "steps": args.steps, "eps": args.eps, "batch_size": args.batch_size, "seconds": seconds, "cpu_seconds": cpu_seconds,
        "images_per_second": len(attacked) / seconds, "images_per_cpu_second": len(attacked) / cpu_seconds, "clean_accuracy_of_attacked": clean,
        "robust_accuracy_of_attacked": correct / len(attacked),
    }))


if __name__ == "__main__":
    main()
