#!/usr/bin/env bash
# Runs the built test bundle (`swift build --build-tests` first) as two processes side by side:
#   - the command-line tests (EDLCMCLITests), which run edlcm in child processes: they share no
#     libtorch state, so Swift Testing runs them in parallel (at most as many at once as the
#     machine has cores; suites marked .serialized keep their order);
#   - the library tests (TorchTests, EDLCMTests), in one process one at a time: they share
#     libtorch's global generator and thread count.
# Most command-line tests run edlcm on one thread, so the two halves fill the cores that one
# serial run leaves idle. Each half's output goes to BUILD/test-cli.log and BUILD/test-library.log
# and is printed when both have ended; the exit status is non-zero when either half fails.
# Idle OpenMP threads sleep instead of spinning (OMP_WAIT_POLICY=PASSIVE, for these processes and
# the edlcm processes they start): with three processes on two cores, libgomp's default spinning
# burns the cores the others need (EDLCMTests.TrainingTests beside a 2-thread edlcm: 44 and 57 s
# by default, 27 and 24 s passive). It changes no number, only how threads wait.
#   scripts/test.sh [BUILD]     (BUILD: the scratch path, default .build)
set -uo pipefail
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
build=${1:-.build}
bundle="$build/debug/EDLCMPackageTests.xctest"
[ -x "$bundle" ] || { echo "scripts/test.sh: $bundle is missing; run swift build --build-tests first" >&2; exit 2; }

start=$(date +%s)
"$bundle" --testing-library swift-testing --parallel --filter 'EDLCMCLITests\.' >"$build/test-cli.log" 2>&1 &
cli=$!
"$bundle" --testing-library swift-testing --no-parallel --skip 'EDLCMCLITests\.' >"$build/test-library.log" 2>&1
library_status=$?
wait "$cli"
cli_status=$?
for half in library cli; do
    echo "=== $half tests ($build/test-$half.log)"
    cat "$build/test-$half.log"
done
echo "=== library tests: exit $library_status; command-line tests: exit $cli_status; $(($(date +%s) - start)) s in all"
[ "$library_status" -eq 0 ] && [ "$cli_status" -eq 0 ]
