#!/usr/bin/env bash
# Runs the comparison benches (compare_l1, compare_l2, codecs, stampede) with short measurement
# times and writes benches/RESULTS.md: Markdown tables with ratios, and the machine they ran on.
#
#   benches/report.sh                 # about 3 minutes once built
#   MEASURE=5 WARMUP=2 benches/report.sh   # longer, steadier runs
#
# Needs redis-server on PATH (scripts/install-redis.sh) and python3. Honours CARGO_TARGET_DIR.
# Criterion's own output (with plots) stays in $CARGO_TARGET_DIR/criterion; only RESULTS.md is
# meant to be committed.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
measure="${MEASURE:-2}"
warmup="${WARMUP:-1}"
benches=(compare_l1 compare_l2 codecs stampede)

# codecs is the facade's own bench; the others compare with peer crates (peer-benches/).
package_of() {
    case "$1" in
        codecs) echo layercache ;;
        *) echo peer-benches ;;
    esac
}

command -v redis-server >/dev/null || {
    echo "redis-server is not on PATH (run scripts/install-redis.sh)" >&2
    exit 1
}
command -v python3 >/dev/null || {
    echo "python3 is needed to write the tables" >&2
    exit 1
}

logs="$(mktemp -d)"
trap 'rm -rf "$logs"' EXIT
log="$logs/all.log"

echo "== building the benches"
for b in "${benches[@]}"; do cargo bench -q -p "$(package_of "$b")" --no-run --bench "$b"; done

started="$(date +%s)"
load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
for b in "${benches[@]}"; do
    echo "== $b"
    if ! cargo bench -q -p "$(package_of "$b")" --bench "$b" -- \
        --warm-up-time "$warmup" --measurement-time "$measure" >"$logs/$b.log" 2>&1; then
        cat "$logs/$b.log" >&2
        echo "bench $b failed" >&2
        exit 1
    fi
    grep -E '^report:|^(compare|codec|stampede)|time:' "$logs/$b.log" || true
    cat "$logs/$b.log" >>"$log"
done
load_after="$(cut -d' ' -f1-3 /proc/loadavg)"

export REPORT_LOG="$log" REPORT_STARTED="$started" REPORT_CRITERION="$target_dir/criterion"
export REPORT_LOAD_BEFORE="$load_before" REPORT_LOAD_AFTER="$load_after"
export REPORT_MEASURE="$measure" REPORT_WARMUP="$warmup"
export REPORT_NPROC="$(nproc)"
export REPORT_CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
export REPORT_MEM="$(free -g | awk '/^Mem:/ {print $2 " GiB"}')"
export REPORT_RUSTC="$(rustc --version)"
export REPORT_REDIS="$(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    commit="$commit, with uncommitted changes in the work tree"
fi
export REPORT_COMMIT="$commit"

python3 - > benches/RESULTS.md <<'PY'
import json, os, re, time
from pathlib import Path

crit = Path(os.environ["REPORT_CRITERION"])
started = int(os.environ["REPORT_STARTED"])
log = Path(os.environ["REPORT_LOG"]).read_text()

def median_ns(full_id):
    """Median time of one iteration, from this run's criterion estimates (None if missing)."""
    for bench in crit.glob("*/**/new/benchmark.json"):
        meta = json.loads(bench.read_text())
        if meta["full_id"] != full_id:
            continue
        est = bench.with_name("estimates.json")
        if est.stat().st_mtime < started:
            return None
        return json.loads(est.read_text())["median"]["point_estimate"]
    return None

def report(kind):
    """`report: KIND a b c` lines of the bench output, as lists of fields."""
    return [l.split()[2:] for l in log.splitlines() if l.startswith(f"report: {kind} ")]

def t(ns):
    if ns is None:
        return "n/a"
    if ns < 1e3:
        return f"{ns:.0f} ns"
    if ns < 1e6:
        return f"{ns / 1e3:.1f} µs"
    return f"{ns / 1e6:.2f} ms"

def ratio(a, b):
    return "n/a" if a is None or b is None else f"{a / b:.2f}×"

