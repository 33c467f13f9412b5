#!/usr/bin/env bash
# Benchmark 5 (d): search strategies on NAS-Bench-Graph (Qin et al., NeurIPS
# 2022 datasets track), a tabular benchmark of real trained GNNs: each child
# is answered from the package's table in milliseconds (bench/nbg/).
#
#   scripts/bench-nbg.sh [OUT_DIR]          (default target/bench-nbg)
#   SEEDS="$(seq 1 20)" BUDGET=200 NAS=target/release/nas-actor scripts/bench-nbg.sh
#   DATASETS="pubmed photo" STRATEGIES="preset random" scripts/bench-nbg.sh   (a part only)
#   CONTROLLER='baseline_init = "zero"' SEARCH='repeats = "spend"' scripts/bench-nbg.sh OUT
#       (settings added to [controller] / [search] of every search)
#   KEEP=1 scripts/bench-nbg.sh OUT   (keep the searches of OUT that finished)
#
# Needs the package: .venv/bin/pip install --no-deps nas-bench-graph==1.4.0
# (Apache-2.0; its loader needs numpy). The compact tables are written once
# into bench/nbg/cache/ (ignored by git; the package's data is not committed).
#
# Strategies: "preset" (REINFORCE, controller.preset = "small-budget",
# K = 1, m = 8, refill), "paper" (REINFORCE with the paper's settings, K = 1,
# m = 8, batch sampling), "random", "evolution" (P 20, S 5) and "tpe".
# One trainer slot, so a seed gives the same children every time.
#
# Data sets: pubmed, photo, physics and cs. cora, citeseer and computers are
# held out: no run of this script and no choice of settings uses them
# (ALLOW_HELD_OUT=1 lifts the refusal, for the final check only).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-nbg}
NAS=${NAS:-target/release/nas-actor}
PY=${PY:-.venv/bin/python}
SEEDS=${SEEDS:-$(seq 1 20)}
BUDGET=${BUDGET:-200}
DATASETS=${DATASETS:-pubmed photo physics cs}
STRATEGIES=${STRATEGIES:-preset paper random evolution tpe}
CONTROLLER=${CONTROLLER:-}
SEARCH=${SEARCH:-}
[ -x "$NAS" ] || { echo "no $NAS: build it first (cargo build --release)" >&2; exit 2; }
for d in $DATASETS; do
  case $d in
    cora|citeseer|computers)
      [ "${ALLOW_HELD_OUT:-0}" = 1 ] || { echo "$d is held out (ALLOW_HELD_OUT=1 to use it)" >&2; exit 2; } ;;
  esac
done
for s in $STRATEGIES; do
  case $s in preset|paper|random|evolution|tpe) ;; *) echo "unknown strategy $s" >&2; exit 2 ;; esac
done
mkdir -p "$OUT/configs" "$OUT/runs"
kept() { [ "${KEEP:-0}" = 1 ] && [ -f "$1" ]; }
"$PY" bench/nbg/precompute.py $DATASETS >&2

search_table() { # [search] and [controller] of strategy $1
  case $1 in
    preset) printf 'strategy = "reinforce"\nchildren_per_replica = 8\n%s\n\n[controller]\npreset = "small-budget"\n%s\n' "$SEARCH" "$CONTROLLER" ;;
    paper) printf 'strategy = "reinforce"\nchildren_per_replica = 8\nsampling = "batch"\n%s\n\n[controller]\n%s\n' "$SEARCH" "$CONTROLLER" ;;
    *) printf 'strategy = "%s"\n%s\n' "$1" "$SEARCH" ;;
  esac
}

space=$(sed -n '/^\[\[space.custom.decision\]\]/,/^\[child\]/p' bench/nbg/nbg.toml | sed '$d')
started=$(date +%s)
for seed in $SEEDS; do
  for d in $DATASETS; do
    for s in $STRATEGIES; do
      name="$d-$s-$seed"
      dir="$OUT/runs/$name"
      kept "$dir/summary.json" && continue
      rm -rf "$dir"
      cfg="$OUT/configs/$name.toml"
      cat > "$cfg" <<TOML
[experiment]
name = "$name"
output_dir = "$dir"
seed = $seed
budget = $BUDGET

[devices]
gpus = "none"
cpu_workers = 1

[search]
space = "custom"
$(search_table $s)

$space

[child]
backend = "command"

[child.command]
argv = ["bench/nbg/trial.sh"]
metric = "accuracy"

[child.command.env]
NBG_TABLE = "bench/nbg/cache/$d.tbl"
TOML
      NAS_ACTOR_PLAIN=1 "$NAS" run "$cfg" > "$OUT/configs/$name.log" 2>&1 \
        || { echo "failed: $name (see $OUT/configs/$name.log)" >&2; exit 1; }
    done
  done
done
echo "searches: $(( $(date +%s) - started )) s" >&2

for d in $DATASETS; do
  "$NAS" compare "$OUT"/runs/"$d"-* --out "$OUT/compare-$d" | grep -v '^wrote' || true
done
"$PY" bench/nbg/report.py "$OUT" --budget "$BUDGET" --datasets $DATASETS --strategies $STRATEGIES --seeds $SEEDS | tee "$OUT/report.md"
