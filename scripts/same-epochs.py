#!/usr/bin/env python3
"""Compares a run's metrics.jsonl with the committed one (git HEAD), every number but the timing.

For the protocol rerun (docs/results.md "The rerun"): its pinned binary predates the check that
`edlcm` now makes when it trains recorded epochs again, so a sitting that let it retrain a run or a
surrogate (their weights are not committed) checks the result with this script:

    python3 scripts/same-epochs.py results/fashion-mnist/surrogates/plain-m3-seed2/metrics.jsonl

It prints "same numbers", or the first epoch that differs and its fields, and exits 1.
"""
import json
import subprocess
import sys


def numbers(text):
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    return [{key: value for key, value in line.items() if key not in ("seconds", "images_per_second")} for line in lines]


path = sys.argv[1]
committed = numbers(subprocess.run(["git", "show", f"HEAD:{path}"], capture_output=True, text=True, check=True).stdout)
with open(path) as file:
    current = numbers(file.read())
if committed == current:
    print("same numbers")
    sys.exit(0)
for old, new in zip(committed, current):
    if old != new:
        print(f"{path}: epoch {old.get('epoch')} differs in {', '.join(k for k in old if old[k] != new.get(k))}")
        break
else:
    print(f"{path}: {len(current)} epochs, {len(committed)} committed")
sys.exit(1)
