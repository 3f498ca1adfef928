#!/usr/bin/env bash
# Measures digits on a GPU in one run, for the few minutes a lent device gives: the adapters, the conformance
# suite, the kernel microbenchmarks, training throughput of `tutorial` and `fast`, and one `fast` training
# run to the test set. Every result lands in $OUT (at most 8 files, as the device tool returns them):
#
#   devices.txt  check.txt  bench_kernels.json  bench_train_tutorial.json  bench_train_fast.json
#   fast_run.json  log.txt
#
# Usage (from the repository root):
#   OUT=out DIGITS=path/to/digits scripts/device-check.sh          # the real measurement
#   OUT=out DIGITS=... DEVICE_CHECK_QUICK=1 scripts/device-check.sh # every step, tiny sizes (tests, lavapipe)
#
# DIGITS defaults to target/release/digits. DEVICE names the adapter (default `gpu`: the best one, software
# ones included). DATA is the dataset folder (default: data/mnist; quick mode: the committed sample).
# On the lent machine, a Vulkan loader carried as .gl/*.deb (see the device tool's README) is unpacked first.
# The release binary carries debug information (88 MB); a stripped copy travels: `cargo build --release -p
# digits && mkdir -p .device && strip -o .device/digits target/release/digits`, then carry `.device` and `.gl`
# and run `OUT=$OUT DIGITS=.device/digits scripts/device-check.sh` there.
# The script runs every step even when one fails and exits with the number of failed steps.
set -uo pipefail

OUT="${OUT:?set OUT to the folder for the results}"
DIGITS="${DIGITS:-target/release/digits}"
DEVICE="${DEVICE:-gpu}"
QUICK="${DEVICE_CHECK_QUICK:-0}"
mkdir -p "$OUT"
LOG="$OUT/log.txt"
: >"$LOG"

if ! ldconfig -p 2>/dev/null | grep -q libvulkan.so.1 && compgen -G ".gl/*.deb" >/dev/null; then
    for deb in .gl/*.deb; do dpkg -x "$deb" /; done
    ldconfig
fi
nvidia_icd=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
if [[ -z "${VK_DRIVER_FILES:-}" && -f "$nvidia_icd" ]]; then
    export VK_DRIVER_FILES="$nvidia_icd"
fi
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

if [[ "$QUICK" == 1 ]]; then
    DATA="${DATA:-tests/fixtures/mnist-sample}"
    budget=(--filter adam --budget-ms 20)
    steps=(--steps 2 --warmup 0 --inference-runs 1 --latency-runs 3)
    # The sample's 500 images hold three steps of 128, not of 256.
    batches="tutorial:64 fast:128"
else
    DATA="${DATA:-data/mnist}"
    budget=()
    steps=(--steps 100)
    batches="tutorial:64 fast:256"
fi

failed=0
# step NAME FILE COMMAND...: runs COMMAND, its output into FILE, its errors and exit status into the log.
step() {
    local name=$1 file=$2
    shift 2
    echo "== $name: $*" >>"$LOG"
    local start=$SECONDS
    "$@" >"$OUT/$file" 2>>"$LOG"
    local status=$?
    echo "== $name: exit $status after $((SECONDS - start)) s" >>"$LOG"
    if [[ $status -ne 0 ]]; then
        failed=$((failed + 1))
    fi
}

step devices devices.txt "$DIGITS" devices
step check check.txt "$DIGITS" check --device "$DEVICE"
step bench_kernels bench_kernels.json "$DIGITS" bench kernels --device "$DEVICE" --json "${budget[@]}"
# Each model at its recipe's batch.
for model_batch in $batches; do
    model=${model_batch%:*}
    step "bench_train_$model" "bench_train_$model.json" \
        "$DIGITS" bench train --device "$DEVICE" --model "$model" --batch "${model_batch#*:}" \
        --data "$DATA" --json "${steps[@]}"
done
run_dir=$(mktemp -d)
step fast_run fast_run.txt "$DIGITS" train --device "$DEVICE" --model fast --data "$DATA" \
    --out "$run_dir/fast" --force
if [[ -f "$run_dir/fast/summary.json" ]]; then
    cp "$run_dir/fast/summary.json" "$OUT/fast_run.json"
fi
cat "$OUT/fast_run.txt" >>"$LOG"
rm -f "$OUT/fast_run.txt"
rm -rf "$run_dir"

echo "$failed failed steps" | tee -a "$LOG"
exit "$failed"
