"""Resumable runs: everything a :class:`core.train.Trainer` needs beyond its weights to continue exactly.

A checkpoint folder written during training holds, besides ``config.json`` / ``model.safetensors`` /
``metrics.json``, the file ``training_state.safetensors``: both optimizers' moment tensors, every rank's
``torch.Generator`` state, and in its metadata the step count, the losses since the last evaluation and a
fingerprint of the training data. :func:`restore` puts a fresh trainer (same config) into that state, so a
run stopped at step k and resumed ends with the same parameters and history, bit for bit, as a run that was
never stopped. Safetensors only: nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import safetensors.torch
import torch
import torch.distributed as dist

from core import checkpoint, limits

FORMAT = "orderlab-training-state"
VERSION = 1
MAX_STATE_BYTES = 2 * limits.MAX_WEIGHTS_BYTES + (1 << 20)  # two Adam moments per weight, and the RNGs


def state_files(trainer) -> dict[str, bytes]:
    """``{STATE_NAME: bytes}`` of the trainer's current state (a collective under torchrun)."""
    tensors = {**_optimizer_tensors(trainer.optimizer, "optimizer"),
               **_optimizer_tensors(trainer.schedule_optimizer, "schedule_optimizer")}
    for rank, state in enumerate(_generator_states(trainer)):
        tensors[f"generator.{rank}"] = state
    info = {"step": trainer.step_count, "elapsed": trainer.elapsed, "world_size": trainer.world,
            "recent_losses": trainer._recent_losses, "data": data_fingerprint(trainer.dataset)}
    metadata = {"format": FORMAT, "version": str(VERSION), "state": json.dumps(info)}
    return {checkpoint.STATE_NAME: safetensors.torch.save(tensors, metadata=metadata)}


def restore(trainer, directory) -> None:
    """Load weights, optimizer moments, RNG state, step and history saved in ``directory`` into ``trainer``."""
    directory = Path(directory)
    ckpt = checkpoint.load(directory)
    tensors, info = _read_state(directory / checkpoint.STATE_NAME)
    if info["world_size"] != trainer.world:
        raise ValueError(f"the run was saved with {info['world_size']} process(es); resume it with as many, "
                         f"not {trainer.world}")
    if info["data"] != data_fingerprint(trainer.dataset):
        raise ValueError("the training data differ from the run's (another CSV file or task parameters?)")
    trainer.model.load_state_dict(ckpt.model.state_dict(), strict=True)
    trainer.schedule.load_state_dict(ckpt.schedule.state_dict(), strict=True)
    _load_optimizer(trainer.optimizer, tensors, "optimizer")
    _load_optimizer(trainer.schedule_optimizer, tensors, "schedule_optimizer")
    trainer.generator.set_state(tensors[f"generator.{trainer.rank}"])
    trainer.step_count, trainer.elapsed = info["step"], info["elapsed"]
    trainer._recent_losses = list(info["recent_losses"])
    trainer.history = list((ckpt.metrics or {}).get("history", []))


def data_fingerprint(dataset) -> str:
    """sha256 of the training and held-out tensors: a resumed run must see the same data."""
    digest = hashlib.sha256()
    for x in (dataset.train, dataset.heldout):
        digest.update(str(tuple(x.shape)).encode())
        digest.update(x.cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _optimizer_tensors(optimizer, prefix: str) -> dict[str, torch.Tensor]:
    if optimizer is None:
        return {}
    state = optimizer.state_dict()["state"]  # {param index: {"step", "exp_avg", "exp_avg_sq"}}
    return {f"{prefix}.{i}.{key}": value.detach().cpu().contiguous()
            for i, values in state.items() for key, value in values.items()}


def _load_optimizer(optimizer, tensors: dict[str, torch.Tensor], prefix: str) -> None:
    if optimizer is None:
        return
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, value in tensors.items():
        head, _, rest = name.partition(".")
        if head == prefix:
            index, _, key = rest.partition(".")
            state.setdefault(int(index), {})[key] = value
    full = optimizer.state_dict()
    full["state"] = state
    optimizer.load_state_dict(full)


def _generator_states(trainer) -> list[torch.Tensor]:
    mine = trainer.generator.get_state()
    if trainer.world == 1:
        return [mine]
    everyone = [None] * trainer.world
    dist.all_gather_object(everyone, mine.tolist())
    return [torch.tensor(s, dtype=torch.uint8) for s in everyone]


def _read_state(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    if not path.is_file():
        raise ValueError(f"{path.parent.name} holds no {checkpoint.STATE_NAME}: it was not written by a "
                         "training run that can be resumed")
    if path.stat().st_size > MAX_STATE_BYTES:
        raise ValueError(f"{checkpoint.STATE_NAME} is larger than {MAX_STATE_BYTES:,} bytes")
    raw = path.read_bytes()
    checkpoint.read_safetensors_header(raw)  # bounded, pickle-free header checks before reading tensors
    n = int.from_bytes(raw[:8], "little")
    metadata = json.loads(raw[8:8 + n]).get("__metadata__") or {}
    if metadata.get("format") != FORMAT or metadata.get("version") != str(VERSION):
        raise ValueError(f"{checkpoint.STATE_NAME} is not an orderlab training state of version {VERSION}")
    return safetensors.torch.load(raw), json.loads(metadata["state"])