out = []
w = out.append
w("# Benchmark results")
w("")
w("Written by `benches/report.sh` (criterion, short runs: "
  f"{os.environ['REPORT_WARMUP']} s warm-up, {os.environ['REPORT_MEASURE']} s measurement per "
  "benchmark; times are criterion's median). Re-run it to get your machine's figures.")
w("")
w("| machine | |")
w("|---|---|")
w(f"| CPU | {os.environ['REPORT_CPU']} |")
w(f"| cores (`nproc`) | {os.environ['REPORT_NPROC']} |")
w(f"| memory | {os.environ['REPORT_MEM']} |")
w(f"| toolchain | {os.environ['REPORT_RUSTC']} |")
w(f"| redis-server | {os.environ['REPORT_REDIS']} (local, loopback) |")
w(f"| commit | {os.environ['REPORT_COMMIT']} |")
w(f"| date | {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(started))} |")
w(f"| load average before / after | {os.environ['REPORT_LOAD_BEFORE']} / {os.environ['REPORT_LOAD_AFTER']} |")
w("")
w("**Noise.** This is a shared 2-core virtual machine; other builds were running during the "
  "run (see the load average: above 2 means the benchmark threads were competing for the "
  "cores). Two-thread figures suffer most. Treat the ratios as indicative and re-run on a quiet "
  "machine before quoting them.")
w("")

# --- L1 ---------------------------------------------------------------------------------------
l1 = [
    ("layercache", "layercache `#[cached]`"),
    ("layercache_load_by_hand", "layercache `Cache::load` by hand (no handle clone)"),
    ("quick_cache_by_hand", "hand-written `quick_cache` get/insert (u64 key)"),
    ("cached", "`cached` `#[cached(max_size, ttl)]`"),
    ("cached_concurrent", "`cached` `#[concurrent_cached(max_size, ttl)]` (sharded)"),
]
allocs = {r[0]: r[1] for r in report("alloc")}
times = {(k, n): median_ns(f"compare_l1_hit/{k}/{n}t") for k, _ in l1 for n in (1, 2)}
w("## L1 hit (`benches/compare_l1.rs`)")
w("")
w("An `async fn(u64) -> Arc<Product>` over 1,024 warm keys, called in a loop on each thread "
  "(current-thread Tokio runtime per thread). Time is per call of one thread while the other "
  "threads call too. Speed-up = the `cached` crate's `#[cached]` time / this row's time.")
w("")
w("| contender | 1 thread | speed-up vs `cached` | 2 threads | speed-up vs `cached` | heap allocations per hit |")
w("|---|---:|---:|---:|---:|---:|")
for k, label in l1:
    w(f"| {label} | {t(times[(k, 1)])} | {ratio(times[('cached', 1)], times[(k, 1)])} "
      f"| {t(times[(k, 2)])} | {ratio(times[('cached', 2)], times[(k, 2)])} | {allocs.get(k, 'n/a')} |")
w("")
lc2, c2 = times[("layercache", 2)], times[("cached", 2)]
if lc2 and c2:
    verdict = "met" if c2 / lc2 >= 3 else "**not met**"
    w(f"Target: layercache ≥ 3× faster than `cached` on 2 threads — {c2 / lc2:.2f}× here, {verdict}.")
    w("")
w("layercache's hit builds its namespaced `String` key (the one allocation per hit), checks "
  "freshness and tag versions, and counts the hit; the hand-written `quick_cache` row hashes "
  "a bare `u64` and does none of that.")
w("")

# --- L2 ---------------------------------------------------------------------------------------
l2 = [
    ("layercache_l1_off", "layercache, L1 off (`EntryOptions::l1(false)`)"),
    ("raw_redis_get_decode", "raw redis-rs multiplexed `GET` + bincode decode"),
    ("cached_async_redis", "`cached` `#[concurrent_cached]` + `AsyncRedisCache`"),
    ("hitbox_redis", "`hitbox` 0.2 `RedisBackend` (bincode)"),
]
cmds = {r[0]: r[1] for r in report("commands_per_hit")}
w("## L2 hit (`benches/compare_l2.rs`)")
w("")
w("A ~300-byte product read from a local `redis-server` (started by the bench on a free port). "
  "1 task: latency of one call. 32 tasks: wall time per call with 32 tasks reading at once "
  "(one key each), i.e. inverse throughput. Relative = this row / raw `GET` (lower is better).")
