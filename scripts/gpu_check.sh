#!/usr/bin/env bash
# The GPU check: everything core promises about GPUs, run and measured in one go on a CUDA machine.
#
#   bash scripts/gpu_check.sh [OUT_DIR]        # OUT_DIR defaults to $OUT when set, else runs/gpu_check
#
# 1. the CUDA-marked tests (tests/test_cuda.py): cuda-tests.xml (JUnit) and their log;
# 2. bench/train_step.py for the CLI's default model and for a model scaled to the device (d_model 512,
#    8 layers, L = 256, batch 256), eager and compiled, fp32 and bf16: tokens/s, the ratio to a bare masked
#    cross-entropy step in the same process, MFU against the device's dense bf16 peak: train_step.jsonl;
# 3. bench/tabular.py --preset full (8000 steps, batch 512), linear and learned on the UCI tables, one
#    process per table and configuration at once on the one GPU, for as long as the budget allows:
#    tabular-full.json (the records docs/results.md reads) and tabular-full.md (its table).
# Everything lands in OUT_DIR, in at most 8 files (gpu_check.log holds all that was printed).
# Without CUDA it runs what a CPU can (the CUDA tests, which skip; a small CPU train_step; the tabular
# pipeline on the tiny preset) and says what it skipped.
#
# Settings (environment):
#   PYTHON                python with torch (default python3); core is taken from this checkout
#   GPU_CHECK_TESTS_S     time limit of the CUDA tests, seconds (default 300)
#   GPU_CHECK_VARIANTS    train_step variants (default "eager-fp32 eager-bf16 compile-bf16"; compile-fp32 too)
#   GPU_CHECK_REPEATS     timed steps per train_step variant (default 20)
#   GPU_CHECK_TABULAR_S   wall-clock budget of the UCI stage, seconds (default 240); runs done by then are kept
#   GPU_CHECK_SEEDS       seeds of the UCI stage (default 0,1,2 on a GPU, 0 on a CPU; a process takes them in turn)
#   GPU_CHECK_TABLES      tables (default: all five on a GPU, "adult magic" on a CPU)
#   GPU_CHECK_PROCS       UCI processes at once (default: one per table and configuration on a GPU, 2 on a CPU)
#   GPU_CHECK_DATA        folder with the raw UCI files (default ../shared/data)
#   GPU_CHECK_STEPS       override the preset's steps (for a shorter run)
set -euo pipefail
cd "$(dirname "$0")/.."

OUT_DIR="${1:-${OUT:-runs/gpu_check}}"
mkdir -p "$OUT_DIR"
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
PY="${PYTHON:-python3}"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
WORK="$(mktemp -d)"  # per-process files of the UCI stage, merged into OUT_DIR at the end
trap 'rm -rf "$WORK"' EXIT
exec > >(tee -a "$OUT_DIR/gpu_check.log") 2>&1

RAN=()
SKIPPED=()
FAILED=()
START=$SECONDS

say() { printf '\n=== %s (%d s elapsed)\n' "$*" $((SECONDS - START)); }

# --- 0. the machine -------------------------------------------------------------------------------
CUDA="$("$PY" -c 'import torch; print(int(torch.cuda.is_available()))')"
"$PY" - <<'EOF'
import os, platform, torch
name = torch.cuda.get_device_name() if torch.cuda.is_available() else "none"
print(f"python {platform.python_version()}, torch {torch.__version__}, CUDA device: {name}, "
      f"{os.cpu_count()} CPU cores")
EOF
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv || true

# --- 1. the CUDA tests ----------------------------------------------------------------------------
say "1. CUDA-marked tests"
if timeout "${GPU_CHECK_TESTS_S:-300}" "$PY" -m pytest -m cuda tests/test_cuda.py -q -rs -p no:cacheprovider \
    --junitxml "$OUT_DIR/cuda-tests.xml"; then
  RAN+=("CUDA tests (cuda-tests.xml)")
else
  FAILED+=("CUDA tests (exit $?)")
fi
[ "$CUDA" = 1 ] || SKIPPED+=("CUDA tests skip themselves: no CUDA device")

# --- 2. training-step speed and MFU ---------------------------------------------------------------
train_step() {  # train_step LABEL ARGS...: one measurement, appended to train_step.jsonl
  local label="$1"; shift
  say "2. train_step: $label"
  if timeout 300 "$PY" bench/train_step.py "$@" --json "$OUT_DIR/train_step.jsonl"; then
    RAN+=("train_step $label")
  else
    FAILED+=("train_step $label (exit $?)")
  fi
}

variant_flags() {  # eager-fp32 | eager-bf16 | compile-fp32 | compile-bf16
  case "$1" in
    eager-fp32) echo "--no-amp" ;;
    eager-bf16) echo "" ;;
    compile-fp32) echo "--compile --no-amp" ;;
    compile-bf16) echo "--compile" ;;
    *) echo "unknown train_step variant $1" >&2; return 1 ;;
  esac
}

