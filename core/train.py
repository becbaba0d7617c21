"""Training: ``TrainConfig``, one loop for CPU, one CUDA GPU and ``torchrun`` DDP, metrics and snapshots.

:class:`Trainer` owns the model, the schedule, the optimizers and the history. ``Trainer.events()`` is a
generator of :class:`StepEvent` / :class:`EvalEvent` so a UI can consume progress, pause (stop pulling),
resume (pull again) and stop (drop it) — the trainer keeps its latest state either way. Every evaluation
stores a **snapshot** of the schedule exponents and the exact held-out NELBO (teacher-forced AR loss along
orders drawn from the schedule); that history is what the app replays.

CLI (``core/train_cli.py``): ``python -m core.train --task pairs --schedule learned --seed 0 --out runs/x``.
Distributed: ``torchrun --nproc_per_node N -m core.train ...`` wraps the loss module in
``DistributedDataParallel`` (gloo on CPU, NCCL on CUDA); rank 0 writes the checkpoint.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Iterator

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from core import checkpoint, resume, tasks
from core.checks import check_fields
from core.meta import Dataset
from core.elbo import ESTIMATORS, heldout_nelbo, objective
from core.model import Denoiser, ModelConfig
from core.runtime import resolve_device
from core.orders import order_summary
from core.schedules import make_schedule


@dataclass
class TrainConfig:
    """Everything a run needs; the defaults are the settings measured to learn an order on CPU."""

    task: str = "pairs"
    task_params: dict = field(default_factory=dict)
    schedule: str = "learned"  # learned | linear | cosine
    estimator: str = "discrete"  # discrete | continuous (see core/elbo.py)
    K: int = 2  # draws per sequence (RLOO needs >= 2); used for every schedule so compute is equal
    steps: int = 1200
    batch_size: int = 128
    lr: float = 2e-3
    warmup: int = 200
    lr_decay: str = "cosine"  # cosine | constant
    weight_decay: float = 0.01
    grad_clip: float = 1.0
    schedule_lr: float = 2e-2
    schedule_delay: int | None = None  # schedule frozen while the model leaves its plateau (README);
    # None: 5/12 of the steps, at most 500 (500 at the default 1200 steps)
    rho_clip: float = 3.0
    d_model: int = 64
    n_layers: int = 2
    n_heads: int = 4
    dropout: float = 0.0
    eval_every: int = 100
    eval_size: int = 256
    eval_orders: int = 2
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    compile: bool = False
    amp: bool = True  # bf16 autocast on CUDA (no-op on CPU)

    def validate(self) -> "TrainConfig":
        if self.schedule not in ("learned", "linear", "cosine"):
            raise ValueError(f"schedule must be learned, linear or cosine, got {self.schedule!r}")
        if self.estimator not in ESTIMATORS:
            raise ValueError(f"estimator must be one of {ESTIMATORS}, got {self.estimator!r}")
        if self.lr_decay not in ("cosine", "constant"):
            raise ValueError(f"lr_decay must be cosine or constant, got {self.lr_decay!r}")
        for name in ("steps", "batch_size", "eval_every", "eval_size", "eval_orders", "K"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.schedule == "learned" and self.K < 2:
            raise ValueError("K must be >= 2 for a learned schedule (RLOO needs two draws)")
        self._check_schedule_delay()
        if self.device not in ("auto", "cpu", "cuda"):
            raise ValueError(f"device must be auto, cpu or cuda, got {self.device!r}")
        return self

    def _check_schedule_delay(self) -> None:
        if self.schedule_delay is None:
            self.schedule_delay = min(500, self.steps * 5 // 12)
        if self.schedule_delay < 0:
            raise ValueError(f"schedule_delay must be >= 0, got {self.schedule_delay}")
        if self.schedule == "learned" and self.schedule_delay >= self.steps:
            raise ValueError(
                f"the learned schedule is frozen for the first {self.schedule_delay} steps (schedule delay) "
                f"and would never move in a {self.steps}-step run; give a delay below {self.steps}, or leave "
                "it out to scale it with the steps")

    @classmethod
    def from_dict(cls, d: dict) -> "TrainConfig":
        """A config from a saved dict (``config.json``'s ``train``); unknown fields are errors."""
        return cls(**check_fields(cls, d, "training config"))


@dataclass
class StepEvent:
    step: int
    loss: float  # training NELBO estimate of this batch (nats per sequence)
    lr: float
    elapsed: float


@dataclass
class EvalEvent:
    snapshot: dict  # step, exponents, heldout_nelbo, heldout_se, order statistics, elapsed


class LossModule(nn.Module):
    """Denoiser + schedule in one module, so DDP synchronizes the schedule's gradient too."""

    def __init__(self, denoiser: nn.Module, schedule: nn.Module, estimator: str, K: int):
        super().__init__()
        self.denoiser, self.schedule = denoiser, schedule
        self.estimator, self.K = estimator, K

    def forward(self, x: torch.Tensor, generator: torch.Generator, given: torch.Tensor | None = None):
        parts = objective(self.denoiser, x, self.schedule, self.K, self.estimator, generator, given=given)
        return parts.surrogate, parts.nelbo.mean()


class Trainer:
    """One training run. ``events()`` drives it; ``save()`` writes a checkpoint at any time."""

    def __init__(self, config: TrainConfig, dataset: Dataset | None = None):
        self.config = config.validate()
        self.rank, self.world = _distributed_setup(config)
        self.device = _rank_device(resolve_device(config.device), self.rank)
        self.dataset = dataset or tasks.make_task(config.task, seed=config.seed, **config.task_params)
        self.meta = self.dataset.meta
        self.train_x = self.dataset.train.to(self.device)
        self.heldout_x = self.dataset.heldout[: config.eval_size].to(self.device)
        # per-row givens (a puzzle's cells): conditioning, never masked nor scored (None for most tasks)
        self.train_given = _on(self.dataset.train_given, self.device)
        self.heldout_given = _on(self.dataset.heldout_given, self.device, config.eval_size)
        # the run's own generator, never the global RNG: the same seed gives the same initial parameters on
        # every rank, and in two runs built at once in two threads
        self._build_modules(torch.Generator().manual_seed(config.seed))
        self.generator = torch.Generator().manual_seed(config.seed * 1000 + 1 + self.rank)
        self.step_count, self.elapsed, self.history = 0, 0.0, []
        self._recent_losses: list[float] = []
        self.distributed: dict = {}  # world size and per-rank fingerprints of a torchrun run

    # --- construction ----------------------------------------------------------------------------
    def _build_modules(self, init: torch.Generator) -> None:
        c = self.config
        model_config = ModelConfig(list(self.meta.num_categories), c.d_model, c.n_layers, c.n_heads,
                                   c.dropout)
        self.model = Denoiser(model_config, generator=init).to(self.device)
        self.schedule = make_schedule(c.schedule, self.meta.length).to(self.device)
        if self.device.type == "cuda":
            torch.backends.cuda.matmul.allow_tf32 = True
            torch.backends.cudnn.allow_tf32 = True
        runner = torch.compile(self.model) if c.compile else self.model
        self.loss_module = LossModule(runner, self.schedule, c.estimator, c.K)
        if dist.is_initialized():
            ids = [self.device.index] if self.device.type == "cuda" else None
            self.loss_module = DistributedDataParallel(self.loss_module, device_ids=ids)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=c.lr,
                                           weight_decay=c.weight_decay)
        rho = [p for p in self.schedule.parameters() if p.requires_grad]
        self.schedule_optimizer = (
            torch.optim.AdamW(rho, lr=c.schedule_lr, weight_decay=0.0) if rho else None
        )

    # --- learning-rate schedules -----------------------------------------------------------------
    def lr_at(self, step: int) -> float:
        c = self.config
        if step < c.warmup:
            return c.lr * (step + 1) / c.warmup
        if c.lr_decay == "constant":
            return c.lr
        progress = (step - c.warmup) / max(1, c.steps - c.warmup)
        return c.lr * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, progress))))

    def schedule_lr_at(self, step: int) -> float:
        c = self.config
        if step < c.schedule_delay:
            return 0.0
        ramp = min(1.0, (step - c.schedule_delay + 1) / max(1, c.warmup))
        return c.schedule_lr * ramp

    # --- one step and one evaluation -------------------------------------------------------------
    def step(self) -> StepEvent:
        """One optimizer step on a fresh batch (each rank draws its own)."""
        start = time.perf_counter()
        c = self.config
        self.loss_module.train()
        idx = torch.randint(len(self.train_x), (c.batch_size,), generator=self.generator)
        x = self.train_x[idx.to(self.device)]  # [B, L]
        given = None if self.train_given is None else self.train_given[idx.to(self.device)]
        if c.dropout > 0:  # the dropout masks come from this run's generator too (none drawn without dropout)
            self.model.seed_dropout(int(torch.randint(2**62, (1,), generator=self.generator)))
        with self._autocast():
            surrogate, nelbo = self.loss_module(x, self.generator, given)
        self.optimizer.zero_grad(set_to_none=True)
        if self.schedule_optimizer:
            self.schedule_optimizer.zero_grad(set_to_none=True)
        surrogate.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), c.grad_clip)
        self._set_lr(self.optimizer, self.lr_at(self.step_count))
        self.optimizer.step()
        if self.schedule_optimizer:
            self._set_lr(self.schedule_optimizer, self.schedule_lr_at(self.step_count))
            self.schedule_optimizer.step()
            self.schedule.recenter_(c.rho_clip)  # gauge: only ratios of w matter
        self.step_count += 1
        loss = float(nelbo)
        self._recent_losses.append(loss)
        self.elapsed += time.perf_counter() - start
        return StepEvent(self.step_count, loss, self.lr_at(self.step_count - 1), self.elapsed)

    @torch.no_grad()
    def evaluate(self) -> dict:
        """Exact held-out NELBO (along orders drawn from the schedule) and the schedule snapshot."""
        start = time.perf_counter()
        self.model.eval()
        g = torch.Generator().manual_seed(12345)  # same orders at every evaluation and on every rank
        with self._autocast():
            est = heldout_nelbo(self.model, self.heldout_x, self.schedule, self.config.eval_orders, g,
                                given=self.heldout_given)
        snapshot = {"step": self.step_count, "heldout_nelbo": est.value, "heldout_se": est.stderr,
                    "train_loss": _mean(self._recent_losses), **order_summary(self.schedule, self.meta)}
        self._recent_losses = []
        self.elapsed += time.perf_counter() - start
        snapshot["elapsed"] = self.elapsed
        self.history.append(snapshot)
        return snapshot

    def events(self, steps: int | None = None) -> Iterator[StepEvent | EvalEvent]:
        """Train up to ``steps`` more steps (default: to ``config.steps``), yielding progress.

        Evaluates at step 0, every ``eval_every`` steps and at the end. Stopping early (not pulling
        further) leaves the trainer at its latest state, ready to resume or save.
        """
        end = self.config.steps if steps is None else self.step_count + steps
        if not self.history or (self.step_count % self.config.eval_every == 0
                                and self.history[-1]["step"] != self.step_count):
            yield EvalEvent(self.evaluate())  # at step 0, or where a stopped run missed its evaluation
        while self.step_count < end:
            yield self.step()
            if self.step_count % self.config.eval_every == 0 or self.step_count == end:
                yield EvalEvent(self.evaluate())

    def run(self, steps: int | None = None, progress=None) -> dict:
        """Train to the end; ``progress(event)`` is called for every event. Returns ``metrics()``."""
        for event in self.events(steps):
            if progress is not None:
                progress(event)
        return self.metrics()

    # --- results ---------------------------------------------------------------------------------
    def metrics(self, evaluate: bool = True) -> dict:
        """What ``metrics.json`` holds: the latest evaluation plus the whole snapshot history.

        With ``evaluate`` (the default) a run stopped between evaluations is evaluated first; without, the
        history is left as it is (an interrupted run saved for ``--resume``).
        """
        stale = not self.history or self.history[-1]["step"] != self.step_count
        if stale and (evaluate or not self.history):
            self.evaluate()
        last = self.history[-1]
        return {**last, "schedule": self.config.schedule, "task": self.meta.name,
                "seed": self.config.seed, "steps": self.step_count, **self.distributed,
                "history": self.history}

    def save(self, directory: str, evaluate: bool = True) -> None:
        """Write ``config.json`` + ``model.safetensors`` + ``metrics.json`` + the resume state, atomically
        (rank 0 writes; under torchrun every rank must call it)."""
        metrics = self.metrics(evaluate)
        state = resume.state_files(self)
        if self.rank == 0:
            checkpoint.save(self.model, self.schedule, self.meta, asdict(self.config), directory,
                            metrics=metrics, extra_files=state)

    def resume_from(self, directory) -> None:
        """Continue the run saved in ``directory`` (same config): see :mod:`core.resume`."""
        resume.restore(self, directory)

    # --- helpers ---------------------------------------------------------------------------------
    def _autocast(self):
        if self.device.type == "cuda" and self.config.amp:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    @staticmethod
    def _set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
        for group in optimizer.param_groups:
            group["lr"] = lr