w("")
w("| contender | 1 task | relative | 32 tasks | relative | Redis commands per hit |")
w("|---|---:|---:|---:|---:|---:|")
raw1 = median_ns("compare_l2_hit_1_task/raw_redis_get_decode")
raw32 = median_ns("compare_l2_hit_32_tasks/raw_redis_get_decode")
for k, label in l2:
    a = median_ns(f"compare_l2_hit_1_task/{k}")
    b = median_ns(f"compare_l2_hit_32_tasks/{k}")
    w(f"| {label} | {t(a)} | {ratio(a, raw1)} | {t(b)} | {ratio(b, raw32)} | {cmds.get(k, 'n/a')} |")
w("")
w("hitbox builds and runs against current crates (0.2.4 with redis 1.x); it reads with a "
  "pipeline of two commands (`HMGET` + `PTTL`).")
w("")

# --- codecs -----------------------------------------------------------------------------------
sizes = {(r[0], r[1]): int(r[2]) for r in report("size")}
w("## Codecs (`benches/codecs.rs`)")
w("")
w("Encode + decode of one realistic `Product` (14 fields: strings, a tag list, an attribute map) "
  "and of a list of 1,000 of them, through `layercache::Codec`. Relative to JSON.")
w("")
w("| codec | product: time | relative | size | 1,000 products: time | relative | size |")
w("|---|---:|---:|---:|---:|---:|---:|")
pj = median_ns("codec_product/encode_decode/json")
lj = median_ns("codec_list_1000/encode_decode/json")
for codec in ("json", "bincode", "msgpack"):
    a = median_ns(f"codec_product/encode_decode/{codec}")
    b = median_ns(f"codec_list_1000/encode_decode/{codec}")
    sa, sb = sizes.get(("product", codec)), sizes.get(("list_1000", codec))
    w(f"| {codec} | {t(a)} | {ratio(a, pj)} | {sa if sa is not None else 'n/a'} B "
      f"| {t(b)} | {ratio(b, lj)} | {f'{sb / 1024:.0f} KiB' if sb is not None else 'n/a'} |")
w("")

# --- stampede ---------------------------------------------------------------------------------
st = [
    ("layercache", "layercache (single-flight)"),
    ("cached_sync_writes", "`cached` with `sync_writes = \"by_key\"`"),
    ("cached_no_protection", "`cached` without `sync_writes` (its default)"),
]
loads = {r[0]: dict(kv.split("=") for kv in r[1:]) for r in report("stampede")}
w("## Stampede (`benches/stampede.rs`)")
w("")
w("10,000 tasks call the function on one cold key at once (2 Tokio worker threads); the loader "
  "takes 20 ms. Loader calls: the fewest and the most that one stampede caused, over 10 "
  "stampedes. Time: until the last caller has its value. Relative = this row / layercache.")
w("")
w("| contender | loader calls per stampede | time | relative |")
w("|---|---:|---:|---:|")
lc = median_ns("stampede_10000_callers/layercache")
for k, label in st:
    a = median_ns(f"stampede_10000_callers/{k}")
    lo, hi = loads.get(k, {}).get("loads_min", "n/a"), loads.get(k, {}).get("loads_max", "n/a")
    calls = lo if lo == hi else f"{lo} to {hi}"
    w(f"| {label} | {calls} | {t(a)} | {ratio(a, lc)} |")
w("")
w("Without protection every caller runs the loader (10,000 database queries for one value); "
  "the total time hardly shows it here only because the simulated loader is a sleep, not a "
  "database under load.")
print("\n".join(out))
PY
echo "== wrote benches/RESULTS.md"
