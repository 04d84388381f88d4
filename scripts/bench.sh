#!/usr/bin/env bash
# `make bench`: build the release binaries, run the criterion benches (codec, audit), then the whole-process
# harness (`pveha-bench`), which prints ONE table and writes target/bench/results.json.
# Knobs: PVEHA_BENCH_LATENCY_MS (injected latency per API request, default 5), BENCH_ARGS (e.g. --quick, or
# --only apply,guest_startup to run some row groups alone; see `pveha-bench --help`).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
cargo=${CARGO:-cargo}
target=${CARGO_TARGET_DIR:-$root/target}
log="$target/bench/bench.log"
mkdir -p "$target/bench"
: >"$log"

step() { printf 'bench: %s\n' "$*" >&2; }

step "building release binaries (log: $log)"
if ! "$cargo" build --release -p terraform-provider-pveha -p pveha -p pveha-bench >>"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "bench: the release build failed" >&2
  exit 1
fi

# Only estimates written from now on count: stale ones from an earlier run must not pass for this run's.
since=$(date +%s)
# Short windows keep `make bench` within its 10-minute budget on 2 cores; the medians stay stable.
criterion_args=(--warm-up-time 1 --measurement-time 3 --sample-size 10 --noplot)
benches=("tfplugin codec" "pveha-audit audit")
# `--only` without the criterion group needs none of them: skip their minutes.
if [[ " ${BENCH_ARGS:-} " == *" --only "* && "${BENCH_ARGS:-}" != *criterion* ]]; then
  benches=()
fi
for bench in "${benches[@]}"; do
  read -r pkg name <<<"$bench"
  step "criterion: $pkg/$name"
  if ! "$cargo" bench -p "$pkg" --bench "$name" -- "${criterion_args[@]}" >>"$log" 2>&1; then
    # The harness reports the missing figures; the log says why.
    step "criterion bench $pkg/$name failed; see $log"
  fi
done

step "whole-process measurements (terraform against pveha sim)"
# shellcheck disable=SC2086 # BENCH_ARGS is a list of flags.
"$target/release/pveha-bench" --root "$root" --target-dir "$target" --criterion-since "$since" ${BENCH_ARGS:-}
