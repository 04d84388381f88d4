#!/usr/bin/env bash
# `make fuzz`: run every cargo-fuzz target in fuzz/ for a bounded time and print, per target, how many inputs
# it executed and whether it crashed. Usage: scripts/fuzz.sh [SECONDS_PER_TARGET=60]; FUZZ_TARGETS="a b"
# limits the run to some targets. Exits non-zero when any target crashes (its input is kept under
# fuzz/artifacts/<target>/, reproduce with `RUSTC_BOOTSTRAP=1 cargo fuzz run <target> <file>` in fuzz/).
set -euo pipefail

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
    echo "usage: $0 [seconds-per-target]" >&2
    exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root/fuzz"

# cargo-fuzz passes -Z flags (sanitizer, coverage); only the stable toolchain exists here, and it accepts
# them when told it is bootstrapping the compiler.
export RUSTC_BOOTSTRAP=1

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "installing cargo-fuzz from crates.io"
    cargo install cargo-fuzz --locked
fi

targets="${FUZZ_TARGETS:-$(cargo fuzz list)}"
cargo fuzz build

logs="$root/target/fuzz-logs"
mkdir -p "$logs"
crashed=0
summary=()
for t in $targets; do
    mkdir -p "corpus/$t"
    corpora=("corpus/$t")
    # Seeds are read, never written: libFuzzer adds new inputs to the first corpus only.
    [ -d "seeds/$t" ] && corpora+=("seeds/$t")
    case "$t" in
        model_snapshot | sim_snapshot) corpora+=("$root/examples/homelab") ;;
    esac
    echo "== $t: ${seconds}s"
    set +e
    # -timeout turns a hang into a crash; ASan's leak check is off because statics built once per process
    # (fixtures, the runtime) look like leaks to it.
    cargo fuzz run "$t" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 -detect_leaks=0 \
        >"$logs/$t.log" 2>&1
    rc=$?
    set -e
    execs="$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$logs/$t.log" | grep -Eo '[0-9]+$' | tail -1 || true)"
    if [ "$rc" -eq 0 ]; then
        verdict="ok"
    elif grep -q 'error: could not compile' "$logs/$t.log"; then
        verdict="BUILD FAILED (log $logs/$t.log)"
        crashed=1
    else
        verdict="CRASHED (exit $rc; log $logs/$t.log)"
        crashed=1
        grep -E 'panicked at|ERROR: AddressSanitizer|ERROR: libFuzzer|Test unit written to|ALARM' "$logs/$t.log" | head -5 || true
    fi
    summary+=("$(printf '%-16s %12s executions  %s' "$t" "${execs:-?}" "$verdict")")
done

echo
echo "fuzz summary (${seconds}s per target):"
printf '  %s\n' "${summary[@]}"
exit "$crashed"
