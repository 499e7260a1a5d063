#!/usr/bin/env python3
"""The rates libtorch's oneDNN reaches for single 3x3 convolutions (forward, float32), in PyTorch's
default layout and in channels-last: ResNet-20's three stage shapes at batch 64 and the large
convolution `edlcm bench` takes as its peak. docs/performance.md uses these to bound ResNet-20.

Run: /usr/bin/python3 bench/conv_rates.py [--threads T] [--repeats N]   (prints one JSON line per shape)
"""
import argparse, json, os, time

import torch
import torch.nn.functional as F

SHAPES = [  # (batch, channels, height = width)
    (64, 16, 32), (64, 32, 16), (64, 64, 8),  # ResNet-20's stages
    (8, 512, 16),                             # edlcm bench's peak
]


def best_seconds(function, repeats):
    for _ in range(3): function()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        function()
        best = min(best, time.perf_counter() - start)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    with torch.no_grad():
        for batch, channels, size in SHAPES:
            x = torch.randn(batch, channels, size, size)
            w = torch.randn(channels, channels, 3, 3)
            flops = 2 * channels * channels * 9 * size * size * batch
            default = best_seconds(lambda: F.conv2d(x, w, padding=1), args.repeats)
            xc, wc = x.contiguous(memory_format=torch.channels_last), w.contiguous(memory_format=torch.channels_last)
            last = best_seconds(lambda: F.conv2d(xc, wc, padding=1), args.repeats)
            print(json.dumps({"batch": batch, "channels": channels, "size": size, "threads": args.threads,
                              "gflops_default_layout": round(flops / default / 1e9, 1),
                              "gflops_channels_last": round(flops / last / 1e9, 1)}))


if __name__ == "__main__":
    main()
