"""The training command line: ``python -m core.train`` (flags map onto :class:`core.train.TrainConfig`).

    python -m core.train --task lookup --schedule learned --seed 0 --out runs/lookup
    python -m core.train --csv my_table.csv --out runs/table      # any CSV table, as the app reads it
    python -m core.train --resume runs/lookup                     # continue a stopped or killed run

The checkpoint folder is written atomically at every evaluation, so a run killed at any moment keeps its
last evaluation; Ctrl-C stops after the current step and saves that step (one process). ``--resume``
continues bit for bit as if the run had never stopped (:mod:`core.resume`).
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from dataclasses import fields
from pathlib import Path

import torch
import torch.distributed as dist

from core import checkpoint, limits, tables, tasks
from core.meta import Dataset
from core.elbo import ESTIMATORS
from core.train import StepEvent, TrainConfig, Trainer, rank_fingerprints

RESUME_KEEPS = {"resume", "threads", "csv"}  # the only flags that may come with --resume


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a default only where it says something (not for switches, nor for ``None``)."""

    def _get_help_string(self, action):
        text = action.help or ""
        switch = isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction))
        if action.option_strings and not switch and action.default not in (None, argparse.SUPPRESS) \
                and "%(default)" not in text:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.train", formatter_class=_HelpFormatter,
                                description="Train a masked diffusion model with learned or shared schedules.")
    d = TrainConfig()
    p.add_argument("--task", default=d.task, help=f"built-in task: {', '.join(tasks.TASKS)}")
    p.add_argument("--csv", default=None, metavar="FILE",
                   help="train on a CSV table with a header row instead of a built-in task (encoded as the "
                        "app's Train page encodes an upload)")
    p.add_argument("--task-param", action="append", default=[], metavar="KEY=VALUE",
                   help="task parameter, e.g. n=8 (repeatable)")
    p.add_argument("--schedule", default=d.schedule, choices=["learned", "linear", "cosine"],
                   help="learned per-position exponents, or a shared schedule")
    p.add_argument("--estimator", default=d.estimator, choices=list(ESTIMATORS),
                   help="NELBO estimator used for training")
    p.add_argument("--K", type=int, default=d.K, help="draws per sequence (RLOO group size)")
    for name, kind, text in [
        ("steps", int, "optimizer steps"), ("batch_size", int, "sequences per step"),
        ("lr", float, "model peak learning rate"), ("warmup", int, "warm-up steps"),
        ("schedule_lr", float, "learning rate of the schedule exponents (log scale)"),
        ("schedule_delay", int, "steps with the schedule frozen at the start (default: 5/12 of --steps, "
                                "at most 500)"),
        ("d_model", int, "transformer width"), ("n_layers", int, "transformer depth"),
        ("n_heads", int, "attention heads"), ("eval_every", int, "steps between evaluations (and saves)"),
        ("eval_size", int, "held-out sequences per evaluation"),
        ("eval_orders", int, "orders drawn per held-out sequence"), ("seed", int, "random seed"),
    ]:
        p.add_argument(f"--{name.replace('_', '-')}", dest=name, type=kind,
                       default=getattr(d, name), help=text)
    p.add_argument("--lr-decay", default=d.lr_decay, choices=["cosine", "constant"],
                   help="learning-rate decay after warm-up")
    p.add_argument("--device", default=d.device, choices=["auto", "cpu", "cuda"], help="device")
    p.add_argument("--compile", action="store_true", help="torch.compile the denoiser")
    p.add_argument("--no-amp", dest="amp", action="store_false",
                   help="turn off bf16 autocast on CUDA (it is on by default; CPU runs never use it)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    p.add_argument("--out", default=None,
                   help="checkpoint folder to create (or an existing checkpoint to replace); required "
                        "unless --resume")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="continue the run saved in DIR with its own settings, writing back into DIR")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    values = {f.name: getattr(args, f.name) for f in fields(TrainConfig)
              if hasattr(args, f.name) and f.name != "task_params"}
    return TrainConfig(task_params=parse_params(args.task_param), **values)


def parse_params(items: list[str]) -> dict:
    """``--task-param KEY=VALUE`` items as a dict; values are JSON (numbers, booleans) or plain strings."""
    params = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ValueError(f"--task-param must look like KEY=VALUE, got {item!r}")
        try:
            params[key] = json.loads(value)  # numbers, booleans
        except json.JSONDecodeError:
            params[key] = value
    return params


# --- where the run comes from and goes to --------------------------------------------------------


