#!/usr/bin/env bash
# Checks the minimum supported Rust version declared in Cargo.toml (`rust-version`) with the one
# toolchain this machine has (no second toolchain can be installed here):
#
# 1. clippy's `incompatible_msrv` (it reads `rust-version`), denied, over the library crates with
#    every feature of the facade: no standard-library API stabilised after the MSRV is used.
# 2. The dependencies as a user on the MSRV gets them: a copy of the library crates without their
#    dev-dependencies is resolved by Cargo's MSRV-aware resolver (`fallback`), every package of
#    that graph must declare a `rust-version` no newer than ours, and the libraries must compile
#    against exactly those versions.
#
# What it does not prove: language features stabilised after the MSRV (rustc does not check
# them against `rust-version`), and compiler bugs or lints of the old compiler; only building
# with that toolchain proves those.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
libs=(-p layercache -p cache-core -p cache-redis -p cache-macros)
# Every feature of the facade (what users can enable), not the internal crates' test-only ones.
features=$(cargo metadata -q --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
facade = next(p for p in meta["packages"] if p["name"] == "layercache")
print(",".join("layercache/" + f for f in facade["features"]))')

echo "-- std APIs newer than rust-version (clippy::incompatible_msrv)"
cargo clippy "${libs[@]}" --features "$features" --lib -- -D clippy::incompatible_msrv

echo "-- dependencies as the MSRV-aware resolver picks them"
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
git ls-files -z cache-core cache-macros cache-redis src Cargo.toml README.md |
    xargs -0 tar -cf - | tar -xf - -C "$scratch"
python3 - "$scratch" <<'PY'
import pathlib, re, sys
root = pathlib.Path(sys.argv[1])
for manifest in root.rglob("Cargo.toml"):
    text = manifest.read_text()
    # Users never build dev-dependencies, benches, examples, tests or the other members.
    text = re.sub(r"(?ms)^\[(dev-dependencies|\[bench\]|\[example\]|\[test\])\]\n.*?(?=^\[|\Z)", "", text)
    text = re.sub(r"(?ms)^members = \[.*?\]",
                  'members = ["cache-core", "cache-macros", "cache-redis"]', text)
    manifest.write_text(text)
PY
(cd "$scratch" && CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback cargo generate-lockfile -q)
(cd "$scratch" && cargo metadata --format-version 1 --features "$features" --filter-platform \
    "$(rustc -vV | sed -n 's/^host: //p')") | python3 "$root/scripts/msrv_deps.py"
(cd "$scratch" && CARGO_TARGET_DIR="$root/target/msrv-check" cargo check -q -p layercache \
    --features "$features" --lib)
echo "MSRV checks passed"
