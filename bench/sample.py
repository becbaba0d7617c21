"""Sampling speed per decoding policy, measured in one run on the same model and batch size.

Prints samples/s for each policy, its forward passes per batch, and its time relative to ``learned``.
The floor is one forward pass per step: ``L`` passes for one position per step, measured directly as
"forward only". ``python bench/sample.py [CHECKPOINT] [--n 256] [--repeats 7] [--device auto]``; without a
checkpoint the first one under ``pretrained/`` is used, else a freshly initialized tiny model on ``pairs``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from torch import nn

from core import tasks
from core.model import Denoiser, ModelConfig
from core.cli import fail, open_checkpoint
from core.decoding import POLICIES, sample
from core.schedules import make_schedule

ROOT = Path(__file__).resolve().parents[1]


class CountingDenoiser(nn.Module):
    """Wraps a denoiser and counts its forward passes."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model, self.calls = model, 0
        self.mask_id, self.vocab_size = model.mask_id, model.vocab_size

    def forward(self, z):
        self.calls += 1
        return self.model(z)


def load_parts(path: str | None):
    """``(model, schedule, meta, description)`` from a checkpoint, the first shipped one, or a fresh model."""
    if path is None:
        found = sorted(p.parent for p in (ROOT / "pretrained").glob("**/config.json"))
        path = str(found[0]) if found else None
    if path is not None:
        ckpt = open_checkpoint(path)
        return ckpt.model, ckpt.schedule, ckpt.meta, f"checkpoint {path}"
    meta = tasks.make_task("pairs", num_train=1, num_heldout=0).meta
    torch.manual_seed(0)
    model = Denoiser(ModelConfig(meta.num_categories, d_model=64, n_layers=2, n_heads=4))
    schedule = make_schedule("learned", meta.length, init=torch.rand(meta.length) + 0.5)
    return model, schedule, meta, "no checkpoint found: a freshly initialized tiny model on 'pairs'"


def timed_round_robin(fns: dict, repeats: int, sync) -> dict:
    """Median seconds per call of each function; one warm-up each, then the functions take turns so
    that a change in machine load hits all of them alike."""
    for fn in fns.values():
        fn()
    times = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", default=None,
                   help="checkpoint directory (default: the first under pretrained/, else a fresh tiny "
                        "model)")
    p.add_argument("--n", type=int, default=256, help="samples per batch (default: 256)")
    p.add_argument("--repeats", type=int, default=7, help="timed batches per policy (default: 7)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device (default: auto)")
    args = p.parse_args()
    for name in ("n", "repeats"):
        if getattr(args, name) < 1:
            fail(p, f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        fail(p, "device 'cuda' requested but CUDA is not available")
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          "cpu" if args.device == "auto" else args.device)
    try:
        model, schedule, meta, what = load_parts(args.checkpoint)
    except ValueError as err:  # a missing or malformed checkpoint, named by core's loader
        fail(p, str(err))
    counted = CountingDenoiser(model.to(device).eval())
    schedule = schedule.to(device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    policies = [p for p in POLICIES if p != "reference" or meta.reference_order is not None]
    print(f"{what}; task {meta.name!r}, L = {meta.length}, batch {args.n}, device {device}")

    # 1. the floor: L forward passes on a batch of masked sequences, nothing else
    z = torch.full((args.n, meta.length), model.mask_id, device=device)

    def floor():
        with torch.no_grad():
            for _ in range(meta.length):
                model(z)

    # 2. every policy on the same model, seed and batch size, timed in turns with the floor
    def decode(policy):
        def run():
            sample(counted, meta, policy, args.n, torch.Generator().manual_seed(0), schedule=schedule)
        return run

    fns = {"forward only": floor, **{policy: decode(policy) for policy in policies}}
    seconds = timed_round_robin(fns, args.repeats, sync)
    calls = {"forward only": meta.length}
    for policy in policies:
        counted.calls = 0
        fns[policy]()
        calls[policy] = counted.calls
    print(f"{'policy':<15} {'samples/s':>10} {'forwards':>9} {'x learned':>10}")
    for name, t in seconds.items():
        print(f"{name:<15} {args.n / t:>10.0f} {calls[name]:>9} {t / seconds['learned']:>10.2f}")
    print("x learned: time per batch relative to the learned policy (lower is faster)")


if __name__ == "__main__":
    main()
