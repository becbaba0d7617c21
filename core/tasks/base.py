"""What a task is: the :class:`Task` record every task module exports as ``TASK``, and the small pieces the
synthetic tasks share (their row-count check, their two-group layout, how values are written as text).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from core import limits
from core.checks import check_cells, check_int
from core.meta import DataMeta, Dataset


@dataclass(frozen=True)
class Task:
    """One task, whole: how to build its data and, when its positions have a fixed layout, how to check and
    show its samples.

    - ``build(seed=..., **params) -> Dataset``; its keyword defaults are the task's defaults.
    - ``layout(params) -> (L, K)``: the length and the categories per position that ``params`` imply
      (ValueError / KeyError / TypeError when they are not the task's); None for tables.
    - ``rule(params, x [N, L]) -> bool [N]``: the validity rule, or None.
    - ``format(meta, values) -> str``: one decoded sample as text, or None (shown generically).
    - ``decode(v) -> value``: how a category id reads (e.g. a letter), or None (the id itself).
    - ``listed_at``: where the task comes in the registry's lists (menus, messages).
    - ``words``, ``formula``, ``easy_order``: the rule in plain words and as LaTeX, and which order makes
      every step easy, for people (the Train page under its task box, the Lesson beside its example).
    """

    name: str
    build: Callable[..., Dataset]
    layout: Callable[[dict], tuple[int, int]] | None = None
    rule: Callable[[dict, torch.Tensor], torch.Tensor] | None = None
    format: Callable[[DataMeta, list], str] | None = None
    decode: Callable[[int], object] | None = None
    listed_at: int = 100
    words: str = ""
    formula: str = ""
    easy_order: str = ""

    def defaults(self) -> dict:
        """The parameters of ``build`` (seed included) with their default values."""
        return {k: p.default for k, p in inspect.signature(self.build).parameters.items()}


def check_sizes(num_train, num_heldout, positions: int) -> int:
    """Rows to generate, refused before anything is drawn when rows x positions is over the limit."""
    check_int("num_train", num_train, 1, limits.TASK_MAX_ROWS)
    check_int("num_heldout", num_heldout, 0, limits.TASK_MAX_ROWS)
    check_cells("this task", num_train + num_heldout, positions, limits.TASK_MAX_CELLS)
    return num_train + num_heldout


def two_groups(name: str, params: dict, x: torch.Tensor, num_train: int, V: int, second: str,
               order: list[int] | None = None) -> Dataset:
    """The synthetic layout ``b_1..b_n`` then ``<second>_1..<second>_n``, each position in ``0..V-1``; the
    b's are the first reference group (the reference order: the groups in turn unless ``order`` says)."""
    n = x.shape[1] // 2
    names = [f"b{i + 1}" for i in range(n)] + [f"{second}{i + 1}" for i in range(n)]
    groups = [list(range(n)), list(range(n, 2 * n))]
    return synthetic(name, params, x, num_train, V, names, groups, order or groups[0] + groups[1])


def synthetic(name: str, params: dict, x: torch.Tensor, num_train: int, V: int, names: list[str],
              groups: list[list[int]], order: list[int]) -> Dataset:
    """Generated rows ``x [N, L]`` cut into train (the first ``num_train``) and held-out, with their meta."""
    meta = DataMeta(name=name, params=params, num_categories=[V] * x.shape[1], position_names=names,
                    reference_groups=groups, reference_order=order)
    return Dataset(train=x[:num_train], heldout=x[num_train:], meta=meta)


def layout_n(params: dict) -> int:
    """The ``n`` of a two-group task's params (``2n`` positions)."""
    return check_int("n", params["n"], 1, limits.TASK_MAX_N)


def format_two_groups(meta: DataMeta, values: list, second: str = "c") -> str:
    """``b=0110 c=1010``: the two groups of a synthetic task side by side."""
    n = meta.params["n"]
    return f"b={symbols(values[:n])} {second}={symbols(values[n:])}"


def show(v) -> str:
    """One decoded value as text: ``_`` for not yet decoded, 4 significant digits for floats."""
    if v is None:
        return "_"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def symbols(values: list) -> str:
    """Digits/letters side by side when every value has one character, else comma-separated."""
    if all(v is None or (isinstance(v, int) and v < 36) for v in values):
        return "".join("_" if v is None else np.base_repr(v, 36).lower() for v in values)
    return ",".join(show(v) for v in values)
