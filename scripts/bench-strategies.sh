#!/usr/bin/env bash
# Benchmark 5 (a, b): REINFORCE (small-budget preset), regularized evolution
# and random search at equal budgets, each with and without the median
# stopping rule, over several seeds, on synthetic children with learning
# curves; then `nas-actor compare` per task. Seconds per search.
#
#   scripts/bench-strategies.sh [OUT_DIR]          (default target/bench-strategies)
#   SEEDS="1 2 3 4 5" BUDGET=500 EPOCHS=10 NAS=target/release/nas-actor scripts/bench-strategies.sh
#   CONTROLLER='learning_rate = 0.005' scripts/bench-strategies.sh   (REINFORCE settings to try)
#   TASKS=declared STRATEGIES=reinforce STOPS=off scripts/bench-strategies.sh    (a part only)
#   M=1 scripts/bench-strategies.sh    (children per controller update; default 4)
#
# (a) "landscape": the paper's base-8 cell space (34 tokens) and the landscape
#     of src/synthetic.rs (reward 0.1 + 0.9·f², f the share of tokens that
#     match a hidden target; its optimum may not be reachable once canonical).
# (b) "declared": the declared space of configs/declared_synthetic.toml, whose
#     synthetic reward has a known optimum of 1.0 (regret = 1 − best).
# Every search: one trainer slot, one replica with m = 4 (REINFORCE, random),
# so a seed gives the same children every time.
set -euo pipefail
cd "$(dirname "$0")/.."
OUT=${1:-target/bench-strategies}
NAS=${NAS:-target/debug/nas-actor}
SEEDS=${SEEDS:-1 2 3 4 5}
BUDGET=${BUDGET:-500}
EPOCHS=${EPOCHS:-10}
CONTROLLER=${CONTROLLER:-}
TASKS=${TASKS:-landscape declared}
STRATEGIES=${STRATEGIES:-reinforce evolution random}
STOPS=${STOPS:-off on}
[ -x "$NAS" ] || { echo "no $NAS: build it first (cargo build)" >&2; exit 2; }
mkdir -p "$OUT"

space() { # the [search.space] and space tables of task $1
  case $1 in
    landscape) printf 'space = "cell"\n' ;;
    declared) printf 'space = "custom"\n' ;;
  esac
}
space_tables() {
  case $1 in
    landscape) printf '[space.cell]\nbase = 8\n' ;;
    declared) sed -n '/^\[\[space.custom.decision\]\]/,/^\[child\]/p' configs/declared_synthetic.toml | sed '$d' ;;
  esac
}

for task in $TASKS; do
  for strategy in $STRATEGIES; do
    for stop in $STOPS; do
      for seed in $SEEDS; do
        name="$task-$strategy-stop-$stop-$seed"
        dir="$OUT/runs/$name"
        rm -rf "$dir"
        cfg="$OUT/configs/$name.toml"
        mkdir -p "$OUT/configs"
        enabled=false; [ "$stop" = on ] && enabled=true
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
$(space $task)
strategy = "$strategy"
replicas = 1
children_per_replica = ${M:-4}

[search.early_stop]
enabled = $enabled
grace_epochs = 2
min_children = 5

[controller]
preset = "small-budget"
$CONTROLLER

$(space_tables $task)

[child]
backend = "synthetic"

[child.synthetic]
epochs = $EPOCHS
TOML
        NAS_ACTOR_PLAIN=1 "$NAS" run "$cfg" > "$OUT/configs/$name.log" 2>&1 \
          || { echo "failed: $name (see $OUT/configs/$name.log)" >&2; exit 1; }
      done
    done
  done
  "$NAS" compare "$OUT"/runs/"$task"-* --out "$OUT/compare-$task" | grep -v '^wrote'
  echo
done

# Per seed: the best metric after all children, REINFORCE and evolution against random.
python3 - "$OUT" "$BUDGET" "$TASKS" "$STRATEGIES" "$STOPS" "$SEEDS" <<'PY'
import json, sys
out, budget, tasks, strategies, stops, seeds = sys.argv[1], int(sys.argv[2]), *[a.split() for a in sys.argv[3:]]
def best(task, strategy, stop, seed):
    path = f"{out}/runs/{task}-{strategy}-stop-{stop}-{seed}/children.jsonl"
    metrics = [json.loads(l).get("metric") for l in open(path)]
    return max((m for m in metrics if m is not None), default=float("nan"))
for task in tasks:
    for stop in stops:
        print(f"{task}, early stop {stop}: best after {budget} children per seed")
        print("| seed | " + " | ".join(strategies) + " |")
        print("|---|" + "---:|" * len(strategies))
        for seed in seeds:
            print(f"| {seed} | " + " | ".join(f"{best(task, s, stop, seed):.4f}" for s in strategies) + " |")
        print()
PY
