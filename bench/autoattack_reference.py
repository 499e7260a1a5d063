#!/usr/bin/env python3
"""AutoAttack's standard version (the reference code: PyPI's `pyautoattack`, fra31/auto-attack) against an
EDLCM ensemble, for comparison with `edlcm evaluate --preset standard --targets probabilities`.

It rebuilds the ensemble from the run's checkpoint.safetensors (bench/pgd_reference.py's loader), attacks the
test images that an `edlcm evaluate` result evaluated (its sample indices), on the deployed output (the
log-averaged softmax), with AutoAttack's standard version (APGD-CE 100 iterations, APGD-T and FAB-T with 9
target classes, Square 5000 queries) at each radius of the result, in batches of 250, and prints one JSON line
per radius: seconds, processor seconds, clean and robust accuracy.

Usage: bench/autoattack_reference.py RUN_FOLDER EDLCM_RESULT.json [--threads N] [--data-dir DIR]
(needs a Python with torch and pyautoattack: `make test` creates .venv with both)
"""
import argparse
import importlib.util
import json
import os
import time

import numpy as np
import torch
from pyautoattack import AutoAttack

spec = importlib.util.spec_from_file_location("pgd_reference", os.path.join(os.path.dirname(__file__), "pgd_reference.py"))
reference = importlib.util.module_from_spec(spec)
spec.loader.exec_module(reference)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run")
    parser.add_argument("result", help="an edlcm evaluate result (for the sample indices and radii)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--data-dir", help="default: the folder the run recorded")
    parser.add_argument("--batch-size", type=int, default=250)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    members = reference.load_ensemble(args.run)
    with open(args.result) as handle:
        result = json.load(handle)
    indices = [e["index"] for e in result["per_example"]]
    with open(f"{args.run}/config.json") as handle:
        dataset = json.load(handle)["dataset"]
    folder = args.data_dir or dataset["directory"]
    assert dataset["name"] == "fashion-mnist", dataset["name"]
    all_images = reference.read_idx(f"{folder}/t10k-images-idx3-ubyte.gz")
    all_labels = reference.read_idx(f"{folder}/t10k-labels-idx1-ubyte.gz")
    images = torch.from_numpy(all_images[indices].astype(np.float32) / 255)
    labels = torch.from_numpy(all_labels[indices].astype(np.int64))

    def model(x):
        return reference.log_averaged_softmax(members, x)

    for record in result["robustness"]:
        eps = record["epsilon"]
        attack = AutoAttack(model, norm="Linf", eps=eps, version="standard", seed=0, device="cpu")
        attack.logger.setLevel("ERROR")
        start, cpu_start = time.perf_counter(), time.process_time()
        adversarial = attack.run_standard_evaluation(images, labels, batch_size=args.batch_size)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        with torch.no_grad():
            clean = model(images).argmax(1).eq(labels)
            robust = clean & model(adversarial).argmax(1).eq(labels)
            robust &= (adversarial - images).abs().flatten(1).max(1)[0] <= eps + 1e-6
        print(json.dumps({
            "implementation": "pyautoattack", "torch": torch.__version__, "threads": torch.get_num_threads(),
            "images": len(indices), "eps": eps, "seconds": seconds, "cpu_seconds": cpu_seconds,
            "clean_accuracy": clean.float().mean().item(), "robust_accuracy": robust.float().mean().item(),
            "edlcm_worst_case_accuracy": record["worst_case_accuracy"],
        }), flush=True)


if __name__ == "__main__":
    main()
