"""Shipped synthetic-task checkpoints against their data's entropy, on fresh sequences.

The synthetic tasks draw their free positions uniformly and compute the rest, so the entropy of a sequence
is known exactly and no model can have a NELBO below it: pairs and majority ``n ln 2`` with n = 8
(5.545 nats), lookup ``n ln V`` (8 ln 4 = 11.090), parity ``n ln 2`` (6 ln 2 = 4.159), addition
``2d ln 10`` (6 ln 10 = 13.816). For every checkpoint: the NELBO on ``--rows`` sequences drawn with a data
seed no run was trained with (teacher-forced along ``--orders`` schedule orders per sequence, cluster
standard error over per-sequence means), its distance to the floor, and whether the task's held-out
split can even be disjoint from training (pairs, majority and parity have 256, 256 and 64 possible
sequences, all of them in any 20,000-row training set).

``python bench/synthetic_floor.py pretrained/*-l*/ pretrained/seeds/*/``
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import checkpoint, tasks  # noqa: E402
from core.meta import DataMeta  # noqa: E402
from core.elbo import heldout_nelbo  # noqa: E402

FRESH_SEED = 987_654  # a data seed no shipped run uses


def entropy(task: str, params: dict) -> float | None:
    """Exact entropy (nats) of one sequence of a synthetic task; None for other tasks."""
    n = params.get("n")
    return {"pairs": lambda: n * math.log(params.get("V", 2)), "lookup": lambda: n * math.log(params["V"]),
            "majority": lambda: n * math.log(2), "parity": lambda: n * math.log(2),
            "addition": lambda: 2 * params["digits"] * math.log(10)}.get(task, lambda: None)()


def support(task: str, params: dict) -> int | None:
    """How many distinct sequences the task can produce (one per free-position assignment)."""
    if task not in ("pairs", "lookup", "majority", "parity", "addition"):
        return None
    return round(math.exp(entropy(task, params)))


def fresh_rows(meta: DataMeta, rows: int) -> torch.Tensor:
    """``rows`` sequences of the checkpoint's task drawn with ``FRESH_SEED``."""
    params = {k: v for k, v in meta.params.items() if k not in ("seed", "num_train", "num_heldout")}
    return tasks.make_task(meta.name, seed=FRESH_SEED, num_train=rows, num_heldout=0, **params).train


@torch.no_grad()
def measure(path: Path, rows: int, orders: int) -> dict | None:
    ckpt = checkpoint.load(path)
    floor = entropy(ckpt.meta.name, ckpt.meta.params)
    if floor is None:
        return None
    x = fresh_rows(ckpt.meta, rows)
    est = heldout_nelbo(ckpt.model.eval(), x, ckpt.schedule, orders, torch.Generator().manual_seed(0))
    train = ckpt.meta.params.get("num_train", 20000)
    return {"run": path.name, "task": ckpt.meta.name, "nelbo": est.value, "se": est.stderr, "floor": floor,
            "support": support(ckpt.meta.name, ckpt.meta.params), "num_train": train}


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoints", type=Path, nargs="+")
    p.add_argument("--rows", type=int, default=2000, help="fresh sequences per checkpoint")
    p.add_argument("--orders", type=int, default=8, help="schedule orders per sequence")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    print("| run | task | fresh NELBO ± s.e. | entropy floor | above floor | possible sequences (train rows) |")
    print("|---|---|---|---|---|---|")
    for path in args.checkpoints:
        if not (path / "model.safetensors").is_file():
            continue
        r = measure(path, args.rows, args.orders)
        if r is not None:
            print(f"| {r['run']} | {r['task']} | {r['nelbo']:.3f} ± {r['se']:.3f} | {r['floor']:.3f} | "
                  f"{r['nelbo'] - r['floor']:+.3f} | {r['support']:,} ({r['num_train']:,}) |", flush=True)


if __name__ == "__main__":
    main()
