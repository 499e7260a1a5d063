#!/usr/bin/env bash
# The ablation behind EDLCM's defaults (docs/results.md): the plain ensemble, the default, each
# regulariser alone, a larger α, the other probes and the first-order dispersion, all on the same
# Fashion-MNIST slice and budget as `make demo` (3 × cnn, 5 000 images, 2 epochs, seed 0). Each run
# is analysed (HVP and gradient cosines, curvature) and attacked (APGD-CE and APGD-DLR on three
# ensemble objectives at ε = 0.1 on 500 test images, with the gradient-masking checks); the table
# is printed as Markdown. Finished runs are kept, so an interrupted ablation continues.
#   scripts/ablation.sh [OUT]      (default OUT: runs/ablation; build first: swift build -c release)
set -euo pipefail
cd "$(dirname "$0")/.."
EDLCM=${EDLCM:-.build/release/edlcm}
OUT=${1:-runs/ablation}
SAMPLES=${SAMPLES:-500}
mkdir -p "$OUT"
common=(--dataset fashion-mnist --arch cnn --members 3 --epochs 2 --train-limit 5000 --test-limit 1000 --seed 0)
configs=(
    "baseline|--method baseline"
    "default (α 0.5, β 0.1, h 0.5)|--method edlcm"
    "L_r only (α 0)|--method edlcm --alpha 0"
    "L_g only (β 0)|--method edlcm --beta 0"
    "α 2|--method edlcm --alpha 2"
    "rademacher probe|--method edlcm --direction rademacher"
    "per-member probes|--method edlcm --probe per-member"
    "+ first-order dispersion (γ_g 0.5)|--method edlcm --grad-alpha 0.5"
)
index=0
for entry in "${configs[@]}"; do
    name=${entry%%|*}
    read -r -a flags <<< "${entry#*|}"
    run="$OUT/run$index"
    index=$((index + 1))
    if [ ! -f "$run/evaluation.json" ]; then
        rm -rf "$run"
        echo "== $name"
        "$EDLCM" train "${common[@]}" "${flags[@]}" --out "$run" 2>&1 | tail -1
        "$EDLCM" analyze --run "$run" --samples "$SAMPLES" --power-iterations 20 > /dev/null 2>&1
        "$EDLCM" evaluate --run "$run" --samples "$SAMPLES" --eps 0.1 --attacks apgd-ce apgd-dlr --steps 20 \
            --no-matrix --check-samples 100 --out "$run/evaluation.json" > /dev/null 2>&1
    fi
    echo "$name" > "$run/ablation-name"
done
python3 - "$OUT" "${#configs[@]}" <<'PY'
import json, sys, os
out, count = sys.argv[1], int(sys.argv[2])
print("| run | clean | robust ε=0.1 | mean HVP cos | mean grad cos | mean ‖d‖² (L_r) | mean top eigenvalue | masking checks | training s |")
print("|---|---|---|---|---|---|---|---|---|")
for i in range(count):
    run = os.path.join(out, f"run{i}")
    name = open(os.path.join(run, "ablation-name")).read().strip()
    a = json.load(open(os.path.join(run, "analysis.json")))
    e = json.load(open(os.path.join(run, "evaluation.json")))
    seconds = sum(json.loads(l)["seconds"] for l in open(os.path.join(run, "metrics.jsonl")) if l.strip())
    report = a["report"]
    mean = lambda v: sum(v) / len(v)
    checks = e.get("sanity_checks") or []
    passed = "all pass" if checks and all(c["passed"] for c in checks) else ", ".join(c["name"] for c in checks if not c["passed"]) or "–"
    print(f"| {name} | {100*e['clean']['accuracy']:.1f}% | {100*e['robustness'][0]['worst_case_accuracy']:.1f}% | "
          f"{report['mean_hvp_cosine']:.3f} | {report['mean_gradient_cosine']:.3f} | {mean(report['curvature_loss']):.3f} | "
          f"{mean(report['top_eigenvalue']):.3f} | {passed} | {seconds:.0f} |")
PY
