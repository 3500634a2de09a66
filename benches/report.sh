#!/usr/bin/env bash
# Runs the benches side by side and prints every performance goal (issue 11) with its ratio and
# met / not met, then writes benches/RESULTS.md: the goals, the full tables, and the machine.
#
#   benches/report.sh                      # about 10 minutes once built, on 2 cores
#   MEASURE=5 WARMUP=2 benches/report.sh   # longer, steadier criterion runs
#
# Runs, in this order:
#   instructions (gungraun/callgrind: instructions per L1 hit and per L2 hit, repeatable)
#   compare_l1   (criterion: L1 hit wall clock, 1 thread and 2 threads on one hot key; allocations)
#   compare_l2   (criterion: L2 hit on a local redis-server at 1, 32 and 64 tasks)
#   memory       (L1 resident memory against its byte budget)
#   codecs, stampede (criterion)
#
# Needs redis-server (scripts/install-redis.sh), valgrind, python3, and gungraun-runner of the
# same version as the gungraun crate: `cargo install gungraun-runner --version 0.20.0`.
# Honours CARGO_TARGET_DIR. Criterion's own output stays in $CARGO_TARGET_DIR/criterion.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
measure="${MEASURE:-2}"
warmup="${WARMUP:-1}"
gungraun_version="0.20.0"

need() {
    command -v "$1" >/dev/null || {
        echo "$1 is not on PATH: $2" >&2
        exit 1
    }
}
need redis-server "run scripts/install-redis.sh"
need python3 "it writes the tables"
need valgrind "apt-get install valgrind"
need gungraun-runner "cargo install gungraun-runner --version $gungraun_version"
runner_version="$(gungraun-runner --version | grep -o '[0-9][0-9.]*' | head -1)"
if [ "$runner_version" != "$gungraun_version" ]; then
    echo "gungraun-runner is $runner_version; the benches use gungraun $gungraun_version" >&2
    exit 1
fi

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT

echo "== building the benches"
cargo bench -q -p peer-benches --no-run
cargo bench -q -p layercache --bench codecs --no-run

started="$(date +%s)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"

# run NAME PACKAGE [ARGS...]: one bench, its output in $logs/NAME.log.
run() {
    local name="$1" package="$2"
    shift 2
    echo "== $name"
    if ! cargo bench -q -p "$package" --bench "$name" -- "$@" >"$logs/$name.log" 2>&1; then
        cat "$logs/$name.log" >&2
        echo "bench $name failed" >&2
        exit 1
    fi
    grep -E '^report:|Instructions:|^[a-z_]+::|time:' "$logs/$name.log" || true
}
criterion_args=(--warm-up-time "$warmup" --measurement-time "$measure")
run instructions peer-benches
run compare_l1 peer-benches "${criterion_args[@]}"
run compare_l2 peer-benches "${criterion_args[@]}"
run memory peer-benches
run codecs layercache "${criterion_args[@]}"
run stampede peer-benches "${criterion_args[@]}"
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

export REPORT_LOGS="$logs" REPORT_STARTED="$started" REPORT_CRITERION="$target_dir/criterion"
export REPORT_LOAD_BEFORE="$load_before" REPORT_LOAD_AFTER="$load_after"
export REPORT_MEASURE="$measure" REPORT_WARMUP="$warmup"
export REPORT_NPROC="$(nproc)"
export REPORT_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
export REPORT_MEM="$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
export REPORT_RUSTC="$(rustc --version)"
export REPORT_REDIS="$(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
export REPORT_VALGRIND="$(valgrind --version)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit, with uncommitted changes in the work tree"
fi
export REPORT_COMMIT="$commit"

python3 benches/report.py > benches/RESULTS.md
# The goals, on the terminal too.
sed -n '/^## Goals/,/^## L1 hit/p' benches/RESULTS.md | sed '$d'
echo "== wrote benches/RESULTS.md"
