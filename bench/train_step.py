"""Training-step speed and model FLOPs utilisation, measured in one run on the same network and batch.

Prints: our training step with the linear schedule vs a bare PyTorch masked-token cross-entropy step of the
same network, with the same compile and autocast settings (target ratio <= 1.10), the learned-schedule step
vs the linear one per forward pass (target <= 1.10), tokens/s, and on a GPU the model FLOPs utilisation
(MFU) against the device's dense bf16 peak (a table of known devices, or ``--peak-tflops``).

    python bench/train_step.py [--task pairs] [--device auto] [--repeats 30] [--compile] [--no-amp]
    python bench/train_step.py --task-param n=128 --d-model 512 --n-layers 8 --batch-size 256  # L = 256

``--json FILE`` appends the measurement as one JSON line (scripts/gpu_check.sh collects them).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core.cli import fail  # noqa: E402
from core.model import ModelConfig  # noqa: E402
from core.train import Trainer, TrainConfig  # noqa: E402
from core.train_cli import parse_params  # noqa: E402

# Dense (no sparsity) bf16 tensor-core peaks from the vendor's spec sheets, TFLOP/s. The first name that
# occurs in ``torch.cuda.get_device_name()`` wins, so the more specific names come first.
BF16_PEAK_TFLOPS = (
    ("H100 PCIe", 756.0),
    ("H100 NVL", 835.0),
    ("H100", 989.0),  # SXM ("NVIDIA H100 80GB HBM3")
    ("H200", 989.0),  # SXM; the NVL card is 835
    ("H800", 989.0),
    ("A100", 312.0),
    ("L40S", 362.0),
    ("L4", 121.0),
)


# --- model FLOPs and utilisation ----------------------------------------------------------------


def forward_flops(config: ModelConfig) -> int:
    """Matmul FLOPs (2 per multiply-add) of one sequence through :class:`core.model.Denoiser`.

    Per layer: qkv ``6 L d^2``, output projection ``2 L d^2``, MLP ``16 L d^2``, attention scores and
    their product with the values ``4 L^2 d``; the head ``2 L d V``. Embeddings, norms and activations
    are not matmuls and are left out, as usual for MFU.
    """
    L, d, V = config.length, config.d_model, config.vocab_size
    per_layer = 24 * L * d * d + 4 * L * L * d
    return config.n_layers * per_layer + 2 * L * d * V


def train_flops(config: ModelConfig, sequences: int) -> int:
    """FLOPs of one training step on ``sequences`` sequences: forward plus backward (twice the forward)."""
    return 3 * forward_flops(config) * sequences


def device_peak_tflops(name: str) -> float | None:
    """Dense bf16 peak of a CUDA device by its name, or None when the table does not know it."""
    return next((peak for key, peak in BF16_PEAK_TFLOPS if key in name), None)


def mfu(flops: float, seconds: float, peak_tflops: float | None) -> float | None:
    """Model FLOPs utilisation: achieved FLOP/s over the peak (None without a peak)."""
    if peak_tflops is None or seconds <= 0:
        return None
    return flops / seconds / (peak_tflops * 1e12)


# --- the steps ----------------------------------------------------------------------------------


def bare_step(model, optimizer, x, generator, autocast):
    """The floor: mask with U(0,1) times, 1/t-weighted cross-entropy on masked tokens, AdamW."""
    B, L = x.shape
    t = torch.rand(B, generator=generator).clamp_min(1e-3).to(x.device)
    mask = torch.rand(B, L, generator=generator).to(x.device) < t[:, None]
    with autocast():
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
        fn(), fn()  # warm-up (and compilation)
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, bucket in zip(fns, times):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            bucket.append(time.perf_counter() - start)
    return [statistics.median(bucket) for bucket in times]


def autocast_for(trainer: Trainer):
    """The autocast the trainer's step uses (bf16 on CUDA unless --no-amp), for the bare step too."""
    if trainer.device.type == "cuda" and trainer.config.amp:
        return lambda: torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext


def build(args) -> tuple[Trainer, Trainer]:
    """Two trainers on the same network, batch and settings: the linear and the learned schedule."""
    base = dict(task=args.task, task_params=args.task_params, batch_size=args.batch_size, K=2,
                d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads, device=args.device,
                compile=args.compile, amp=args.amp, eval_size=64)
    return Trainer(TrainConfig(schedule="linear", **base)), Trainer(TrainConfig(schedule="learned", **base))


