#!/usr/bin/env bash
# The CUDA paths of nas-actor, checked on a machine with NVIDIA GPUs, in a
# few minutes: build (release), what NVML sees, libtorch with CUDA (Python
# and the binary), NVML's device order against CUDA's, one LSTM child and
# one base-8 cell child trained on cuda:0 (tokens/s against the CPU figures
# in BENCHMARKS.md), two children at once on one GPU, and a CUDA
# out-of-memory in a child that the run records as failed and survives.
#
#   scripts/gpu-check.sh              build, then check
#   scripts/gpu-check.sh --no-build   use target/release/nas-actor as it is
#
# Needs: an NVIDIA driver and GPU (nvidia-smi), .venv with a CUDA build of
# torch and data/ptb (both from scripts/setup.sh). Without a GPU it stops at
# once with exit 2. Exit 0 when every check passes, 1 when one fails.
# Work files and the table (report.md) go to target/gpu-check/.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)

BUILD=1
case "${1:-}" in
  --no-build) BUILD=0 ;;
  "") ;;
  *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
esac

die() {
  echo "gpu-check: $*" >&2
  exit 2
}

# --- What must be there before anything runs -------------------------------
command -v nvidia-smi >/dev/null 2>&1 \
  || die "no NVIDIA driver here (nvidia-smi not found): this script checks the CUDA paths and needs a machine with an NVIDIA GPU; the CUDA paths stay untested"
GPU_LIST=$(nvidia-smi -L 2>&1) \
  || die "nvidia-smi cannot list GPUs: ${GPU_LIST//$'\n'/ }; the CUDA paths stay untested"
N_GPUS=$(grep -c '^GPU [0-9]' <<<"$GPU_LIST" || true)
[ "$N_GPUS" -ge 1 ] || die "nvidia-smi lists no GPU; the CUDA paths stay untested"
[ -x .venv/bin/python ] || die ".venv is missing: run scripts/setup.sh first"
[ -s data/ptb/ptb.train.txt ] || die "data/ptb is missing: run scripts/setup.sh first"

# shellcheck disable=SC1091
source .venv/bin/activate
export LIBTORCH_USE_PYTORCH=1 NAS_ACTOR_PLAIN=1
unset CUDA_VISIBLE_DEVICES
PY=.venv/bin/python
BIN=$ROOT/target/release/nas-actor
WORK=$ROOT/target/gpu-check
rm -rf "$WORK"
mkdir -p "$WORK"
STEP_LIMIT=${GPU_CHECK_STEP_LIMIT:-240}

