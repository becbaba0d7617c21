"""Sudoku solve rates per decoding policy: fixed orders against adaptive ones, on the same puzzles and seed.

For each checkpoint the held-out test puzzles (the first ``--puzzles`` of the task's held-out split) are
decoded from their givens by every policy (greedy by default); the table shows the solve rate with its 95%
Wilson interval and the model calls per puzzle. The learned + adaptive ``hybrid`` (score ``log w_l + beta *
margin``) gets its ``beta`` from ``--betas``, chosen by solve rate on ``--valid`` puzzles of a separate
validation stream (never on the test puzzles; ties go to the smaller ``beta``).

    python bench/sudoku.py [CHECKPOINT ...] [--puzzles 500] [--valid 300] [--markdown] [--out FILE]

Without checkpoints it uses ``pretrained/sudoku6-learned`` and ``pretrained/sudoku6-linear``. The JSON
goes to ``runs/sudoku.json`` (ignored by git) unless ``--out`` names another file, e.g.
``bench/results/sudoku.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from core import sudoku
from core.compare import format_solve_table
from core.quality import solve_rate, solve_rates
from core.cli import fail, open_checkpoint
from core.decoding import Policy, hybrid_label

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINTS = ["pretrained/sudoku6-learned", "pretrained/sudoku6-linear"]
DEFAULT_POLICIES = "random,learned,left_to_right,confidence,margin,entropy"
DEFAULT_BETAS = "0,0.5,1,2,4,8,16,32"


def choose_beta(ckpt, betas: list[float], count: int, args) -> tuple[float, dict]:
    """The hybrid's ``beta`` with the highest solve rate on ``count`` validation puzzles."""
    solutions, given = sudoku.task_puzzles(ckpt.meta.params, "valid", count)
    rates = {}
    for beta in betas:
        score = solve_rate(ckpt.model, ckpt.schedule, ckpt.meta, solutions, given, hybrid_label(beta), args.seed,
                           k=args.k, temperature=args.temperature)
        rates[beta] = score.rate
    best = max(betas, key=lambda b: (rates[b], -b))
    return best, rates


def run_checkpoint(path: str, args, betas: list[float]) -> dict:
    ckpt = open_checkpoint(path)
    if ckpt.meta.name != "sudoku":
        raise ValueError(f"{path} was trained on {ckpt.meta.name!r}, not on sudoku")
    start = time.perf_counter()
    policies = [Policy.parse(p) for p in args.policies.split(",") if p.strip()]
    beta, valid_rates = (None, {}) if not betas else choose_beta(ckpt, betas, args.valid, args)
    if beta is not None:
        policies.append(hybrid_label(beta))
    solutions, given = sudoku.task_puzzles(ckpt.meta.params, "heldout", args.puzzles)
    scores = solve_rates(ckpt, solutions, given, policies, seed=args.seed, k=args.k,
                         temperature=args.temperature)
    return {"checkpoint": path, "schedule": ckpt.config.get("schedule"),
            "size": ckpt.meta.params["size"], "puzzles": args.puzzles, "valid_puzzles": args.valid,
            "beta": beta, "valid_rates": {f"{b:g}": r for b, r in valid_rates.items()},
            "givens_mean": float(given.sum(1).float().mean()), "seconds": time.perf_counter() - start,
            "scores": {name: s.to_json() for name, s in scores.items()}, "_scores": scores}


def main() -> None:
    p = argparse.ArgumentParser(prog="bench/sudoku.py", description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", nargs="*", help=f"sudoku checkpoints (default: {' '.join(DEFAULT_CHECKPOINTS)})")
    p.add_argument("--policies", default=DEFAULT_POLICIES, help=f"comma-separated (default: {DEFAULT_POLICIES})")
    p.add_argument("--betas", default=DEFAULT_BETAS,
                   help=f"hybrid betas to choose from on the validation puzzles; empty: no hybrid "
                        f"(default: {DEFAULT_BETAS})")
    p.add_argument("--puzzles", type=int, default=500, help="held-out test puzzles per policy (default: 500)")
    p.add_argument("--valid", type=int, default=300, help="validation puzzles for beta (default: 300)")
    p.add_argument("--k", type=int, default=1, help="cells revealed per step (default: 1)")
    p.add_argument("--temperature", type=float, default=0.0, help="0 = the most likely value (default: 0)")
    p.add_argument("--seed", type=int, default=0, help="random seed shared by every policy (default: 0)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--markdown", action="store_true", help="print markdown tables")
    p.add_argument("--out", default=str(ROOT / "runs" / "sudoku.json"), help="JSON result file")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        betas = [float(b) for b in args.betas.split(",") if b.strip()]
        if any(not b >= 0 for b in betas):
            raise ValueError("--betas must be numbers >= 0")
        for name in ("puzzles", "valid", "k"):
            if getattr(args, name) < 1:
                raise ValueError(f"--{name} must be >= 1")
        results = [run_checkpoint(path, args, betas) for path in args.checkpoints or DEFAULT_CHECKPOINTS]
    except ValueError as err:
        fail(p, str(err))
    for r in results:
        print(f"\n## {r['checkpoint']} ({r['schedule']} schedule, {r['size']}x{r['size']}, mean givens "
              f"{r['givens_mean']:.1f}, {r['puzzles']} test puzzles; hybrid beta {r['beta']} chosen on "
              f"{r['valid_puzzles']} validation puzzles; {r['seconds']:.0f} s)\n")
        print(format_solve_table(r.pop("_scores"), markdown=args.markdown))
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    settings = {"k": args.k, "temperature": args.temperature, "seed": args.seed, "betas": betas}
    out.write_text(json.dumps({"settings": settings, "results": results}, indent=1) + "\n")
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
