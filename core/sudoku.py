"""Sudoku: grids, a solution-counting solver, puzzle generation with unique solutions, and validity.

A grid of ``n = box_rows * box_cols`` rows and columns holds the values ``1..n``; every row, column and
``box_rows x box_cols`` box is a permutation. Sizes: 4x4 (2x2 boxes, for tests), 6x6 (boxes 2 rows high and
3 columns wide: the shipped demo) and 9x9 (3x3 boxes).

Generation is the project's own, offline and seeded (no dependency):

1. a complete grid by randomized backtracking (cells in reading order, candidate values in an order drawn
   from a ``torch.Generator``);
2. a puzzle by visiting the cells in a random order and emptying each one unless the puzzle would then have
   more than one solution (:func:`count_solutions` stops at 2). The result is *minimal*: emptying any further
   given breaks uniqueness (``min_givens`` stops earlier, at that many givens, for easier puzzles).

As tensors (what the model sees) a cell holds ``value - 1`` in ``0..n-1`` and the givens are a bool mask.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import lru_cache

import torch

SIZES = {4: (2, 2), 6: (2, 3), 9: (3, 3)}  # grid size -> (box_rows, box_cols)


@dataclass(frozen=True)
class Geometry:
    """The shape of a Sudoku: boxes of ``box_rows x box_cols`` cells, ``n = box_rows * box_cols``."""

    box_rows: int
    box_cols: int

    @property
    def n(self) -> int:
        return self.box_rows * self.box_cols

    @property
    def cells(self) -> int:
        return self.n * self.n

    def box_of(self, cell: int) -> int:
        r, c = divmod(cell, self.n)
        return (r // self.box_rows) * self.box_rows + c // self.box_cols

    def units(self) -> torch.Tensor:
        """The ``3n`` units (rows, columns, boxes) as cell indices: ``[3n, n]``."""
        return _units(self.box_rows, self.box_cols)


@lru_cache(maxsize=8)
def _units(box_rows: int, box_cols: int) -> torch.Tensor:
    g = Geometry(box_rows, box_cols)
    n = g.n
    rows = [[r * n + c for c in range(n)] for r in range(n)]
    cols = [[r * n + c for r in range(n)] for c in range(n)]
    boxes = [[cell for cell in range(g.cells) if g.box_of(cell) == b] for b in range(n)]
    return torch.tensor(rows + cols + boxes)


def geometry(size: int) -> Geometry:
    """The geometry of a 4x4, 6x6 or 9x9 Sudoku."""
    if size not in SIZES:
        raise ValueError(f"a Sudoku has size 4, 6 or 9, got {size!r}")
    return Geometry(*SIZES[size])


# --- the solver ----------------------------------------------------------------------------------


def count_solutions(g: Geometry, grid: list[int], limit: int = 2) -> int:
    """The number of completions of ``grid`` (cell values ``1..n``, 0 = empty), counted up to ``limit``.

    Depth-first search on bitmasks, always branching on the empty cell with the fewest candidates.
    """
    state = _SearchState.of(g, grid)
    return 0 if state is None else state.count(limit)


def solve(g: Geometry, grid: list[int]) -> list[int] | None:
    """One completion of ``grid`` (the first found), or None when there is none."""
    state = _SearchState.of(g, grid)
    if state is None or state.count(1, record=True) == 0:
        return None
    return state.solution


class _SearchState:
    """Used values per row, column and box as bitmasks (bit ``v - 1`` for value ``v``)."""

    def __init__(self, g: Geometry, grid: list[int]):
        self.g, self.grid = g, list(grid)
        self.full = (1 << g.n) - 1
        self.row, self.col, self.box = [0] * g.n, [0] * g.n, [0] * g.n
        self.peers = _peer_units(g.box_rows, g.box_cols)  # cell -> (row, col, box)
        self.solution = None

    @classmethod
    def of(cls, g: Geometry, grid: list[int]):
        """The search state of ``grid``, or None when its givens already clash."""
        state = cls(g, grid)
        for cell, v in enumerate(state.grid):
            if v:
                bit = 1 << (v - 1)
                r, c, b = state.peers[cell]
                if (state.row[r] | state.col[c] | state.box[b]) & bit:
                    return None
                state._place(cell, bit, v)
        return state

    def _place(self, cell: int, bit: int, v: int) -> None:
        r, c, b = self.peers[cell]
        self.row[r] |= bit
        self.col[c] |= bit
        self.box[b] |= bit
        self.grid[cell] = v

    def _remove(self, cell: int, bit: int) -> None:
        r, c, b = self.peers[cell]
        self.row[r] ^= bit
        self.col[c] ^= bit
        self.box[b] ^= bit
        self.grid[cell] = 0

    def _most_constrained(self):
        """(cell, candidate bits) of the empty cell with the fewest candidates; None when full."""
        best, best_bits, best_count = None, 0, self.g.n + 1
        for cell, v in enumerate(self.grid):
            if v:
                continue
            r, c, b = self.peers[cell]
            bits = self.full & ~(self.row[r] | self.col[c] | self.box[b])
            count = bits.bit_count()
            if count < best_count:
                best, best_bits, best_count = cell, bits, count
                if count <= 1:
                    break
        return None if best is None else (best, best_bits)

    def count(self, limit: int, record: bool = False) -> int:
        choice = self._most_constrained()
        if choice is None:
            if record:
                self.solution = list(self.grid)
            return 1
        cell, bits, found = choice[0], choice[1], 0
        while bits and found < limit:
            bit = bits & -bits
            bits ^= bit
            self._place(cell, bit, bit.bit_length())
            found += self.count(limit - found, record)
            self._remove(cell, bit)
        return found


@lru_cache(maxsize=8)
def _peer_units(box_rows: int, box_cols: int) -> list[tuple[int, int, int]]:
    g = Geometry(box_rows, box_cols)
    return [(cell // g.n, cell % g.n, g.box_of(cell)) for cell in range(g.cells)]


# --- generation ----------------------------------------------------------------------------------


def complete_grid(g: Geometry, generator: torch.Generator) -> list[int]:
    """A uniformly shuffled backtracking fill: a complete valid grid (values ``1..n``)."""
    priority = torch.rand(g.cells, g.n, generator=generator)  # [cells, n] candidate order per cell
    order = torch.argsort(priority, 1).add(1).tolist()
    state = _SearchState(g, [0] * g.cells)
    if not _fill(state, 0, order):
        raise RuntimeError("backtracking found no grid (cannot happen for a valid geometry)")
    return state.grid


def _fill(state: _SearchState, cell: int, order: list[list[int]]) -> bool:
    if cell == state.g.cells:
        return True
    r, c, b = state.peers[cell]
    used = state.row[r] | state.col[c] | state.box[b]
    for v in order[cell]:
        bit = 1 << (v - 1)
        if not used & bit:
            state._place(cell, bit, v)
            if _fill(state, cell + 1, order):
                return True
            state._remove(cell, bit)
    return False


def make_puzzle(g: Geometry, solution: list[int], generator: torch.Generator, min_givens: int = 0) -> list[int]:
    """Empty cells of ``solution`` in a random order while the puzzle keeps exactly one solution.

    Returns the puzzle (0 = empty). With ``min_givens = 0`` it is minimal.
    """
    puzzle = list(solution)
    givens = g.cells
    for cell in torch.randperm(g.cells, generator=generator).tolist():
        if givens <= min_givens:
            break
        kept, puzzle[cell] = puzzle[cell], 0
        if count_solutions(g, puzzle, 2) == 1:
            givens -= 1
        else:
            puzzle[cell] = kept
    return puzzle


def puzzle_seed(seed: int, split: str, index: int) -> int:
    """The seed of puzzle ``index`` of a split: puzzles are independent streams, so the held-out puzzles
    do not depend on how many training puzzles there are."""
    digest = hashlib.blake2b(f"sudoku/{seed}/{split}/{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


def generate(g: Geometry, count: int, seed: int, split: str, min_givens: int = 0):
    """``count`` puzzles of one split: ``(solutions [count, n*n] long in 0..n-1, givens [count, n*n] bool)``."""
    return _generate(g.box_rows, g.box_cols, count, seed, split, min_givens)


@lru_cache(maxsize=16)
def _generate(box_rows: int, box_cols: int, count: int, seed: int, split: str, min_givens: int):
    g = Geometry(box_rows, box_cols)
    solutions, givens = [], []
    for i in range(count):
        gen = torch.Generator().manual_seed(puzzle_seed(seed, split, i))
        solution = complete_grid(g, gen)
        puzzle = make_puzzle(g, solution, gen, min_givens)
        solutions.append([v - 1 for v in solution])
        givens.append([v != 0 for v in puzzle])
    x = torch.tensor(solutions, dtype=torch.long).view(count, g.cells)
    return x, torch.tensor(givens, dtype=torch.bool).view(count, g.cells)


SPLITS = ("train", "heldout", "valid")  # "valid": a third stream, for choosing settings (never test puzzles)


def task_puzzles(params: dict, split: str, count: int):
    """``count`` puzzles of a sudoku task's ``split``, rebuilt from its ``meta.params`` (checked against
    ``core/limits.py`` first: they may come from an untrusted checkpoint): ``(solutions, givens)``."""
    from core import limits
    from core.checks import check_int

    if split not in SPLITS:
        raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
    size, seed, min_givens = params.get("size"), params.get("seed"), params.get("min_givens", 0)
    if size not in limits.SUDOKU_SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, limits.SUDOKU_SIZES))}, got {size!r}")
    check_int("seed", seed, 0, limits.MAX_SEED)
    check_int("min_givens", min_givens, 0, size * size)
    check_int("puzzles", count, 1, limits.SUDOKU_MAX_HELDOUT)
    return generate(geometry(size), count, seed, split, min_givens)


# --- validity ------------------------------------------------------------------------------------


def valid_grids(g: Geometry, x: torch.Tensor) -> torch.Tensor:
    """Bool ``[N]``: every row, column and box of ``x [N, n*n]`` (values ``0..n-1``) is a permutation."""
    cells = x[:, g.units().to(x.device)]  # [N, 3n, n]
    in_range = ((x >= 0) & (x < g.n)).all(1)
    onehot = torch.nn.functional.one_hot(cells.clamp(0, g.n - 1), g.n)  # [N, 3n, n, n]
    return in_range & (onehot.sum(2) == 1).all(-1).all(-1)


def conflicts(g: Geometry, x: torch.Tensor, mask_id: int | None = None) -> torch.Tensor:
    """Bool ``[N, n*n]``: cells whose value appears again in their row, column or box (masked cells,
    ``mask_id`` or any value outside ``0..n-1``, never conflict)."""
    N, L = x.shape
    filled = (x >= 0) & (x < g.n) if mask_id is None else (x != mask_id) & (x >= 0) & (x < g.n)
    units = g.units().to(x.device)  # [3n, n]
    cells = x[:, units]  # [N, 3n, n]
    present = filled[:, units]
    same = (cells[..., :, None] == cells[..., None, :]) & present[..., :, None] & present[..., None, :]
    clash = same.sum(-1) > 1  # [N, 3n, n]: the cell's value occurs twice in this unit
    counts = torch.zeros(N, L, dtype=torch.long, device=x.device)
    counts.scatter_add_(1, units.reshape(1, -1).expand(N, -1).to(x.device), clash.reshape(N, -1).long())
    return counts > 0


def solved(g: Geometry, x: torch.Tensor, puzzle: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """Bool ``[N]``: ``x`` is a valid grid that keeps every given of ``puzzle`` (with a unique solution,
    that is the solution)."""
    kept = ((x == puzzle) | ~given).all(1)
    return valid_grids(g, x) & kept


def to_text(g: Geometry, x: torch.Tensor | list[int], mask_id: int | None = None) -> str:
    """One grid ``[n*n]`` (values ``0..n-1``) as text, ``.`` for masked cells, ``|`` between boxes."""
    values = torch.as_tensor(x).tolist()
    lines = []
    for r in range(g.n):
        if r and r % g.box_rows == 0:
            lines.append("-" * (2 * g.n + 2 * (g.n // g.box_cols - 1) - 1))
        row = []
        for c in range(g.n):
            if c and c % g.box_cols == 0:
                row.append("|")
            v = values[r * g.n + c]
            row.append("." if v is None or v == mask_id or not 0 <= v < g.n else str(v + 1))
        lines.append(" ".join(row))
    return "\n".join(lines)
