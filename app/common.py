"""What every page reads from the server: shipped checkpoints and their histories, cached datasets, the
torch thread setting, and the seed widget.

Module globals hold only constants and ``st.cache_*`` functions whose results are read-only and safe to
share between sessions; a user's state lives in ``st.session_state`` (``app/state.py``).
"""

from __future__ import annotations

import json
import os
import random
import threading
from pathlib import Path

import streamlit as st
import torch

from app import state
from core import checkpoint, meta, tasks

ROOT = Path(__file__).resolve().parents[1]
PRETRAINED_ENV = "ORDERLAB_PRETRAINED_DIR"  # tests point this at a temporary directory
MAX_SEED = state.MAX_SEED


# --- torch ---------------------------------------------------------------------------------------


def setup_torch() -> None:
    """One CPU thread per computation: every browser session trains in its own thread, so threads
    inside torch would only fight each other (and small models gain nothing from them)."""
    if torch.get_num_threads() != 1:
        torch.set_num_threads(1)
    _warm_up()


@st.cache_resource(show_spinner=False)
def _warm_up() -> threading.Thread:
    """Build a throwaway optimizer in the background, once per process: the first one imports several
    seconds of torch machinery, which would otherwise delay the first training start."""
    thread = threading.Thread(target=lambda: torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))]),
                              daemon=True, name="orderlab-warm-up")
    thread.start()
    return thread


# --- shipped checkpoints -------------------------------------------------------------------------


def pretrained_dir() -> Path:
    return Path(os.environ.get(PRETRAINED_ENV, ROOT / "pretrained"))


def list_pretrained() -> list[str]:
    """Names of the checkpoint directories in ``pretrained/`` (those holding config + weights)."""
    root = pretrained_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir()
                  if (p / checkpoint.CONFIG_NAME).is_file() and (p / checkpoint.WEIGHTS_NAME).is_file())


def load_pretrained(name: str) -> checkpoint.Checkpoint:
    """The shipped checkpoint ``name`` (cached and shared between sessions: do not modify it)."""
    if name not in list_pretrained():
        raise ValueError(f"no shipped checkpoint named {name!r} in {pretrained_dir()}")
    return _load_checkpoint(str(pretrained_dir() / name))


@st.cache_resource(show_spinner="Loading checkpoint…", max_entries=32)
def _load_checkpoint(path: str) -> checkpoint.Checkpoint:
    return checkpoint.load(path)


def pretrained_history(name: str) -> list[dict]:
    """The snapshot history in a shipped checkpoint's ``metrics.json`` (empty when there is none)."""
    return snapshot_history(load_pretrained(name).metrics)


def snapshot_history(metrics: dict | None) -> list[dict]:
    """The snapshots (dicts with ``step`` and ``exponents``) in a ``metrics.json``, empty when none."""
    history = (metrics or {}).get("history") or []
    return [s for s in history if isinstance(s, dict) and "exponents" in s and "step" in s]


# --- datasets --------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Building the dataset…", max_entries=16)
def _cached_task(name: str, seed: int, params_json: str) -> meta.Dataset:
    return tasks.make_task(name, seed=seed, **json.loads(params_json))


def cached_task(name: str, seed: int = 0, **params) -> meta.Dataset:
    """A built-in task's dataset, built once per (name, seed, params) and shared read-only."""
    return _cached_task(name, int(seed), json.dumps(params, sort_keys=True))


# --- seed widget -----------------------------------------------------------------------------------


def seed_widget(key: str, last_used: int | None = None, container=None) -> int:
    """Seed number input plus "same seed" (back to ``last_used``) and "new seed" (random) buttons."""
    box = container if container is not None else st
    state.get(key, 0)
    value = box.number_input("Seed", min_value=0, max_value=MAX_SEED, step=1, key=key,
                             help="Seeds the data split, the initial weights and every random draw: the "
                                  "same seed and settings reproduce a run (also from the CLI with --seed).")
    left, right = box.columns(2)
    left.button("Same seed", key=f"{key}_same", on_click=_set_state, args=(key, last_used),
                disabled=last_used is None, width="stretch",
                help="Go back to the seed of the last run, to repeat it exactly.")
    right.button("New seed", key=f"{key}_new", on_click=_set_state, args=(key, random.randint(0, MAX_SEED)),
                 width="stretch", help="Draw a fresh random seed.")
    return int(value)


def _set_state(key: str, value) -> None:
    if value is not None:
        st.session_state[key] = value
