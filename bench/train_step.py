"""Training-step speed, measured in one run on the same network and batch.

Prints: our training step with the linear schedule vs a bare PyTorch masked-token cross-entropy step
(target ratio <= 1.10), the learned-schedule step vs the linear one per forward pass (target <= 1.10),
and tokens/s. ``python bench/train_step.py [--task pairs] [--device auto] [--repeats 30]``.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from core.train import Trainer, TrainConfig


def bare_step(model, optimizer, x, generator):
    """The floor: mask with U(0,1) times, 1/t-weighted cross-entropy on masked tokens, AdamW."""
    B, L = x.shape
    t = torch.rand(B, generator=generator).clamp_min(1e-3).to(x.device)
    mask = torch.rand(B, L, generator=generator).to(x.device) < t[:, None]
    logits = model(torch.where(mask, model.mask_id, x)).float()
    nll = torch.nn.functional.cross_entropy(logits.transpose(1, 2), x, reduction="none")
    loss = (nll * mask / t[:, None]).sum(1).mean()
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
    optimizer.step()


def timed(fns: list, repeats: int, sync) -> list[float]:
    """Median seconds per call of each function, calls interleaved so load changes hit all alike."""
    for fn in fns:
        fn(), fn()  # warm-up
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--task", default="pairs", help="built-in task")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device")
    p.add_argument("--batch-size", type=int, default=128, help="sequences per step (times K)")
    p.add_argument("--repeats", type=int, default=30, help="timed steps per variant")
    p.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    args = p.parse_args()
    base = dict(task=args.task, batch_size=args.batch_size, K=2, device=args.device,
                compile=args.compile, eval_size=64)
    linear = Trainer(TrainConfig(schedule="linear", **base))
    learned = Trainer(TrainConfig(schedule="learned", **base))
    sync = torch.cuda.synchronize if linear.device.type == "cuda" else (lambda: None)
    model = linear.model
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = linear.train_x[: args.batch_size * 2]  # the bare step sees the same B*K sequences

    t_bare, t_linear, t_learned = timed(
        [lambda: bare_step(model, optimizer, x, g), linear.step, learned.step], args.repeats, sync)
    tokens = x.numel()
    name = torch.cuda.get_device_name() if linear.device.type == "cuda" else "cpu"
    print(f"device {name}, task {args.task}, {tokens} tokens per step (batch {args.batch_size} x K=2)")
    print(f"bare masked-CE step      {t_bare * 1e3:8.2f} ms   {tokens / t_bare:10.0f} tokens/s")
    print(f"ours, linear schedule    {t_linear * 1e3:8.2f} ms   {tokens / t_linear:10.0f} tokens/s")
    print(f"ours, learned schedule   {t_learned * 1e3:8.2f} ms   {tokens / t_learned:10.0f} tokens/s")
    print(f"ratio linear / bare      {t_linear / t_bare:.3f}   (target <= 1.10)")
    print(f"ratio learned / linear   {t_learned / t_linear:.3f}   (per forward pass; target <= 1.10)")


if __name__ == "__main__":
    main()
