"""Lists the packages that `layercache` (all features) needs to build and that declare a
`rust-version` newer than the workspace's. Reads `cargo metadata` JSON on stdin; exits 1 when
there are any. Dev-dependencies do not count: users never build them."""
import json
import sys


def version(text):
    parts = [int(p) for p in text.split(".")]
    return tuple(parts + [0] * (3 - len(parts)))


meta = json.load(sys.stdin)
packages = {p["id"]: p for p in meta["packages"]}
nodes = {n["id"]: n for n in meta["resolve"]["nodes"]}
root = next(p for p in meta["packages"] if p["name"] == "layercache")
msrv = version(root["rust_version"])
seen, todo = set(), [root["id"]]
while todo:
    current = todo.pop()
    if current in seen:
        continue
    seen.add(current)
    for dep in nodes[current]["deps"]:
        if any(k["kind"] in (None, "build") for k in dep["dep_kinds"]):
            todo.append(dep["pkg"])
newer = sorted(
    f'{packages[i]["name"]} {packages[i]["version"]} needs Rust {packages[i]["rust_version"]}'
    for i in seen
    if packages[i]["rust_version"] and version(packages[i]["rust_version"]) > msrv
)
print(f"{len(seen)} packages build layercache; declared MSRV {root['rust_version']}")
for line in newer:
    print("  " + line)
sys.exit(1 if newer else 0)
