#!/usr/bin/env bash
# Reproduce simulators/reference/REFERENCE-SEEDED.md: stock Stone Soup GNN vs
# picket's tracker on the public sample and on picket-sim seeds 1..6.
# Reference only: CI does not run this (it needs Python and Stone Soup).
#
# Usage: simulators/reference/run.sh   (from anywhere)
# Env:   OUT      work directory            (default /tmp/picket-ref)
#        SAMPLE   public sample directory   (default ../shared/formats/sample beside the repo)
#        SEEDS    seeds to run              (default "1 2 3 4 5 6")
#        CARGO_TARGET_DIR                   (default <repo>/target-ref)
# Writes OUT/results.tsv and simulators/reference/stonesoup-seeded.json.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-/tmp/picket-ref}
SAMPLE=${SAMPLE:-$ROOT/../shared/formats/sample}
SEEDS=${SEEDS:-1 2 3 4 5 6}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target-ref}
BIN=$CARGO_TARGET_DIR/release
mkdir -p "$OUT"

python3 -m pip install --quiet stonesoup==1.9.1
(cd "$ROOT" && cargo build --release -p picket-cli -p picket-sim)

# run NAME DIR: Stone Soup and picket on DIR/detections.jsonl, scored against DIR/truth.jsonl.
run() {
    local name=$1 dir=$2 w=$OUT/$1
    mkdir -p "$w"
    python3 "$HERE/stonesoup_gnn.py" "$dir/detections.jsonl" "$w/stonesoup.jsonl" | tee "$w/stonesoup.log"
    "$BIN/picket" score --truth "$dir/truth.jsonl" "$w/stonesoup.jsonl" | tee "$w/stonesoup.score"
    "$BIN/picket" track "$dir/detections.jsonl" --out "$w/picket.jsonl" | tee "$w/picket.log"
    "$BIN/picket" score --truth "$dir/truth.jsonl" "$w/picket.jsonl" | tee "$w/picket.score"
}

run sample "$SAMPLE"
for n in $SEEDS; do
    "$BIN/picket-sim" generate --seed "$n" --out "$OUT/seed-$n/scenario"
    run "seed-$n" "$OUT/seed-$n/scenario"
done

# Collect the figures: results.tsv (both trackers) and stonesoup-seeded.json.
python3 - "$OUT" "$HERE/stonesoup-seeded.json" $SEEDS <<'PY'
import json, re, sys
from importlib.metadata import version
out, json_path, seeds = sys.argv[1], sys.argv[2], sys.argv[3:]
SCORE = re.compile(r"GOSPA ([\d.]+) m \(localisation ([\d.]+) m, missed ([\d.]+), false ([\d.]+)")
def score(path):
    g = [float(v) for v in SCORE.search(open(path).read()).groups()]
    return dict(zip(("gospa", "localisation", "missed", "false"), g))
def rate(path):
    return float(re.search(r"([\d.]+) detections/s", open(path).read()).group(1))
rows, doc = [], {"stonesoup_version": version("stonesoup"), "seeds": {}}
for name in ["sample"] + [f"seed-{n}" for n in seeds]:
    w = f"{out}/{name}"
    ss, pk = score(f"{w}/stonesoup.score"), score(f"{w}/picket.score")
    if name == "sample":
        doc["sample"] = ss
    else:
        doc["seeds"][name.removeprefix("seed-")] = ss
    for who, s, r in (("stonesoup", ss, rate(f"{w}/stonesoup.log")), ("picket", pk, rate(f"{w}/picket.log"))):
        rows.append([name, who, s["gospa"], s["localisation"], s["missed"], s["false"], round(r)])
with open(json_path, "w") as f:
    json.dump(doc, f, indent=2)
    f.write("\n")
with open(f"{out}/results.tsv", "w") as f:
    f.write("scenario\ttracker\tgospa\tlocalisation\tmissed\tfalse\tdetections_per_s\n")
    for r in rows:
        f.write("\t".join(str(v) for v in r) + "\n")
print(open(f"{out}/results.tsv").read())
print(f"wrote {json_path}")
PY
