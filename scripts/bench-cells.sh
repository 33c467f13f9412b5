#!/usr/bin/env bash
# Hand-built recurrent cells against the LSTM baseline, with the quick start's
# model sizes on the whole Penn Treebank training text: is there a cell in the
# quick start's space that is as good as the LSTM at equal parameters?
#
#   scripts/bench-cells.sh [OUT_DIR]              (default target/bench-cells)
#   EPOCHS=2 CELLS="bench/cells/b4-lstm-no-output-gate.json lstm" scripts/bench-cells.sh
#   NAS=target/release/nas-actor scripts/bench-cells.sh
#   PROXY=1 scripts/bench-cells.sh target/bench-cells-proxy
#       (the search's own evaluation instead: the config's data slices and
#       epochs, i.e. what a quick start child is judged on; both threads)
#
# Each cell (a JSON architecture under bench/cells/, or `lstm` for the
# baseline) is trained by `nas-actor train` with configs/quickstart.toml's
# [child] and [child.lm] settings, its `space.cell.base` set to the cell's
# base, and no data slices (every batch of the training text, the whole
# validation text), for EPOCHS epochs (default 4, as the quick start's
# [retrain]) from the config's seed. Two at a time, one thread each. Prints a
# markdown table of validation perplexity per epoch; each run's JSON line is
# in OUT_DIR/NAME.json.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-cells}
NAS=${NAS:-target/release/nas-actor}
PROXY=${PROXY:-}
EPOCHS=${EPOCHS:-4}
CELLS=${CELLS:-$(ls bench/cells/*.json) lstm}
[ -x "$NAS" ] || { echo "bench-cells: $NAS not found; run cargo build --release first" >&2; exit 2; }
mkdir -p "$OUT"

# The quick start's config without its data slices, for one cell base.
# With PROXY=1, the config as it is (the search's data slices).
config() { # base model
    local slices=('-e' '/^train_limit/d' '-e' '/^val_limit/d' '-e' '/^train_batches/d' '-e' '/^val_batches/d')
    [ -z "$PROXY" ] || slices=()
    sed "${slices[@]}" -e "s/^base = .*/base = $1/" -e "s/^\[child\]\$/[child]\nmodel = \"$2\"/" \
        configs/quickstart.toml
}

run() { # cell
    local cell=$1 name base model arch
    if [ "$cell" = lstm ]; then
        name=lstm base=2 model=lstm arch=bench/cells/b2-quickstart-found.json
    else
        name=$(basename "$cell" .json) model=searched arch=$cell
        base=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["base"])' "$cell")
    fi
    config "$base" "$model" > "$OUT/$name.toml"
    if [ -n "$PROXY" ]; then
        OMP_NUM_THREADS=2 "$NAS" train "$OUT/$name.toml" --arch "$arch" > "$OUT/$name.json" 2> "$OUT/$name.err"
    else
        OMP_NUM_THREADS=1 "$NAS" train "$OUT/$name.toml" --arch "$arch" --epochs "$EPOCHS" \
            > "$OUT/$name.json" 2> "$OUT/$name.err"
    fi
}

set -- $CELLS
if [ -n "$PROXY" ]; then
    for cell in "$@"; do run "$cell"; done
    set --
fi
while [ $# -gt 0 ]; do
    run "$1" & a=$!
    b=
    if [ $# -gt 1 ]; then run "$2" & b=$!; fi
    wait $a
    [ -z "$b" ] || wait $b
    shift; [ $# -eq 0 ] || shift
done

python3 - "$OUT" $CELLS <<'EOF'
import json, os, sys
out, cells = sys.argv[1], sys.argv[2:]
rows = []
for cell in cells:
    name = "lstm" if cell == "lstm" else os.path.basename(cell)[: -len(".json")]
    d = json.load(open(os.path.join(out, name + ".json")))
    ppl = ["diverged" if e["val_metric"] is None else f"{e['val_metric']:.1f}" for e in d["epochs"]]
    rows.append((name, d["description"], d["params"], ppl, d["seconds"]))
n = max(len(r[3]) for r in rows)
print("| cell | what | parameters | " + " | ".join(f"epoch {i + 1}" for i in range(n)) + " | seconds |")
print("|---|---|---:|" + "---:|" * n + "---:|")
for name, what, params, ppl, secs in rows:
    print(f"| {name} | `{what}` | {params:,} | " + " | ".join(ppl + [""] * (n - len(ppl))) + f" | {secs:.0f} |")
EOF
