#!/usr/bin/env bash
# Fuzzes the project's parsers with libFuzzer for a bounded time each (not part of `make test`).
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]      targets: idx cifar safetensors config
# Crashing inputs are written to fuzz/crashes/<target>/; copy each into fuzz/regressions/<target>/
# (after fixing the bug) so that `make test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar safetensors config)

scratch=.build-fuzz
flags=(-Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --scratch-path "$scratch")
for target in "${targets[@]}"; do
    swift build --product "fuzz-$target" "${flags[@]}"
done
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    crashes="fuzz/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    cp -n fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    echo "== fuzz-$target for ${seconds}s"
    "$scratch/debug/fuzz-$target" "$corpus" -max_total_time="$seconds" -max_len=65536 -timeout=10 \
        -artifact_prefix="$crashes/" -print_final_stats=1 2>&1 | tail -n 12
done