def measure(args, linear: Trainer, learned: Trainer) -> dict:
    """Time the bare, linear and learned steps; return everything the report prints."""
    cuda = linear.device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    runner = linear.loss_module.denoiser  # the compiled module with --compile, as in the trainer's step
    optimizer = torch.optim.AdamW(linear.model.parameters(), lr=1e-3)
    g = torch.Generator().manual_seed(0)
    x = linear.train_x[: args.batch_size * 2]  # the bare step sees the same B*K sequences
    bare = lambda: bare_step(runner, optimizer, x, g, autocast_for(linear))  # noqa: E731
    seconds = timed([bare, linear.step, learned.step], args.repeats, sync)
    name = torch.cuda.get_device_name(linear.device) if cuda else "cpu"
    peak = args.peak_tflops if args.peak_tflops is not None else (device_peak_tflops(name) if cuda else None)
    config = linear.model.config
    flops = train_flops(config, x.shape[0])
    variants = {key: {"ms": s * 1e3, "tokens_per_s": x.numel() / s, "mfu": mfu(flops, s, peak)}
                for key, s in zip(("bare", "linear", "learned"), seconds)}
    return {"device": name, "task": args.task, "task_params": args.task_params, "length": config.length,
            "vocab_size": config.vocab_size, "d_model": config.d_model, "n_layers": config.n_layers,
            "n_heads": config.n_heads, "num_params": config.num_params(), "batch_size": args.batch_size,
            "K": 2, "tokens_per_step": x.numel(), "compile": args.compile, "bf16": cuda and args.amp,
            "peak_tflops": peak, "peak_source": _peak_source(args.peak_tflops, peak), "flops_per_step": flops,
            "repeats": args.repeats, "variants": variants, "ratio_linear_bare": seconds[1] / seconds[0],
            "ratio_learned_linear": seconds[2] / seconds[1], "torch": torch.__version__}


def _peak_source(override: float | None, peak: float | None) -> str:
    if override is not None:
        return "--peak-tflops"
    return "dense bf16 spec-sheet table in bench/train_step.py" if peak is not None else "unknown"


# --- report and CLI -----------------------------------------------------------------------------


def report(r: dict) -> str:
    """The printed table: one line per step variant, then the ratios and the peak used."""
    lines = [f"device {r['device']}, task {r['task']} (L = {r['length']}), d_model {r['d_model']}, "
             f"{r['n_layers']} layers, {r['num_params']:,} parameters, compile {r['compile']}, bf16 {r['bf16']}",
             f"{r['tokens_per_step']} tokens per step (batch {r['batch_size']} x K=2), "
             f"{r['flops_per_step'] / 1e9:.3f} GFLOP per step (model matmuls, forward + backward)"]
    labels = {"bare": "bare masked-CE step", "linear": "ours, linear schedule", "learned": "ours, learned schedule"}
    for key, label in labels.items():
        v = r["variants"][key]
        util = f"MFU {100 * v['mfu']:5.1f} %" if v["mfu"] is not None else "MFU n/a"
        lines.append(f"{label:<24} {v['ms']:8.2f} ms   {v['tokens_per_s']:12.0f} tokens/s   {util}")
    lines.append(f"ratio linear / bare      {r['ratio_linear_bare']:.3f}   (target <= 1.10)")
    lines.append(f"ratio learned / linear   {r['ratio_learned_linear']:.3f}   (per forward pass; target <= 1.10)")
    peak = (f"{r['peak_tflops']:g} TFLOP/s dense bf16 ({r['peak_source']})" if r["peak_tflops"] is not None
            else "no peak known for this device (give --peak-tflops)")
    lines.append(f"MFU against {peak}")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    d = TrainConfig()
    p.add_argument("--task", default="pairs", help="built-in task")
    p.add_argument("--task-param", action="append", default=[], metavar="KEY=VALUE",
                   help="task parameter, e.g. n=128 for L = 256 on pairs (repeatable)")
    p.add_argument("--d-model", type=int, default=d.d_model, help="transformer width")
    p.add_argument("--n-layers", type=int, default=d.n_layers, help="transformer depth")
    p.add_argument("--n-heads", type=int, default=d.n_heads, help="attention heads")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"], help="device")
    p.add_argument("--batch-size", type=int, default=d.batch_size, help="sequences per step (times K)")
    p.add_argument("--repeats", type=int, default=30, help="timed steps per variant")
    p.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    p.add_argument("--no-amp", dest="amp", action="store_false", help="no bf16 autocast on CUDA")
    p.add_argument("--peak-tflops", type=float, default=None,
                   help="device peak for MFU (default: the dense bf16 table, by device name)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--json", type=Path, default=None, help="append the measurement to this file as a JSON line")
    return p


def parse_args(argv=None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.repeats < 1:
        fail(parser, f"--repeats must be >= 1, got {args.repeats}")
    if args.peak_tflops is not None and not args.peak_tflops > 0:
        fail(parser, f"--peak-tflops must be > 0, got {args.peak_tflops}")
    try:
        args.task_params = parse_params(args.task_param)
        TrainConfig(task=args.task, task_params=args.task_params, batch_size=args.batch_size,
                    d_model=args.d_model, n_layers=args.n_layers, n_heads=args.n_heads).validate()
    except ValueError as err:
        fail(parser, str(err))
    args.parser = parser
    return args


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainers = build(args)
    except (ValueError, TypeError) as err:  # an unknown task, a bad task parameter, no CUDA
        fail(args.parser, str(err))
    result = measure(args, *trainers)
    print(report(result), flush=True)
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        with args.json.open("a") as f:
            f.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