# --- Bookkeeping: one row per check -----------------------------------------
ROWS=()
FAILED=0
T0=0
start() { T0=$(date +%s.%N); echo "gpu-check: $1 ..." >&2; }
row() { # row PASS|FAIL name detail
  local secs
  secs=$(awk -v a="$T0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
  ROWS+=("| $2 | $1 | $secs | $3 |")
  [ "$1" = PASS ] || FAILED=1
  echo "gpu-check: $2: $1 ($secs s) $3" >&2
}
# run_logged NAME CMD...: run with a time limit, output to $WORK/NAME.log
run_logged() {
  local name=$1
  shift
  timeout "$STEP_LIMIT" "$@" >"$WORK/$name.log" 2>"$WORK/$name.err"
}
last_err() { tail -n 3 "$WORK/$1.err" 2>/dev/null | tr '\n' ' ' | cut -c1-200; }

# --- 1. Build -----------------------------------------------------------------
start "build"
if [ "$BUILD" = 1 ]; then
  if cargo build --release >"$WORK/build.log" 2>&1; then
    row PASS "build (cargo build --release)" "target/release/nas-actor"
  else
    row FAIL "build (cargo build --release)" "$(tail -n 3 "$WORK/build.log" | tr '\n' ' ')"
  fi
elif [ -x "$BIN" ]; then
  row PASS "build (skipped: --no-build)" "$BIN"
else
  die "--no-build, but $BIN does not exist"
fi
[ -x "$BIN" ] || die "no binary at $BIN; see $WORK/build.log"

# --- 2. NVML: the devices the binary sees -------------------------------------
start "devices"
if run_logged devices "$BIN" devices; then
  seen=$(grep -c '^gpu [0-9]' "$WORK/devices.log" || true)
  if [ "$seen" = "$N_GPUS" ] && grep -q 'CUDA_DEVICE_ORDER=PCI_BUS_ID (cuda:i is gpu i' "$WORK/devices.log"; then
    row PASS "nas-actor devices (NVML)" "$seen GPU(s), as nvidia-smi -L; device order PCI_BUS_ID"
  else
    row FAIL "nas-actor devices (NVML)" "$seen GPU(s) listed, nvidia-smi -L has $N_GPUS; see $WORK/devices.log"
  fi
else
  row FAIL "nas-actor devices (NVML)" "exit $?: $(last_err devices)"
fi

# --- 3. libtorch with CUDA: Python and the binary ------------------------------
start "torch cuda"
torch_cuda=$(timeout "$STEP_LIMIT" "$PY" -c \
  'import torch; print(torch.cuda.is_available(), torch.cuda.device_count(), torch.version.cuda)' \
  2>"$WORK/torch.err" | tail -n 1)
if [ "${torch_cuda%% *}" = True ]; then
  row PASS "torch.cuda.is_available() (.venv)" "devices, CUDA version: ${torch_cuda#* }"
else
  row FAIL "torch.cuda.is_available() (.venv)" "${torch_cuda:-no output} (a CPU-only torch? see scripts/setup.sh)"
fi
start "binary cuda"
if grep -q '^libtorch: CUDA available' "$WORK/devices.log" 2>/dev/null; then
  row PASS "libtorch CUDA in the binary" "$(grep '^libtorch:' "$WORK/devices.log")"
else
  row FAIL "libtorch CUDA in the binary" "$(grep '^libtorch:' "$WORK/devices.log" 2>/dev/null || echo 'no libtorch line'); is libtorch_cuda.so linked? (README: How libtorch is linked)"
fi

# --- 4. NVML's order and CUDA's order name the same devices --------------------
start "device order"
nvidia-smi --query-gpu=index,pci.bus_id,uuid,name --format=csv,noheader >"$WORK/nvml_order.csv" 2>"$WORK/nvml_order.err"
if CUDA_DEVICE_ORDER=PCI_BUS_ID timeout "$STEP_LIMIT" "$PY" - "$WORK/nvml_order.csv" "$WORK/devices.log" \
  >"$WORK/order.log" 2>&1 <<'PYEOF'
import sys, torch
nvml = [[f.strip() for f in line.split(",")] for line in open(sys.argv[1]) if line.strip()]
binary = [l for l in open(sys.argv[2]) if l.startswith("gpu ")]
bad = []
if len(nvml) != torch.cuda.device_count():
    bad.append(f"nvidia-smi has {len(nvml)} GPUs, CUDA {torch.cuda.device_count()}")
for i, (index, bus, uuid, name) in enumerate(nvml):
    p = torch.cuda.get_device_properties(i)
    cuda_bus = f"{p.pci_domain_id:08X}:{p.pci_bus_id:02X}:{p.pci_device_id:02X}.0"
    same_bus = cuda_bus.upper() == bus.upper()
    plain = lambda u: u.lower().replace("gpu-", "").replace("-", "")
    cuda_uuid = str(getattr(p, "uuid", ""))
    same_uuid = not cuda_uuid or plain(uuid) == plain(cuda_uuid)
    in_binary = i < len(binary) and bus.upper().lstrip("0") in binary[i].upper()
    print(f"cuda:{i} {cuda_bus} {p.name} | nvml {index} {bus} {name} | binary: {binary[i].strip() if i < len(binary) else '-'}")
    if not (same_bus and same_uuid and in_binary):
        bad.append(f"cuda:{i} is {cuda_bus}, NVML {index} is {bus}")
if bad:
    print("; ".join(bad))
    sys.exit(1)
PYEOF
then
  row PASS "NVML order = CUDA order" "$N_GPUS GPU(s): nvidia-smi pci.bus_id = torch get_device_properties = nas-actor devices"
else
  row FAIL "NVML order = CUDA order" "$(tail -n 1 "$WORK/order.log")"
fi

# --- Configs -------------------------------------------------------------------
# The LM of BENCHMARKS.md section 2: vocabulary 10,000 (PTB), 2 x 200, BPTT 35, batch 20.
TRAIN_BATCHES=100
BPTT=35
BATCH=20
lm_config() { # lm_config FILE NAME MODEL OUTPUT_DIR BUDGET BASE HIDDEN
  cat >"$1" <<EOF
[experiment]
name = "$2"
output_dir = "$4"
budget = $5
[devices]
gpus = [0]
[search]
space = "cell"
[space.cell]
base = $6
[child]
model = "$3"
train_batches = $TRAIN_BATCHES
val_batches = 5
[child.lm]
epochs = 1
embedding_size = 200
hidden_size = $7
layers = 2
bptt = $BPTT
batch_size = $BATCH
dropout = 0.0
[data]
dataset = "ptb"
dir = "$ROOT/data/ptb"
EOF
}
cpu_figure() { # the tch tokens/s of a BENCHMARKS.md row
  grep "^| $1" BENCHMARKS.md | head -n 1 | awk -F'|' '{ gsub(/ /, "", $4); print $4 }'
}

# --- 5-6. One LSTM child and one base-8 cell child on cuda:0 --------------------
train_child() { # train_child NAME MODEL LABEL CPU_ROW
  local name=$1 model=$2 label=$3 cpu
  start "$label"
  lm_config "$WORK/$name.toml" "$name" "$model" "$WORK/$name-run" 1 8 200
  if ! run_logged "$name-arch" "$BIN" sample "$WORK/$name.toml" -n 1 --uniform --seed 1; then
    row FAIL "$label" "sample failed: $(last_err "$name-arch")"
    return
  fi
  cp "$WORK/$name-arch.log" "$WORK/$name-arch.json"
  run_logged "$name" "$BIN" train "$WORK/$name.toml" --arch "$WORK/$name-arch.json" --device cuda:0
  local rc=$?
  if [ "$rc" != 0 ]; then
    row FAIL "$label" "exit $rc: $(last_err "$name")"
    return
  fi
  cpu=$(cpu_figure "$4")
  local verdict
  verdict=$("$PY" - "$WORK/$name.log" "$((TRAIN_BATCHES * BPTT * BATCH))" "${cpu:-0}" "$model" <<'PYEOF'
import json, sys
v = json.loads(open(sys.argv[1]).read().strip().splitlines()[-1])
tokens, cpu, model = int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ok = v["status"] == "ok" and v["device"] == "Cuda(0)" and (model != "lstm" or v["hash"] == "lstm")
secs = v["epochs"][0]["seconds"] if v.get("epochs") else float("nan")
rate = tokens / secs
vs = f", {rate / cpu:.1f}x the CPU's {cpu:.0f} (BENCHMARKS.md, 1 thread)" if cpu > 0 else ""
ppl = v.get("validation_perplexity")
ppl = f"{ppl:.1f}" if isinstance(ppl, (int, float)) else "-"
print(("PASS" if ok else "FAIL") + f" status {v['status']} on {v['device']}, {rate:.0f} tokens/s (epoch with 5 validation batches){vs}, val. ppl {ppl}")
PYEOF
)
  row "${verdict%% *}" "$label" "${verdict#* }"
}
train_child lstm lstm "train: LSTM child on cuda:0" "LSTM LM 2×200"
train_child cell searched "train: base-8 cell child on cuda:0" "base-8 cell LM 2×200"

# --- 7. Two children at once on one GPU -----------------------------------------
start "two per gpu"
cat >"$WORK/two.toml" <<EOF
[experiment]
name = "two-per-gpu"
output_dir = "$WORK/two-run"
budget = 4
[devices]
gpus = [0]
children_per_gpu = 2
[search]
space = "cell"
replicas = 2
children_per_replica = 2
[space.cell]
base = 4
[child]
train_batches = 60
val_batches = 5
[child.lm]
epochs = 1
embedding_size = 64
hidden_size = 64
bptt = 20
batch_size = 20
dropout = 0.0
[data]
dataset = "ptb"
dir = "$ROOT/data/ptb"
EOF
if run_logged two "$BIN" run "$WORK/two.toml"; then
  verdict=$("$PY" - "$WORK/two-run/children.jsonl" <<'PYEOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
by = {}
for r in rs:
    by.setdefault(r["device"], []).append(r)
ok_slots = sorted(d for d, v in by.items() if any(r["status"] == "ok" for r in v))
spans = [(r["started"], r["started"] + r["seconds"]) for r in rs if r["status"] == "ok"]
overlap = any(a[0] < b[1] and b[0] < a[1] for i, a in enumerate(spans) for b in spans[i + 1:])
good = ok_slots == ["cuda:0#0", "cuda:0#1"] and overlap and len(rs) == 4
print(("PASS" if good else "FAIL") + f" {len(rs)} children; ok on {ok_slots}; trained at the same time: {overlap}")
PYEOF
)
  row "${verdict%% *}" "run: children_per_gpu = 2 on cuda:0" "${verdict#* }"
else
  row FAIL "run: children_per_gpu = 2 on cuda:0" "exit $?: $(last_err two)"
fi

# --- 8. A CUDA out-of-memory in a child: recorded failed, the run goes on ---------
# Hidden size 2^18: a base-2 cell's recurrent projection alone is
# 262,144 x 786,432 f32 = 768 GiB, more than any GPU has.
start "oom"
lm_config "$WORK/oom.toml" oom searched "$WORK/oom-run" 3 2 262144
if run_logged oom "$BIN" run "$WORK/oom.toml"; then
  verdict=$("$PY" - "$WORK/oom-run/children.jsonl" <<'PYEOF'
import json, sys
rs = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
trained = [r for r in rs if r["status"] != "cached"]
oom = [r for r in trained if r["status"] == "failed" and "out of memory" in (r.get("message") or "")]
clean = all("Exception raised from" not in (r.get("message") or "") for r in rs)
good = len(rs) == 3 and oom and len(oom) == len(trained) and clean
first = (oom[0]["message"][:80] + "...") if oom else "-"
print(("PASS" if good else "FAIL") + f" {len(oom)} of {len(rs)} children recorded failed with out of memory ({len(rs) - len(trained)} cached), the run finished its budget (exit 0): {first}")
PYEOF
)
  row "${verdict%% *}" "run: CUDA out of memory in a child" "${verdict#* }"
else
  row FAIL "run: CUDA out of memory in a child" "the run did not go on: exit $?: $(last_err oom)"
fi

# --- The table -------------------------------------------------------------------
{
  echo "GPU check, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "GPUs: $(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | paste -sd ';' -)"
  echo
  echo "| check | result | s | detail |"
  echo "|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
} | tee "$WORK/report.md"
if [ "$FAILED" = 0 ]; then
  echo "gpu-check: all checks passed (table in $WORK/report.md)"
else
  echo "gpu-check: some checks FAILED (logs in $WORK)" >&2
fi
exit "$FAILED"
