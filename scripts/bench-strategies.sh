#!/usr/bin/env bash
# Benchmark 5: REINFORCE (small-budget preset), regularized evolution and
# random search at equal budgets, each with and without the median stopping
# rule, over several seeds; then `nas-actor compare` per task. Seconds per
# search.
#
#   scripts/bench-strategies.sh [OUT_DIR]          (default target/bench-strategies)
#   SEEDS="1 2 3 4 5" BUDGET=500 EPOCHS=10 NAS=target/release/nas-actor scripts/bench-strategies.sh
#   CONTROLLER='learning_rate = 0.005' scripts/bench-strategies.sh   (REINFORCE settings to try)
#   TASKS=declared STRATEGIES=reinforce STOPS=off scripts/bench-strategies.sh    (a part only)
#   M=1 scripts/bench-strategies.sh    (children per controller update; default 4)
#   STRATEGIES="reinforce reinforce-batch tpe evolution random" ...
#       (reinforce-batch: REINFORCE with search.sampling = "batch", the paper's
#       synchronous replica; reinforce refills, the default)
#   KEEP=1 scripts/bench-strategies.sh OUT   (keep the searches of OUT that finished;
#       run the others, then compare, retrain and tabulate over all of them)
#
# Seeds are the outer loop, so an interrupted invocation leaves whole seeds.
#
# (a) "landscape": the paper's base-8 cell space (34 tokens) and the landscape
#     of src/synthetic.rs (reward 0.1 + 0.9·f², f the share of tokens that
#     match a hidden target; its optimum may not be reachable once canonical).
# (b) "declared": the declared space of configs/declared_synthetic.toml, whose
#     synthetic reward has a known optimum of 1.0 (regret = 1 − best).
# (c) "fashion": real Fashion-MNIST children (tch, CPU): a 4-layer CNN space
#     with pooling (4/8/16 filters), 3 epochs of 10 batches of 64 from 5,000 training images,
#     judged on 512 validation images; the best architecture of each strategy
#     is then retrained on the full training split (RETRAIN_EPOCHS, default 10). Not part of the default TASKS:
#     TASKS=fashion BUDGET=300 KEEP=1 NAS=target/release/nas-actor scripts/bench-strategies.sh OUT
#     (minutes per search on 2 cores; two trainer slots of one thread each).
# Synthetic tasks: one trainer slot, one replica with m = 4 (REINFORCE,
# random), so a seed gives the same children every time.
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
# KEEP=1: FILE, written by an earlier invocation, means its step is done.
kept() { [ "${KEEP:-0}" = 1 ] && [ -f "$1" ]; }

space_tables() {
  case $1 in
    landscape) printf '[space.cell]\nbase = 8\n' ;;
    declared) sed -n '/^\[\[space.custom.decision\]\]/,/^\[child\]/p' configs/declared_synthetic.toml | sed '$d' ;;
    fashion) cat <<'TOML'
[space.cnn]
layers = 4
filter_heights = [1, 3, 5]
filter_widths = [1, 3, 5]
num_filters = [4, 8, 16]
predict_pooling = true
TOML
    ;;
  esac
}
space_of() { # search.space of task $1
  case $1 in
    landscape) echo cell ;;
    declared) echo custom ;;
    fashion) echo cnn ;;
  esac
}
workers() { # trainer slots of task $1
  case $1 in
    fashion) printf 'cpu_workers = 2\nthreads_per_worker = 1\n' ;;
    *) printf 'cpu_workers = 1\n' ;;
  esac
}
child_tables() { # what trains a child in task $1
  case $1 in
    fashion) cat <<TOML
[child]
train_batches = 10
val_batches = 8

[child.cnn]
epochs = 3
batch_size = 64
learning_rate = 0.1
augment = false

[reward]
accuracy_window = 1

[data]
dataset = "idx"
dir = "/usr/share/datasets/fashion-mnist"
val_size = 5000
train_limit = 5000

[retrain]
top = 1
data = "full"
epochs = ${RETRAIN_EPOCHS:-10}
lr_schedule = "cosine"
TOML
    ;;
    *) printf '[child]\nbackend = "synthetic"\n\n[child.synthetic]\nepochs = %s\n' "$EPOCHS" ;;
  esac
}

for task in $TASKS; do
  for seed in $SEEDS; do
    for strategy in $STRATEGIES; do
      for stop in $STOPS; do
        name="$task-$strategy-stop-$stop-$seed"
        dir="$OUT/runs/$name"
        kept "$dir/summary.json" && continue
        rm -rf "$dir"
        cfg="$OUT/configs/$name.toml"
        mkdir -p "$OUT/configs"
        enabled=false; [ "$stop" = on ] && enabled=true
        started=$(date +%s)
        cat > "$cfg" <<TOML
[experiment]
name = "$name"
output_dir = "$dir"
seed = $seed
budget = $BUDGET

[devices]
gpus = "none"
$(workers $task)

[search]
space = "$(space_of $task)"
strategy = "${strategy%-batch}"
sampling = "$(case $strategy in *-batch) echo batch ;; *) echo refill ;; esac)"
replicas = 1
children_per_replica = ${M:-4}

[search.early_stop]
enabled = $enabled
grace_epochs = $(case $task in fashion) echo 1 ;; *) echo 2 ;; esac)
min_children = 5

[controller]
preset = "small-budget"
$CONTROLLER

$(space_tables $task)

$(child_tables $task)
TOML
        NAS_ACTOR_PLAIN=1 "$NAS" run "$cfg" > "$OUT/configs/$name.log" 2>&1 \
          || { echo "failed: $name (see $OUT/configs/$name.log)" >&2; exit 1; }
        echo "$name: $(( $(date +%s) - started )) s" >> "$OUT/seconds.txt"
      done
    done
  done
  "$NAS" compare "$OUT"/runs/"$task"-* --out "$OUT/compare-$task" | grep -v '^wrote'
  echo
done

# (c): the best architecture of each strategy (over its seeds and both
# settings of early stopping) retrained once on the full training split.
if [[ " $TASKS " == *" fashion "* ]]; then
  python3 - "$OUT" "$STRATEGIES" "$STOPS" "$SEEDS" > "$OUT/retrain-dirs.txt" <<'PY'
import json, sys
out, strategies, stops, seeds = sys.argv[1], *[a.split() for a in sys.argv[2:]]
for s in strategies:
    runs = [f"{out}/runs/fashion-{s}-stop-{stop}-{seed}" for stop in stops for seed in seeds]
    def best(run):
        ms = [json.loads(l).get("metric") for l in open(run + "/children.jsonl")]
        return max((m for m in ms if m is not None), default=-1.0)
    print(max(runs, key=best))
PY
  # One thread each (threads_per_worker = 1), side by side.
  started=$(date +%s)
  while read -r dir; do
    kept "$dir/final.json" && continue
    NAS_ACTOR_PLAIN=1 "$NAS" retrain "$dir" --device cpu > "$dir/retrain.log" 2>&1 &
  done < "$OUT/retrain-dirs.txt"
  wait
  echo "retrains: $(( $(date +%s) - started )) s" >> "$OUT/seconds.txt"
  while read -r dir; do
    grep -q '^chosen' "$dir/retrain.log" \
      || { echo "retrain failed: $dir (see $dir/retrain.log)" >&2; exit 1; }
    echo "$dir: $(grep '^chosen' "$dir/retrain.log")"
  done < "$OUT/retrain-dirs.txt"
fi

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
