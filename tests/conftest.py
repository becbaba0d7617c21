"""Shared test helpers: a tiny training config and checkpoints made from it in a few seconds."""

from dataclasses import replace
from pathlib import Path

from core.train import TrainConfig, Trainer


# schedule_lr 0: the learned exponents stay exactly equal over the 5 steps, as a barely trained run's are
TINY = TrainConfig(task="pairs", task_params={"n": 4, "num_train": 256, "num_heldout": 64}, steps=5, d_model=16,
                   n_layers=1, n_heads=2, batch_size=16, eval_size=64, eval_every=5, warmup=1, device="cpu",
                   schedule_lr=0.0)


def save_tiny(directory: Path, train: bool = True, **changes) -> Path:
    """Save a checkpoint of ``TINY`` (with ``changes``) after its 5 training steps, or untrained."""
    trainer = Trainer(replace(TINY, **changes))
    if train:
        trainer.run()
    trainer.save(directory)
    return directory
