"""What the command lines (``python -m core.train``, ``core.sample``, ``core.compare`` and the ``bench/``
scripts) share: how a checkpoint argument is read and described, and how bad input is refused."""

from __future__ import annotations

import argparse
from pathlib import Path

from core import checkpoint

CHECKPOINT_HELP = "checkpoint directory (config.json + model.safetensors) or a Hugging Face Hub repo id"


def open_checkpoint(path: str):
    """Load a checkpoint for a command line tool; ValueError with a readable message when it cannot be."""
    local = Path(path).expanduser()
    looks_local = local.is_absolute() or path.startswith((".", "~")) or path.count("/") != 1
    if not local.exists() and looks_local:
        raise ValueError(f"checkpoint not found: {path} (no such directory)")
    return checkpoint.load(path)


def fail(parser: argparse.ArgumentParser, message: str) -> None:
    """One line naming the problem, exit status 2 (argparse's convention, without the usage)."""
    parser.exit(2, f"{parser.prog}: error: {message}\n")