REPEATS="${GPU_CHECK_REPEATS:-20}"
SCALED=(--task pairs --task-param n=128 --d-model 512 --n-layers 8 --n-heads 8 --batch-size 256)
if [ "$CUDA" = 1 ]; then
  for variant in ${GPU_CHECK_VARIANTS:-eager-fp32 eager-bf16 compile-bf16}; do
    flags="$(variant_flags "$variant")"
    # shellcheck disable=SC2086  # flags are words
    train_step "CLI default model, $variant" --device cuda --repeats "$REPEATS" $flags
    # shellcheck disable=SC2086
    train_step "scaled model (d 512, 8 layers, L 256, batch 256), $variant" --device cuda \
      --repeats "$REPEATS" "${SCALED[@]}" $flags
  done
else
  train_step "small CPU model (fp32, eager)" --device cpu --task-param n=4 --d-model 32 --n-layers 1 \
    --batch-size 16 --repeats 3 --threads 1
  SKIPPED+=("train_step on the GPU (CLI default and scaled model; compile; bf16; MFU): no CUDA device")
fi

# --- 3. the UCI benchmark -------------------------------------------------------------------------
if [ "$CUDA" = 1 ]; then
  PRESET=full TABLES="${GPU_CHECK_TABLES:-adult default beijing shoppers magic}" SEEDS="${GPU_CHECK_SEEDS:-0,1,2}"
  PROCS="${GPU_CHECK_PROCS:-10}"
else
  PRESET=tiny TABLES="${GPU_CHECK_TABLES:-adult magic}" SEEDS="${GPU_CHECK_SEEDS:-0}" PROCS="${GPU_CHECK_PROCS:-2}"
  SKIPPED+=("UCI full preset (8000 steps, batch 512): no CUDA device; ran the tiny preset instead")
fi
DATA="${GPU_CHECK_DATA:-../shared/data}"
TAB_OUT="$OUT_DIR/tabular-$PRESET.json"

tables_present() {  # exit 0 when the raw files of every table in TABLES are under DATA, 3 when not
  "$PY" -c 'import sys; from core import uci
sys.exit(0 if set(sys.argv[2].split()) <= set(uci.available(sys.argv[1])) else 3)' "$DATA" "$TABLES"
}

run_tabular() {  # one process per table and configuration, at most PROCS at once, all ending by the budget
  local table config remaining pids=() deadline=$((SECONDS + ${GPU_CHECK_TABULAR_S:-240}))
  for table in $TABLES; do
    for config in linear learned; do
      while [ "$(running "${pids[@]+"${pids[@]}"}")" -ge "$PROCS" ]; do sleep 1; done
      remaining=$((deadline - SECONDS))
      if [ "$remaining" -le 0 ]; then echo "budget spent: $table $config not started"; continue; fi
      echo "start: $table $config (at most $remaining s)"
      # shellcheck disable=SC2086
      OMP_NUM_THREADS=1 timeout "$remaining" "$PY" bench/tabular.py --preset "$PRESET" --tables "$table" \
        --configs "$config" --seeds "$SEEDS" --jobs 1 --data "$DATA" \
        ${GPU_CHECK_STEPS:+--steps "$GPU_CHECK_STEPS"} --out "$WORK/$table-$config.json" \
        >"$WORK/$table-$config.log" 2>&1 &
      pids+=($!)
    done
  done
  for pid in "${pids[@]+"${pids[@]}"}"; do wait "$pid" || echo "a UCI process ended with status $?"; done
}

running() {  # how many of the given process ids are still running
  local n=0 pid
  for pid in "$@"; do kill -0 "$pid" 2>/dev/null && n=$((n + 1)); done
  echo "$n"
}

say "3. UCI benchmark, preset $PRESET: tables $TABLES; linear, learned; seeds $SEEDS; $PROCS processes at once"
if tables_present; then
  run_tabular
  for log in "$WORK"/*.log; do { echo "--- ${log##*/}"; cat "$log"; } >>"$OUT_DIR/tabular.log"; done
  parts=("$WORK"/*.json)
  if [ -e "${parts[0]}" ] && "$PY" bench/tabular.py --merge "${parts[@]}" --out "$TAB_OUT"; then
    "$PY" bench/tabular.py --summary --markdown --out "$TAB_OUT" >"$OUT_DIR/tabular-$PRESET.md"
    RAN+=("UCI $PRESET preset: $("$PY" -c "import json, sys; print(len(json.load(open(sys.argv[1]))))" \
      "$TAB_OUT") run(s) in tabular-$PRESET.json (logs in tabular.log)")
  else
    FAILED+=("UCI $PRESET preset: no run finished (see tabular.log)")
  fi
elif [ $? -eq 3 ]; then
  SKIPPED+=("UCI benchmark: the raw files of $TABLES are not under $DATA (set GPU_CHECK_DATA)")
else
  FAILED+=("UCI benchmark: could not look for the tables")
fi

# --- summary --------------------------------------------------------------------------------------
say "summary"
for line in "${RAN[@]+"${RAN[@]}"}"; do echo "ran:     $line"; done
for line in "${SKIPPED[@]+"${SKIPPED[@]}"}"; do echo "skipped: $line"; done
for line in "${FAILED[@]+"${FAILED[@]}"}"; do echo "FAILED:  $line"; done
echo "results in $OUT_DIR: $(cd "$OUT_DIR" && ls | tr '\n' ' ')"
[ "${#FAILED[@]}" -eq 0 ]
