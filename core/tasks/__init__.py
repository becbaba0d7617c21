"""The task registry: every module of this package that exports ``TASK`` (a :class:`Task`) is a task.

Adding a task is one new file here, ``core/tasks/<name>.py``, holding it whole: its builder, its layout, its
validity rule, its formatter and its rule in words for the pages, gathered in ``TASK = Task(...)``. Nothing
else changes: the app's menus and descriptions read this registry.

Built by name with :func:`make_task`; samples are checked with :func:`check_samples` and shown with
:func:`decode_samples` / :func:`format_sample`. Tasks: the synthetic ``pairs``, ``lookup``, ``majority``,
``addition``, ``parity`` (reference groups, a reference order and a validity rule), ``digits`` and
``words`` (shipped with a dependency), ``adult`` (a table, :mod:`core.tables`) and ``sudoku``.
"""

from __future__ import annotations

import importlib
import inspect
import math
import pkgutil

import torch

from core import limits
from core.checks import check_int
from core.meta import DataMeta, Dataset
from core.tasks.base import Task, show


def _discover() -> dict[str, Task]:
    found = []
    for info in pkgutil.iter_modules(__path__):
        task = getattr(importlib.import_module(f"{__name__}.{info.name}"), "TASK", None)
        if isinstance(task, Task):
            found.append(task)
    return {task.name: task for task in sorted(found, key=lambda t: (t.listed_at, t.name))}


REGISTRY: dict[str, Task] = _discover()
TASKS = {name: task.build for name, task in REGISTRY.items()}  # name -> builder


def get_task(name: str) -> Task:
    """The registered task ``name``; ValueError listing the known ones."""
    if name not in REGISTRY:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


def task_defaults(name: str) -> dict:
    """The parameters of task ``name`` (seed included) with their default values."""
    return get_task(name).defaults()


def make_task(name: str, seed: int = 0, **params) -> Dataset:
    """Build a registered task; ``make_task(meta.name, **meta.params)`` rebuilds the same data."""
    builder = get_task(name).build
    check_int("seed", seed, 0, limits.MAX_SEED)
    valid = set(inspect.signature(builder).parameters) - {"seed"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) for task {name!r}: {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(valid))}")
    return builder(seed=seed, **params)


# --- checking and showing samples ------------------------------------------------------------------


def check_samples(meta: DataMeta, samples: torch.Tensor) -> torch.Tensor | None:
    """Validity per sample ``[N]`` (bool) for tasks with a rule (pairs, addition, parity, ...), else None.

    A sample with a value outside its position's categories (e.g. a leftover mask id) is invalid.
    """
    rule = REGISTRY[meta.name].rule if task_layout_ok(meta) else None
    if rule is None:
        return None
    x = _as_samples(meta, samples).cpu()
    in_range = ((x >= 0) & (x < torch.tensor(meta.num_categories))).all(1)  # [N]
    return in_range & rule(meta.params, x)


def decode_samples(meta: DataMeta, samples: torch.Tensor) -> list[list]:
    """Readable values per position: table values, letters for words, ints otherwise.

    Values outside a position's categories (e.g. the mask id in a partial sample) decode to None.
    """
    x = _as_samples(meta, samples).cpu().tolist()
    task = REGISTRY.get(meta.name)
    decode = task.decode if task is not None else None
    return [[_decode_value(meta, l, v, decode) for l, v in enumerate(row)] for row in x]


def format_sample(meta: DataMeta, sample: torch.Tensor) -> str:
    """One sample as text: ``b=0110 c=1010``, ``123+456=0579``, an 8x8 grid, a word, or ``col=value, ...``."""
    values = decode_samples(meta, torch.as_tensor(sample).reshape(1, -1))[0]
    if meta.decoders is not None:
        return ", ".join(f"{n}={show(v)}" for n, v in zip(meta.position_names, values))
    formatter = REGISTRY[meta.name].format if task_layout_ok(meta) else None
    return (formatter or _format_generic)(meta, values)


def task_layout_ok(meta: DataMeta) -> bool:
    """Whether ``meta.params`` lay out ``meta``'s positions the way the task of that name does (so its rule
    and formatter may index them by ``n``, ``V``, ``digits``...). False for tables and for a config whose
    params were edited: such data are shown generically, and no validity rule applies."""
    task = REGISTRY.get(meta.name)
    if meta.decoders is not None or task is None or task.layout is None:
        return False
    try:
        L, K = task.layout(meta.params)
    except (KeyError, TypeError, ValueError):
        return False
    return meta.length == L and all(k == K for k in meta.num_categories)


def _as_samples(meta: DataMeta, samples) -> torch.Tensor:
    x = torch.as_tensor(samples)
    if x.dim() != 2 or x.shape[1] != meta.length:
        raise ValueError(f"samples must have shape [N, {meta.length}], got {tuple(x.shape)}")
    return x.long()


def _decode_value(meta: DataMeta, l: int, v: int, decode):
    if not 0 <= v < meta.num_categories[l]:
        return None
    decoder = meta.decoders[l] if meta.decoders is not None else None
    if decoder is None:
        return decode(v) if decode is not None else v
    if decoder["type"] == "categorical":
        return decoder["categories"][v]
    if v == len(decoder["values"]):
        return math.nan  # the missing bin
    value = decoder["values"][v]
    return int(value) if decoder["integer"] else value


def _format_generic(meta: DataMeta, values: list) -> str:
    if meta.shape is None:
        return " ".join(show(v) for v in values)
    rows, cols = meta.shape
    return "\n".join(" ".join(show(v) for v in values[r * cols:(r + 1) * cols]) for r in range(rows))
