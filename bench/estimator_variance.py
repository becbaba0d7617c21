"""Variance of the schedule gradient for each estimator at equal compute.

For a trained checkpoint and a fixed held-out batch, draws the surrogate's gradient with respect to the
schedule logits ``rho`` many times for the discrete-step and continuous-time estimators with RLOO group
sizes K = 2, 4, 8, keeping ``batch * K`` (forward passes) fixed. Prints the total variance (sum over
positions) and the signal-to-noise ratio ``|mean|^2 / variance``, each relative to discrete K=2.

``python bench/estimator_variance.py [CHECKPOINT] [--forward 256] [--repeats 40]``
"""

from __future__ import annotations

import argparse

import torch

from core.elbo import objective
from core.schedules import LearnedPolynomialSchedule
from core.cli import fail, open_checkpoint


def gradient_draws(ckpt, x, estimator: str, K: int, repeats: int, seed: int = 0) -> torch.Tensor:
    """``[repeats, L]`` independent draws of d(surrogate)/d(rho) on the batch ``x``."""
    schedule, g = ckpt.schedule, torch.Generator().manual_seed(seed)
    draws = []
    for _ in range(repeats):
        schedule.zero_grad()
        objective(ckpt.model, x, schedule, K, estimator, g).surrogate.backward()
        draws.append(schedule.rho.grad.detach().clone())
    return torch.stack(draws)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("checkpoint", nargs="?", default="pretrained/lookup-learned",
                   help="a checkpoint with a learned schedule")
    p.add_argument("--forward", type=int, default=256, help="sequences per forward pass (batch x K)")
    p.add_argument("--repeats", type=int, default=40, help="gradient draws per estimator")
    args = p.parse_args()
    if args.forward < 8:  # K = 8 draws need at least one sequence
        fail(p, f"--forward must be >= 8, got {args.forward}")
    if args.repeats < 2:  # a variance needs two draws
        fail(p, f"--repeats must be >= 2, got {args.repeats}")
    try:
        ckpt = open_checkpoint(args.checkpoint)
    except ValueError as err:  # a missing or malformed checkpoint, named by core's loader
        fail(p, str(err))
    if not isinstance(ckpt.schedule, LearnedPolynomialSchedule):
        fail(p, "the checkpoint's schedule is not learned")
    ckpt.model.eval()
    from core.tasks import make_task

    heldout = make_task(ckpt.meta.name, **ckpt.meta.params).heldout
    rows, reference = [], None
    for estimator in ("discrete", "continuous"):
        for K in (2, 4, 8):
            x = heldout[: args.forward // K]
            d = gradient_draws(ckpt, x, estimator, K, args.repeats)
            var, signal = float(d.var(0).sum()), float(d.mean(0).pow(2).sum())
            reference = reference or var
            rows.append((estimator, K, var, signal / var, var / reference))
    print(f"checkpoint {args.checkpoint}, {args.forward} sequences per forward pass, "
          f"{args.repeats} draws each")
    print(f"{'estimator':<11} {'K':>2} {'total variance':>15} {'SNR':>8} {'variance / discrete K=2':>24}")
    for estimator, K, var, snr, rel in rows:
        print(f"{estimator:<11} {K:>2} {var:>15.4g} {snr:>8.3f} {rel:>24.3f}")


if __name__ == "__main__":
    main()
