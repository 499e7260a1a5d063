#!/usr/bin/env bash
# Fuzzes the project's parsers with libFuzzer (not part of `make test`).
#   scripts/fuzz.sh RUNS [TARGET...]     targets: idx cifar jpeg safetensors config records
# RUNS is the number of executions per target for this sitting (libFuzzer's -runs). The corpus of
# each target persists in .build-fuzz/corpus/TARGET, so several sittings add up; each sitting's
# counts are appended to fuzz/runs.log (date, commit, target, executions, seconds, corpus size).
# Crashing inputs are written to fuzz/crashes/TARGET/; copy each into fuzz/regressions/TARGET/
# (after fixing the bug) so that `make test` replays it forever.
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-100000}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx cifar jpeg safetensors config records)

scratch=.build-fuzz
commit=$(git rev-parse --short HEAD)$(git diff --quiet HEAD -- Sources Package.swift || echo "+changes")
# A clean build each sitting: SwiftPM's incremental builds have kept stale struct layouts across
# this package's modules after a stored property was added (docs/reliability.md), which ASan then
# reports as a stack-buffer-overflow that the code does not have.
rm -rf "$scratch/x86_64-unknown-linux-gnu" "$scratch/debug" "$scratch/release"
# Optimised, with ASan and libFuzzer's coverage: 10 times the executions per second of a debug build.
swift build -c release --product edlcm-fuzz -Xswiftc -sanitize=fuzzer,address -Xswiftc -DFUZZING --scratch-path "$scratch"
for target in "${targets[@]}"; do
    corpus="$scratch/corpus/$target"
    crashes="fuzz/crashes/$target"
    mkdir -p "$corpus" "$crashes"
    cp -n fuzz/seeds/"$target"/* "$corpus"/ 2>/dev/null || true
    cp -n fuzz/regressions/"$target"/* "$corpus"/ 2>/dev/null || true
    dictionary=()
    [ -f "fuzz/$target.dict" ] && dictionary=(-dict="fuzz/$target.dict")
    echo "== edlcm-fuzz $target: $runs runs"
    start=$(date +%s)
    log=$(mktemp)
    status=0
    "$scratch/release/edlcm-fuzz" "$target" "$corpus" -runs="$runs" -max_len=65536 -timeout=10 -rss_limit_mb=4096 \
        "${dictionary[@]}" -artifact_prefix="$crashes/" -print_final_stats=1 >"$log" 2>&1 || status=$?
    tail -n 12 "$log"
    executed=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$commit" "$target" "${executed:-0}" "$(( $(date +%s) - start ))" \
        "$(ls "$corpus" | wc -l)" "$([ $status -eq 0 ] && echo ok || echo "FAILED ($status)")" >> fuzz/runs.log
    rm -f "$log"
    [ $status -eq 0 ] || { echo "edlcm-fuzz $target failed; the input is in $crashes/"; exit $status; }
done
