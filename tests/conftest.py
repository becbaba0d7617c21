"""Shared test helpers: a tiny training config and checkpoints made from it in a few seconds, the font
sizes a plotly spec sets, and the ``deferred`` fixture that records the data behind download buttons."""

from dataclasses import replace
from pathlib import Path

import pytest
from streamlit.runtime.media_file_manager import MediaFileManager

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


def font_sizes(node, where: str = "") -> list[tuple[str, float]]:
    """Every font size a plotly spec sets, with where it is set (``layout.xaxis.tickfont`` ...)."""
    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            path = f"{where}.{key}" if where else key
            if "font" in key.lower() and isinstance(value, dict) and "size" in value:
                found.append((path, value["size"]))
            found += font_sizes(value, path)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found += font_sizes(value, f"{where}[{i}]")
    return found


@pytest.fixture()
def deferred(monkeypatch) -> dict:
    """The data callables of the page's download buttons by file id (the app builds a CSV only on click)."""
    made = {}
    add = MediaFileManager.add_deferred

    def recording(self, data, *args, **kwargs):
        file_id = add(self, data, *args, **kwargs)
        made[file_id] = data
        return file_id

    monkeypatch.setattr(MediaFileManager, "add_deferred", recording)
    return made
