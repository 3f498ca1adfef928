#!/usr/bin/env bash
# Runs every fuzz target for a bounded time, one after another: `fuzz/run.sh [SECONDS per target] [TARGET...]`.
# Needs a nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`). Each target starts from its committed
# seeds (fuzz/seeds/TARGET) plus what earlier runs found (fuzz/corpus/TARGET, not committed); a crash is
# written to fuzz/artifacts/TARGET. Copy a crash into fuzz/regressions/TARGET/ and fix it: `cargo test` then
# runs it through the same check for good (tests/fuzz_inputs.rs). Prints one summary line per target.
set -euo pipefail
cd "$(dirname "$0")"

seconds=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(idx model_file model_description picture)

if ! cargo +nightly fuzz build -O >"${TMPDIR:-/tmp}/digits-fuzz-build.log" 2>&1; then
    cat "${TMPDIR:-/tmp}/digits-fuzz-build.log"
    exit 2
fi
status=0
for target in "${targets[@]}"; do
    mkdir -p "corpus/$target" "artifacts/$target"
    log="artifacts/$target/last-run.log"
    # -rss_limit_mb: a reader that allocates what a header claims trips it; -timeout: a hang is a crash.
    if cargo +nightly fuzz run -O "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -max_len=65536 \
        -artifact_prefix="artifacts/$target/" >"$log" 2>&1; then
        result=ok
    else
        result=CRASH
        status=1
    fi
    runs=$(grep -o 'Done [0-9]* runs' "$log" | grep -o '[0-9]*' | tail -1 || true)
    echo "$target: $result, ${runs:-?} executions in ${seconds} s, corpus $(ls "corpus/$target" | wc -l) inputs (log: fuzz/$log)"
done
exit $status
