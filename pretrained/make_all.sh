#!/usr/bin/env bash
# Rebuild every shipped checkpoint with the training CLI (defaults unless stated). Two runs at a time.
# Usage: bash pretrained/make_all.sh [extra seeds: 1 2]
set -euo pipefail
cd "$(dirname "$0")/.."
run() {  # run NAME ARGS...
  local name=$1; shift
  OMP_NUM_THREADS=1 python -m core.train --threads 1 "$@" --out "pretrained/$name" > "pretrained/$name.log" 2>&1
}
jobs_list=(
  "pairs-learned --task pairs --schedule learned --seed 0"
  "pairs-linear --task pairs --schedule linear --seed 0"
  "addition-learned --task addition --schedule learned --seed 0"
  "addition-linear --task addition --schedule linear --seed 0"
  "parity-learned --task parity --schedule learned --seed 0"
  "parity-linear --task parity --schedule linear --seed 0"
  "words-learned --task words --schedule learned --seed 0"
  "words-linear --task words --schedule linear --seed 0"
  "adult-learned --task adult --schedule learned --seed 0 --steps 1500"
  "adult-linear --task adult --schedule linear --seed 0 --steps 1500"
  "digits-learned --task digits --schedule learned --seed 0 --steps 800 --schedule-delay 200 --eval-every 50"
  "digits-linear --task digits --schedule linear --seed 0 --steps 800 --schedule-delay 200 --eval-every 50"
)
for seed in "$@"; do
  for task in pairs addition; do
    for schedule in learned linear; do
      jobs_list+=("seeds/$task-$schedule-$seed --task $task --schedule $schedule --seed $seed")
    done
  done
done
mkdir -p pretrained/seeds
printf '%s\n' "${jobs_list[@]}" | xargs -P 2 -I{} bash -c "$(declare -f run); run {}"
rm -f pretrained/*.log pretrained/seeds/*.log
