"""The ``sudoku`` task: puzzles with unique solutions whose givens travel as ``Dataset.train_given`` /
``heldout_given`` (conditioning: never masked, never scored). The grids, the solver and the puzzle
generator are in ``core/sudoku.py``."""

from __future__ import annotations

import torch

from core import limits
from core import sudoku as sd
from core.checks import check_int
from core.meta import DataMeta, Dataset
from core.tasks.base import Task


def build(seed: int = 0, size: int = 6, num_train: int = 20000, num_heldout: int = 1000,
          min_givens: int = 0) -> Dataset:
    """Sudoku puzzles with unique solutions (:mod:`core.sudoku`): rows are solutions (values ``0..size-1``),
    ``*_given`` their givens. No reference order: which cell is easy next depends on the puzzle."""
    if size not in limits.SUDOKU_SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, limits.SUDOKU_SIZES))}, got {size!r}")
    check_int("num_train", num_train, 1, limits.SUDOKU_MAX_TRAIN)
    check_int("num_heldout", num_heldout, 1, limits.SUDOKU_MAX_HELDOUT)
    g = sd.geometry(size)
    check_int("min_givens", min_givens, 0, g.cells)
    train, train_given = sd.generate(g, num_train, seed, "train", min_givens)
    heldout, heldout_given = sd.generate(g, num_heldout, seed, "heldout", min_givens)
    params = dict(seed=seed, size=size, num_train=num_train, num_heldout=num_heldout, min_givens=min_givens)
    meta = DataMeta(name="sudoku", params=params, num_categories=[size] * g.cells, shape=(size, size),
                    position_names=[f"r{r + 1}c{c + 1}" for r in range(size) for c in range(size)])
    return Dataset(train, heldout, meta, train_given, heldout_given)


def rule(params: dict, x: torch.Tensor) -> torch.Tensor:
    return sd.valid_grids(sd.geometry(params["size"]), x)


def layout(params: dict) -> tuple[int, int]:
    if params["size"] not in limits.SUDOKU_SIZES:
        raise ValueError(f"size must be one of {limits.SUDOKU_SIZES}")
    return params["size"] ** 2, params["size"]


def format_grid(meta: DataMeta, values: list) -> str:
    return sd.to_text(sd.geometry(meta.params["size"]), [-1 if v is None else v for v in values])


TASK = Task("sudoku", build, layout, rule, format_grid, listed_at=9,
            words="A Sudoku grid: every row, column and box holds each digit once; some cells are given.",
            formula=r"\text{each row, column and box is a permutation of } 1..N",
            easy_order="depends on the puzzle: no single order serves every grid.")