def check_output(out: str) -> None:
    """Refuse, before the first step, an output that the final save could not write or must not replace."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise ValueError(f"--out {out} is a file; give a folder for the checkpoint")
    if path.is_dir() and any(path.iterdir()) and not (path / checkpoint.CONFIG_NAME).is_file():
        raise ValueError(f"--out {out} is a folder that holds other files, not a checkpoint; choose a new "
                         "or empty folder (an existing checkpoint folder is replaced)")
    existing = next((p for p in path.parents if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise ValueError(f"--out {out}: {existing} is a file, so the folder cannot be created")


def csv_dataset(path: str, seed: int) -> Dataset:
    """The CSV at ``path`` encoded as the app encodes an upload (the same function and bounds)."""
    file = Path(path)
    if not file.is_file():
        raise ValueError(f"--csv {path}: no such file")
    if file.stat().st_size > limits.CSV_MAX_BYTES:
        raise ValueError(f"--csv {path} is larger than {limits.CSV_MAX_BYTES >> 20} MB")
    return tables.csv_dataset(file.read_bytes(), file.name, seed)


def new_trainer(args: argparse.Namespace) -> tuple[Trainer, str]:
    """The trainer for a new run and its output folder."""
    if args.out is None:
        raise ValueError("--out is required (the checkpoint folder), unless you --resume a run")
    config = config_from_args(args)
    dataset = None
    if args.csv is None and config.task.endswith(".csv"):
        raise ValueError(f"--task {config.task}: --task names a built-in task; train on a CSV file with "
                         f"--csv {config.task}")
    if args.csv is not None:
        dataset = csv_dataset(args.csv, config.seed)
        config.task = dataset.meta.name
    config.validate()
    check_output(args.out)
    return Trainer(config, dataset), args.out


def resumed_trainer(args: argparse.Namespace, parser: argparse.ArgumentParser) -> tuple[Trainer, str]:
    """The trainer of the run saved in ``--resume``, restored to its saved step."""
    changed = sorted(k for k, v in vars(args).items() if k not in RESUME_KEEPS and v != parser.get_default(k))
    extra = [f"--{k.replace('_', '-')}" for k in changed if k != "out" or args.out != args.resume]
    if extra:
        raise ValueError(f"--resume continues a run with its saved settings; drop {', '.join(extra)}")
    folder = Path(args.resume)
    if not (folder / checkpoint.CONFIG_NAME).is_file():
        raise ValueError(f"--resume {args.resume}: not a checkpoint folder (no {checkpoint.CONFIG_NAME})")
    config = TrainConfig.from_dict(checkpoint.load(folder).config)
    dataset = None
    if args.csv is not None:
        dataset = csv_dataset(args.csv, config.seed)
    elif config.task not in tasks.TASKS:
        raise ValueError(f"the run trained on the table {config.task!r}; pass its CSV again with --csv FILE")
    trainer = Trainer(config, dataset)
    trainer.resume_from(folder)
    return trainer, args.resume


# --- the run ---------------------------------------------------------------------------------------


class StopRequest:
    """The first Ctrl-C asks the loop to stop after the current step; a second one interrupts at once."""

    def __init__(self, enabled: bool):
        self.enabled = enabled and threading.current_thread() is threading.main_thread()
        self.requested = False

    def __enter__(self):
        if self.enabled:
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.enabled:
            signal.signal(signal.SIGINT, self._previous)

    def _handle(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True


def train(trainer: Trainer, out: str) -> bool:
    """Run to the end, saving at every evaluation; False if stopped by Ctrl-C (state saved)."""
    from tqdm import tqdm

    c = trainer.config
    bar = tqdm(total=c.steps, initial=trainer.step_count, disable=trainer.rank != 0, unit="step")
    with StopRequest(enabled=trainer.world == 1) as stop:
        for event in trainer.events():
            if isinstance(event, StepEvent):
                bar.update(1)
                bar.set_postfix(loss=f"{event.loss:.3f}")
            else:
                s = event.snapshot
                bar.set_postfix(heldout=f"{s['heldout_nelbo']:.3f}±{s['heldout_se']:.3f}")
                if trainer.step_count < c.steps:
                    trainer.save(out)  # every evaluation: a killed run loses at most eval_every steps
            if stop.requested:
                break
    bar.close()
    if stop.requested and trainer.step_count < c.steps:
        trainer.save(out, evaluate=False)
        return False
    return True


def report(trainer: Trainer, out: str) -> None:
    metrics = trainer.metrics()
    keys = ("heldout_nelbo", "heldout_se", "group_precedence", "kendall_tau", "order_entropy")
    print(f"saved the checkpoint to {out} (step {trainer.step_count})", file=sys.stderr)
    print(json.dumps({k: metrics[k] for k in keys if k in metrics}))


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        trainer, out = resumed_trainer(args, parser) if args.resume else new_trainer(args)
    except ValueError as err:
        parser.error(str(err))
    if trainer.step_count >= trainer.config.steps:
        print(f"{out}: the run is already complete ({trainer.step_count} steps); nothing to resume",
              file=sys.stderr)
        return
    finished = train(trainer, out)
    if not finished:
        print(f"stopped at step {trainer.step_count} of {trainer.config.steps}; saved to {out}; continue "
              f"with: python -m core.train --resume {out}", file=sys.stderr)
        raise SystemExit(130)
    if dist.is_initialized():
        trainer.distributed = rank_fingerprints(trainer)
    trainer.save(out)
    if trainer.rank == 0:
        report(trainer, out)
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