def rank_fingerprints(trainer: Trainer) -> dict:
    """Gather a parameter fingerprint from every rank: DDP keeps them identical, or training is wrong."""
    params = list(trainer.model.parameters()) + list(trainer.schedule.parameters())
    mine = float(sum(p.detach().double().abs().sum() for p in params))
    everyone = [None] * trainer.world
    dist.all_gather_object(everyone, mine)
    if max(everyone) - min(everyone) > 1e-9 * max(1.0, abs(mine)):
        raise RuntimeError(f"ranks disagree after training: parameter fingerprints {everyone}")
    return {"world_size": trainer.world, "param_fingerprints": everyone}


def _on(given: torch.Tensor | None, device: torch.device, rows: int | None = None) -> torch.Tensor | None:
    return None if given is None else given[:rows].to(device)


def _mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def _distributed_setup(config: TrainConfig) -> tuple[int, int]:
    """Join the process group when launched by torchrun (even with one rank, so a 1-rank torchrun runs
    the same DDP and NCCL code as many ranks do)."""
    if not dist.is_torchelastic_launched() and int(os.environ.get("WORLD_SIZE", "1")) <= 1:
        return 0, 1
    if not dist.is_initialized():
        cuda = resolve_device(config.device).type == "cuda"
        dist.init_process_group("nccl" if cuda else "gloo")
    return dist.get_rank(), dist.get_world_size()


def _rank_device(device: torch.device, rank: int) -> torch.device:
    if device.type != "cuda":
        return device
    index = int(os.environ.get("LOCAL_RANK", rank)) % torch.cuda.device_count()
    torch.cuda.set_device(index)
    return torch.device("cuda", index)


if __name__ == "__main__":  # the command line lives in core/train_cli.py
    from core.train_cli import main

    main()
