#!/usr/bin/env bash
# Rebuild every shipped checkpoint with the training CLI (defaults unless stated). Two runs at a time.
# Usage: bash pretrained/make_all.sh [extra seeds for pairs, lookup and majority, e.g. 1 2]
set -euo pipefail
cd "$(dirname "$0")/.."
run() {  # run NAME ARGS...
  local name=$1; shift
  OMP_NUM_THREADS=1 python -m core.train --threads 1 "$@" --out "pretrained/$name" > "pretrained/$name.log" 2>&1
}
short="--steps 600 --schedule-delay 200 --eval-every 50"
jobs_list=()
for task in pairs lookup majority addition; do
  for schedule in learned linear; do
    jobs_list+=("$task-$schedule --task $task --schedule $schedule --seed 0")
  done
done
for seed in "$@"; do
  for task in lookup majority pairs; do
    for schedule in learned linear; do
      jobs_list+=("seeds/$task-$schedule-$seed --task $task --schedule $schedule --seed $seed")
    done
  done
done
for task in parity words adult; do
  for schedule in learned linear; do
    jobs_list+=("$task-$schedule --task $task --schedule $schedule --seed 0 $short")
  done
done
for schedule in learned linear; do
  jobs_list+=("digits-$schedule --task digits --schedule $schedule --seed 0 --steps 400 --schedule-delay 150 --eval-every 50")
done
for schedule in learned linear; do  # 6x6 Sudoku: the givens are conditioning (bench/sudoku.py scores them)
  jobs_list+=("sudoku6-$schedule --task sudoku --schedule $schedule --seed 0 --steps 5000 --batch-size 64 --eval-every 500 --eval-size 128 --eval-orders 1")
done
mkdir -p pretrained/seeds
printf '%s\n' "${jobs_list[@]}" | xargs -P 2 -I{} bash -c "$(declare -f run); run {}"
# shipped folders keep config, weights and metrics; the extra seeds keep only their metrics
rm -f pretrained/*.log pretrained/seeds/*.log pretrained/*/training_state.safetensors
rm -f pretrained/seeds/*/model.safetensors pretrained/seeds/*/config.json pretrained/seeds/*/training_state.safetensors
