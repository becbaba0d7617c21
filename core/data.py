"""Datasets: every task becomes integer tensors ``[N, L]`` plus a JSON-serializable :class:`DataMeta`.

Position ``l`` takes values ``0 .. num_categories[l] - 1`` (docs/design.md §5). Tasks:

- synthetic, generated from a seed, each with reference groups, a reference order and a validity rule:
  ``pairs``, ``addition``, ``parity``;
- ``sudoku`` (:mod:`core.sudoku`): puzzles with unique solutions, whose givens travel as
  ``Dataset.train_given`` / ``heldout_given`` (conditioning: never masked, never scored), and no
  reference order (the easy next cell depends on the puzzle);
- shipped with a dependency (no network): ``digits`` (scikit-learn's 8x8 digits), ``words`` (the
  ``english-words`` package);
- tables: ``adult`` (UCI Adult, shipped in ``core/datasets/``) and any DataFrame or CSV through
  :func:`table_from_dataframe` / :func:`table_from_csv` (categorical columns as categories, numerical
  columns quantile-binned, bins recorded in ``meta.decoders`` so samples map back to values).

Built by name with :func:`make_task`; samples are checked with :func:`check_samples` and shown with
:func:`decode_samples` / :func:`format_sample`.
"""

from __future__ import annotations

import copy
import csv
import gzip
import inspect
import io
import math
import numbers
import re
from dataclasses import dataclass, fields
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core import limits, rng

# every bound comes from core/limits.py (one table for the loader, the builders, the widgets and the pages)
MAX_LENGTH = limits.MAX_POSITIONS
MAX_CATEGORIES = limits.MAX_CATEGORIES
MAX_COLUMNS = limits.CSV_MAX_COLUMNS
MAX_ROWS = limits.CSV_MAX_ROWS
MAX_SAMPLES = limits.TASK_MAX_ROWS
DIGIT_RAMP = " .:-=+*#%@"  # 10 shades for the 17 pixel intensities of the digits task


# ----------------------------------------------------------------------------------------------
# Metadata
# ----------------------------------------------------------------------------------------------


@dataclass
class DataMeta:
    """What a dataset's integer tensors mean. Validated on construction; round-trips through JSON.

    ``decoders[l]`` (tables only) is ``{"type": "categorical", "categories": [...]}`` or
    ``{"type": "numeric", "edges": [...], "values": [...], "missing": bool, "integer": bool}``:
    bin ``k`` holds ``edges[k] <= x < edges[k+1]`` (the last bin includes its right edge), ``values[k]`` is
    the bin's median, and when ``missing`` is true the extra last category stands for a missing value.
    """

    name: str
    params: dict
    num_categories: list[int]
    position_names: list[str]
    shape: tuple[int, int] | None = None
    reference_groups: list[list[int]] | None = None
    reference_order: list[int] | None = None
    decoders: list | None = None

    def __post_init__(self):
        _validate_meta(self)

    @property
    def length(self) -> int:
        return len(self.num_categories)

    @property
    def vocab_size(self) -> int:
        return max(self.num_categories)

    def to_dict(self) -> dict:
        d = {f.name: copy.deepcopy(getattr(self, f.name)) for f in fields(self)}
        d["shape"] = None if self.shape is None else list(self.shape)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "DataMeta":
        """Build from a JSON dict, raising ValueError that names the problem."""
        if not isinstance(d, dict):
            raise ValueError(f"data meta must be a JSON object, got {type(d).__name__}")
        names = [f.name for f in fields(cls)]
        unknown = sorted(str(k) for k in d if k not in names)
        if unknown:
            raise ValueError(f"unknown data meta field(s): {', '.join(unknown)}")
        missing = [k for k in ("name", "params", "num_categories", "position_names") if k not in d]
        if missing:
            raise ValueError(f"data meta is missing field(s): {', '.join(missing)}")
        return cls(**copy.deepcopy(d))


def _validate_meta(m: DataMeta) -> None:
    """Check and normalize every field in place (tuples -> lists, numpy ints -> int)."""
    if not isinstance(m.name, str) or not m.name:
        raise ValueError("data meta name must be a non-empty string")
    m.params = _check_params(m.params)
    m.num_categories = _int_list(m.num_categories, "num_categories", 1, MAX_LENGTH)
    for i, k in enumerate(m.num_categories):
        if not 2 <= k <= MAX_CATEGORIES:
            raise ValueError(f"num_categories[{i}] must be in 2..{MAX_CATEGORIES}, got {k}")
    L = len(m.num_categories)
    m.position_names = _check_names(m.position_names, L)
    m.shape = _check_shape(m.shape, L)
    if m.reference_groups is not None:
        m.reference_groups = _check_groups(m.reference_groups, L)
    if m.reference_order is not None:
        m.reference_order = _check_order(m.reference_order, m.reference_groups, L)
    if m.decoders is not None:
        m.decoders = _check_decoders(m.decoders, m.num_categories)


def _check_params(params) -> dict:
    if not isinstance(params, dict):
        raise ValueError("data meta params must be a dict")
    for k, v in params.items():
        if not isinstance(k, str):
            raise ValueError(f"params keys must be strings, got {k!r}")
        if not _is_json_scalar(v):
            raise ValueError(f"params[{k!r}] must be a JSON scalar (str, int, finite float, bool, None)")
        if isinstance(v, str) and len(v) > limits.MAX_TEXT_PARAM_CHARS:
            raise ValueError(f"params[{k!r}] is longer than {limits.MAX_TEXT_PARAM_CHARS} characters")
    return dict(params)


def _check_names(names, L: int) -> list[str]:
    if not isinstance(names, (list, tuple)) or len(names) != L:
        raise ValueError(f"position_names must be a list of {L} strings")
    if not all(isinstance(n, str) and len(n) <= limits.MAX_NAME_CHARS for n in names):
        raise ValueError(f"position_names must all be strings of at most {limits.MAX_NAME_CHARS} characters")
    if len(set(names)) != L:
        raise ValueError("position_names must be unique")
    return list(names)


def _check_shape(shape, L: int) -> tuple[int, int] | None:
    if shape is None:
        return None
    shape = tuple(_int_list(shape, "shape", 2, 2))
    if shape[0] < 1 or shape[1] < 1 or shape[0] * shape[1] != L:
        raise ValueError(f"shape {shape} must be two positive ints whose product is the length {L}")
    return shape


def _check_groups(groups, L: int) -> list[list[int]]:
    if not isinstance(groups, (list, tuple)) or not groups:
        raise ValueError("reference_groups must be a non-empty list of lists of positions")
    groups = [_int_list(g, f"reference_groups[{i}]", 1, L) for i, g in enumerate(groups)]
    flat = sorted(p for g in groups for p in g)
    if flat != list(range(L)):
        raise ValueError(f"reference_groups must partition the positions 0..{L - 1} (each exactly once)")
    return groups


def _check_order(order, groups, L: int) -> list[int]:
    order = _int_list(order, "reference_order", L, L)
    if sorted(order) != list(range(L)):
        raise ValueError(f"reference_order must be a permutation of 0..{L - 1}")
    if groups is not None:
        group_of = {p: i for i, g in enumerate(groups) for p in g}
        ranks = [group_of[p] for p in order]
        if ranks != sorted(ranks):
            raise ValueError("reference_order must list the reference groups one after another, in order")
    return order


def _check_decoders(decoders, num_categories: list[int]) -> list:
    if not isinstance(decoders, (list, tuple)) or len(decoders) != len(num_categories):
        raise ValueError(f"decoders must be a list with one entry per position ({len(num_categories)})")
    return [_check_decoder(d, k, i) for i, (d, k) in enumerate(zip(decoders, num_categories))]


def _check_decoder(d, k: int, i: int):
    if d is None:
        return None
    where = f"decoders[{i}]"
    if not isinstance(d, dict) or d.get("type") not in ("categorical", "numeric"):
        raise ValueError(f"{where} must be a dict with type 'categorical' or 'numeric'")
    if d["type"] == "categorical":
        cats = d.get("categories")
        if set(d) != {"type", "categories"} or not isinstance(cats, (list, tuple)) or len(cats) != k:
            raise ValueError(f"{where} must hold exactly 'categories': a list of {k} values")
        if not all(_is_json_scalar(c) and c is not None for c in cats):
            raise ValueError(f"{where} categories must be strings, numbers or booleans")
        if any(isinstance(c, str) and len(c) > limits.MAX_NAME_CHARS for c in cats):
            raise ValueError(f"{where} has a category name longer than {limits.MAX_NAME_CHARS} characters")
        return {"type": "categorical", "categories": list(cats)}
    return _check_numeric_decoder(d, k, where)


def _check_numeric_decoder(d: dict, k: int, where: str) -> dict:
    if set(d) != {"type", "edges", "values", "missing", "integer"}:
        raise ValueError(f"{where} must hold exactly type, edges, values, missing, integer")
    if not isinstance(d["missing"], bool) or not isinstance(d["integer"], bool):
        raise ValueError(f"{where} missing and integer must be booleans")
    edges = _float_list(d["edges"], f"{where} edges")
    values = _float_list(d["values"], f"{where} values")
    if len(edges) != len(values) + 1 or any(a >= b for a, b in zip(edges, edges[1:])):
        raise ValueError(f"{where} edges must be strictly increasing, one more than values")
    if len(values) + d["missing"] != k:
        raise ValueError(f"{where} has {len(values)} bins (+ missing) but the position has {k} categories")
    return {"type": "numeric", "edges": edges, "values": values, "missing": d["missing"],
            "integer": d["integer"]}


def _int_list(x, name: str, min_len: int, max_len: int) -> list[int]:
    if not isinstance(x, (list, tuple)) or not min_len <= len(x) <= max_len:
        raise ValueError(f"{name} must be a list of {min_len}..{max_len} ints")
    if not all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in x):
        raise ValueError(f"{name} must contain only ints")
    return [int(v) for v in x]


def _float_list(x, name: str) -> list[float]:
    ok = isinstance(x, (list, tuple)) and all(_is_number(v) for v in x)
    if not ok:
        raise ValueError(f"{name} must be a list of finite numbers")
    return [float(v) for v in x]


def _is_number(v) -> bool:
    return isinstance(v, numbers.Real) and not isinstance(v, bool) and math.isfinite(v)


def _is_json_scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


# ----------------------------------------------------------------------------------------------
# Dataset
# ----------------------------------------------------------------------------------------------


@dataclass
class Dataset:
    """Rows of a task. ``train_given`` / ``heldout_given`` (bool, same shape, or None): per-row positions that
    are conditioning (a puzzle's givens), always revealed, never masked nor scored."""

    train: torch.Tensor  # [N, L] long
    heldout: torch.Tensor  # [M, L] long
    meta: DataMeta
    train_given: torch.Tensor | None = None  # [N, L] bool
    heldout_given: torch.Tensor | None = None  # [M, L] bool

    def __post_init__(self):
        for split in ("train", "heldout"):
            x = getattr(self, split)
            if x.dtype != torch.long or x.dim() != 2 or x.shape[1] != self.meta.length:
                raise ValueError(f"{split} must be a LongTensor [N, {self.meta.length}], got {tuple(x.shape)}")
            given = getattr(self, f"{split}_given")
            if given is not None and (given.dtype != torch.bool or given.shape != x.shape):
                raise ValueError(f"{split}_given must be a BoolTensor of shape {tuple(x.shape)}")


def _split(x: torch.Tensor, heldout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle rows with ``seed`` and cut off a held-out part (at least one row when there are two)."""
    n = x.shape[0]
    m = int(round(heldout_fraction * n))
    if n >= 2 and heldout_fraction > 0:
        m = min(max(m, 1), n - 1)
    perm = torch.randperm(n, generator=rng.make_generator(seed))
    return x[perm[m:]], x[perm[:m]]


def _check_int(name: str, value, lo: int, hi: int) -> int:
    return limits.check_int(name, value, lo, hi)


def _check_fraction(name: str, value) -> float:
    if not _is_number(value) or not 0.0 <= value < 1.0:
        raise ValueError(f"{name} must be a number in [0, 1), got {value!r}")
    return float(value)


# ----------------------------------------------------------------------------------------------
# Synthetic tasks: reference groups, reference order, validity rule
# ----------------------------------------------------------------------------------------------


def _synthetic(name: str, params: dict, x: torch.Tensor, num_train: int, V: int, names: list[str],
               groups: list[list[int]], order: list[int]) -> Dataset:
    meta = DataMeta(name=name, params=params, num_categories=[V] * x.shape[1], position_names=names,
                    reference_groups=groups, reference_order=order)
    return Dataset(train=x[:num_train], heldout=x[num_train:], meta=meta)


def _check_sizes(num_train, num_heldout, positions: int) -> int:
    """Rows to generate, refused before anything is drawn when rows x positions is over the limit."""
    _check_int("num_train", num_train, 1, MAX_SAMPLES)
    _check_int("num_heldout", num_heldout, 0, MAX_SAMPLES)
    limits.check_cells("this task", num_train + num_heldout, positions, limits.TASK_MAX_CELLS)
    return num_train + num_heldout


def pairs(seed: int = 0, n: int = 8, V: int = 2, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` uniform in Z_V, ``c_i = (b_i + b_{i+1 mod n}) mod V``; positions b's then c's."""
    _check_int("n", n, 2, limits.TASK_MAX_N)
    _check_int("V", V, 2, limits.TASK_MAX_V)
    total = _check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(V, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, (b + b.roll(-1, dims=1)) % V], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, V=V, num_train=num_train, num_heldout=num_heldout)
    names = [f"b{i + 1}" for i in range(n)] + [f"c{i + 1}" for i in range(n)]
    groups = [list(range(n)), list(range(n, 2 * n))]
    return _synthetic("pairs", params, x, num_train, V, names, groups, groups[0] + groups[1])


def lookup(seed: int = 0, n: int = 8, V: int = 4, table_seed: int = 0, num_train: int = 20000,
           num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` uniform in Z_V, ``c_i = T[b_i, b_{i+1 mod n}]`` for a fixed random table ``T``.

    Unlike ``pairs`` (an invertible sum, so c's-first orders are as easy as b's-first), ``T`` is not
    invertible: the b's are the only easy start, so the reference groups are the one easy order.
    """
    _check_int("n", n, 2, limits.TASK_MAX_N)
    _check_int("V", V, 2, limits.TASK_MAX_V)
    _check_int("table_seed", table_seed, 0, limits.MAX_SEED)
    total = _check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(V, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, lookup_table(V, table_seed)[b, b.roll(-1, dims=1)]], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, V=V, table_seed=table_seed, num_train=num_train,
                  num_heldout=num_heldout)
    names = [f"b{i + 1}" for i in range(n)] + [f"c{i + 1}" for i in range(n)]
    groups = [list(range(n)), list(range(n, 2 * n))]
    return _synthetic("lookup", params, x, num_train, V, names, groups, groups[0] + groups[1])


def lookup_table(V: int, table_seed: int) -> torch.Tensor:
    """The fixed random combining table ``T: [V, V]`` of the ``lookup`` task."""
    return rng.randint(V, (V, V), rng.make_generator(table_seed))


def majority(seed: int = 0, n: int = 8, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``b_1..b_n`` fair bits around a circle, then ``c_i = majority(b_i, b_{i+1}, b_{i+2})`` (indices mod n).

    A vote is easy to count once its three bits are known; going back from votes to bits is an inference
    over overlapping, many-to-one constraints. Reference groups: the b's, then the c's.
    """
    _check_int("n", n, 3, limits.TASK_MAX_N)
    total = _check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(2, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, _majority3(b)], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, num_train=num_train, num_heldout=num_heldout)
    names = [f"b{i + 1}" for i in range(n)] + [f"c{i + 1}" for i in range(n)]
    groups = [list(range(n)), list(range(n, 2 * n))]
    return _synthetic("majority", params, x, num_train, 2, names, groups, groups[0] + groups[1])


def _majority3(b: torch.Tensor) -> torch.Tensor:
    """Majority of each position and its two successors around the circle: ``[N, n]`` -> ``[N, n]``."""
    return ((b + b.roll(-1, dims=1) + b.roll(-2, dims=1)) >= 2).long()


def addition(seed: int = 0, digits: int = 3, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """``a + b = s`` in base 10: a's digits, b's digits (most significant first), then the sum's ``digits+1``."""
    d = _check_int("digits", digits, 1, limits.TASK_MAX_DIGITS)
    total = _check_sizes(num_train, num_heldout, 3 * d + 1)
    x = rng.randint(10, (total, 2 * d), rng.make_generator(seed))  # [N, 2d] operand digits
    s = _to_int(x[:, :d]) + _to_int(x[:, d:])  # [N]
    x = torch.cat([x, _to_digits(s, d + 1)], 1)  # [N, 3d + 1]
    params = dict(seed=seed, digits=digits, num_train=num_train, num_heldout=num_heldout)
    names = [f"a{i + 1}" for i in range(d)] + [f"b{i + 1}" for i in range(d)] + [f"s{i + 1}" for i in range(d + 1)]
    groups = [list(range(2 * d)), list(range(2 * d, 3 * d + 1))]
    order = groups[0] + groups[1][::-1]  # the sum from its least significant digit (carries flow left)
    return _synthetic("addition", params, x, num_train, 10, names, groups, order)


def parity(seed: int = 0, n: int = 6, num_train: int = 20000, num_heldout: int = 2000) -> Dataset:
    """Prefix parity: ``b_1..b_n`` then ``p_i = b_1 xor ... xor b_i``.

    The reference order ``b's, p_1, p_2, ...`` is kept as a strict chain on purpose: it is the teaching case of
    an order that a position-wise schedule expresses badly (docs/design.md §5).
    """
    _check_int("n", n, 1, limits.TASK_MAX_N)
    total = _check_sizes(num_train, num_heldout, 2 * n)
    b = rng.randint(2, (total, n), rng.make_generator(seed))  # [N, n]
    x = torch.cat([b, b.cumsum(1) % 2], 1)  # [N, 2n]
    params = dict(seed=seed, n=n, num_train=num_train, num_heldout=num_heldout)
    names = [f"b{i + 1}" for i in range(n)] + [f"p{i + 1}" for i in range(n)]
    groups = [list(range(n)), list(range(n, 2 * n))]
    return _synthetic("parity", params, x, num_train, 2, names, groups, groups[0] + groups[1])


def _to_int(digits: torch.Tensor) -> torch.Tensor:
    """Base-10 digits ``[N, d]`` (most significant first) -> integers ``[N]``."""
    powers = 10 ** torch.arange(digits.shape[1] - 1, -1, -1, device=digits.device)
    return (digits * powers).sum(1)


def _to_digits(n: torch.Tensor, d: int) -> torch.Tensor:
    """Integers ``[N]`` -> ``d`` base-10 digits ``[N, d]``, most significant first."""
    powers = 10 ** torch.arange(d - 1, -1, -1, device=n.device)
    return (n[:, None] // powers) % 10


def _rule_pairs(params: dict, x: torch.Tensor) -> torch.Tensor:
    n, V = params["n"], params["V"]
    b, c = x[:, :n], x[:, n:]
    return (c == (b + b.roll(-1, dims=1)) % V).all(1)


def _rule_addition(params: dict, x: torch.Tensor) -> torch.Tensor:
    d = params["digits"]
    return _to_int(x[:, :d]) + _to_int(x[:, d:2 * d]) == _to_int(x[:, 2 * d:])


def _rule_parity(params: dict, x: torch.Tensor) -> torch.Tensor:
    n = params["n"]
    return (x[:, n:] == x[:, :n].cumsum(1) % 2).all(1)


def _rule_lookup(params: dict, x: torch.Tensor) -> torch.Tensor:
    n, table = params["n"], lookup_table(params["V"], params["table_seed"])
    b, c = x[:, :n], x[:, n:]
    return (c == table[b, b.roll(-1, dims=1)]).all(1)


def _rule_majority(params: dict, x: torch.Tensor) -> torch.Tensor:
    n = params["n"]
    return (x[:, n:] == _majority3(x[:, :n])).all(1)


def _rule_sudoku(params: dict, x: torch.Tensor) -> torch.Tensor:
    from core import sudoku as sd

    return sd.valid_grids(sd.geometry(params["size"]), x)


_RULES = {"pairs": _rule_pairs, "lookup": _rule_lookup, "majority": _rule_majority, "addition": _rule_addition,
          "parity": _rule_parity, "sudoku": _rule_sudoku}


def sudoku(seed: int = 0, size: int = 6, num_train: int = 20000, num_heldout: int = 1000,
           min_givens: int = 0) -> Dataset:
    """Sudoku puzzles with unique solutions (:mod:`core.sudoku`): rows are solutions (values ``0..size-1``),
    ``*_given`` their givens. No reference order: which cell is easy next depends on the puzzle."""
    from core import sudoku as sd

    if size not in limits.SUDOKU_SIZES:
        raise ValueError(f"size must be one of {', '.join(map(str, limits.SUDOKU_SIZES))}, got {size!r}")
    _check_int("num_train", num_train, 1, limits.SUDOKU_MAX_TRAIN)
    _check_int("num_heldout", num_heldout, 1, limits.SUDOKU_MAX_HELDOUT)
    g = sd.geometry(size)
    _check_int("min_givens", min_givens, 0, g.cells)
    train, train_given = sd.generate(g, num_train, seed, "train", min_givens)
    heldout, heldout_given = sd.generate(g, num_heldout, seed, "heldout", min_givens)
    params = dict(seed=seed, size=size, num_train=num_train, num_heldout=num_heldout, min_givens=min_givens)
    meta = DataMeta(name="sudoku", params=params, num_categories=[size] * g.cells, shape=(size, size),
                    position_names=[f"r{r + 1}c{c + 1}" for r in range(size) for c in range(size)])
    return Dataset(train, heldout, meta, train_given, heldout_given)


# ----------------------------------------------------------------------------------------------
# Tasks shipped with a dependency
# ----------------------------------------------------------------------------------------------


def digits(seed: int = 0, heldout_fraction: float = 0.1) -> Dataset:
    """scikit-learn's bundled 8x8 handwritten digits (1,797 images), pixel values 0..16, no download."""
    from sklearn.datasets import load_digits  # imported here: slow, and only this task needs it

    frac = _check_fraction("heldout_fraction", heldout_fraction)
    x = torch.from_numpy(load_digits().data.astype(np.int64))  # [1797, 64]
    train, heldout = _split(x, frac, seed)
    meta = DataMeta(name="digits", params=dict(seed=seed, heldout_fraction=frac), num_categories=[17] * 64,
                    position_names=[f"r{r}c{c}" for r in range(8) for c in range(8)], shape=(8, 8))
    return Dataset(train=train, heldout=heldout, meta=meta)


def words(seed: int = 0, length: int = 5, heldout_fraction: float = 0.1) -> Dataset:
    """Lowercase a-z words of one length from the word lists shipped in the ``english-words`` package."""
    length = _check_int("length", length, 2, limits.TASK_MAX_WORD_LENGTH)
    frac = _check_fraction("heldout_fraction", heldout_fraction)
    vocab = word_list(length)
    x = torch.tensor([[ord(ch) - ord("a") for ch in w] for w in vocab])  # [N, length]
    train, heldout = _split(x, frac, seed)
    meta = DataMeta(name="words", params=dict(seed=seed, length=length, heldout_fraction=frac),
                    num_categories=[26] * length, position_names=[f"l{i + 1}" for i in range(length)])
    return Dataset(train=train, heldout=heldout, meta=meta)


def word_list(length: int) -> list[str]:
    """Sorted lowercase a-z words of ``length`` letters (Webster's 2nd + GCIDE; proper nouns excluded)."""
    from english_words import get_english_words_set

    pattern = re.compile(f"[a-z]{{{length}}}")
    found = get_english_words_set(["web2", "gcide"], alpha=True)
    return sorted(w for w in found if pattern.fullmatch(w))


# ----------------------------------------------------------------------------------------------
# Tables
# ----------------------------------------------------------------------------------------------

ADULT_COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
                 "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week",
                 "native-country", "income"]
# fnlwgt is a census sampling weight, not an attribute of the person, so it is left out by default.
ADULT_DEFAULT_COLUMNS = ",".join(c for c in ADULT_COLUMNS if c != "fnlwgt")


def adult(seed: int = 0, columns: str = ADULT_DEFAULT_COLUMNS, num_bins: int = 8,
          heldout_fraction: float = 0.1) -> Dataset:
    """UCI Adult (adult.data, 32,561 rows); ``columns`` is a comma-separated subset of ``ADULT_COLUMNS``.

    Missing values (``?`` in the file) become the category ``nan``.
    """
    cols = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    unknown = [c for c in cols if c not in ADULT_COLUMNS]
    if unknown or len(set(cols)) != len(cols):
        raise ValueError(f"columns must be distinct names from {', '.join(ADULT_COLUMNS)}; bad: {unknown}")
    ds = table_from_dataframe(load_adult_frame()[cols], name="adult", num_bins=num_bins, seed=seed,
                              heldout_fraction=heldout_fraction)
    # Exactly adult()'s own parameters, so that make_task("adult", **meta.params) rebuilds the data.
    ds.meta.params = dict(seed=seed, columns=",".join(cols), num_bins=num_bins,
                          heldout_fraction=ds.meta.params["heldout_fraction"])
    return ds


def load_adult_frame() -> pd.DataFrame:
    """The raw UCI Adult training file as a DataFrame with the standard column names."""
    path = resources.files("core").joinpath("datasets", "adult.data.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as f:
        return read_adult_csv(f)


def read_adult_csv(f, skiprows: int = 0) -> pd.DataFrame:
    """An Adult file in the UCI layout (no header, ", " separators, ``?`` for missing) as a DataFrame."""
    return pd.read_csv(f, header=None, names=ADULT_COLUMNS, skipinitialspace=True, na_values=["?"],
                       skiprows=skiprows)


def table_from_dataframe(df: pd.DataFrame, name: str = "table", max_categories: int = 64, num_bins: int = 8,
                         seed: int = 0, heldout_fraction: float = 0.1) -> Dataset:
    """Encode a DataFrame: one position per column.

    Non-numeric, boolean, or numeric columns with at most ``num_bins`` distinct values are categorical
    (missing values become the category ``"nan"``); other numeric columns are cut into ``num_bins``
    quantile bins, with missing values in an extra bin. Constant columns carry no information and are
    dropped. Categories and bins are computed on all rows; the split is random with ``seed``.
    """
    _check_int("max_categories", max_categories, 2, limits.CSV_MAX_CATEGORIES)
    _check_int("num_bins", num_bins, 2, limits.CSV_MAX_BINS)
    frac = _check_fraction("heldout_fraction", heldout_fraction)
    _check_frame(df)
    encoded = []  # (name, (codes, decoder)) of the non-constant columns
    for short, column in zip(short_names([str(c) for c in df.columns]), df.columns):
        enc = _encode_column(df[column], short, max_categories, num_bins)
        if enc is not None:
            encoded.append((short, (enc[0], _short_decoder(enc[1]))))
    if len(encoded) < 2:
        raise ValueError(f"the table has {len(encoded)} usable column(s); at least 2 non-constant columns "
                         "are needed")
    x = torch.from_numpy(np.stack([codes for _, (codes, _) in encoded], 1))  # [N, L]
    train, heldout = _split(x, frac, seed)
    meta = DataMeta(name=name, num_categories=[_decoder_size(dec) for _, (_, dec) in encoded],
                    params=dict(seed=seed, max_categories=max_categories, num_bins=num_bins,
                                heldout_fraction=frac),
                    position_names=[c for c, _ in encoded], decoders=[dec for _, (_, dec) in encoded])
    return Dataset(train=train, heldout=heldout, meta=meta)


def table_from_csv(path_or_buffer, name: str = "table", **kwargs) -> Dataset:
    """Read a CSV (UTF-8, a byte order mark allowed, a header row of distinct names; at most
    ``limits.CSV_MAX_BYTES``) and encode it with :func:`table_from_dataframe`."""
    text = _csv_text(path_or_buffer)
    _check_header(text)
    try:
        df = pd.read_csv(io.StringIO(text))
    except pd.errors.EmptyDataError:
        raise ValueError("the CSV file is empty (no header and no rows)") from None
    except (pd.errors.ParserError, ValueError, OverflowError, MemoryError) as e:
        raise ValueError(f"could not parse the CSV file: {_one_line(e)}") from None
    return table_from_dataframe(df, name=name, **kwargs)


def csv_dataset(raw: bytes, filename: str, seed: int = 0) -> Dataset:
    """A CSV file's bytes as a table dataset named after the file, as the app's Train page and
    ``python -m core.train --csv`` read one; ValueError names the problem (size, parse, columns)."""
    filename = short_names([Path(str(filename)).name or "table.csv"], 60)[0]  # shown, never opened
    if len(raw) > limits.CSV_MAX_BYTES:
        raise ValueError(f"{filename} is {len(raw) / 2**20:.1f} MB; at most {limits.CSV_MAX_BYTES >> 20} MB")
    if not raw.strip():
        raise ValueError(f"{filename} is empty")
    name = short_names([Path(filename).stem or "table"])[0]
    try:
        return table_from_csv(io.BytesIO(raw), name=name, seed=seed)
    except ValueError as e:
        raise ValueError(f"{filename}: {e}") from None


def _csv_text(path_or_buffer) -> str:
    """The CSV as text, read with a size bound; the messages never name the file's location."""
    try:
        if hasattr(path_or_buffer, "read"):
            raw = path_or_buffer.read(limits.CSV_MAX_BYTES + 1)
        else:
            with open(path_or_buffer, "rb") as f:
                raw = f.read(limits.CSV_MAX_BYTES + 1)
    except OSError as e:
        raise ValueError(f"could not read the CSV file: {e.strerror or type(e).__name__}") from None
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    if len(raw) > limits.CSV_MAX_BYTES:
        raise ValueError(f"the CSV file is larger than {limits.CSV_MAX_BYTES >> 20} MB")
    try:
        return raw.decode("utf-8-sig")  # a leading byte order mark is dropped
    except UnicodeDecodeError as e:
        raise ValueError(f"the CSV file is not UTF-8 text (byte {e.start:,} cannot be decoded)") from None


def _check_header(text: str) -> None:
    """Refuse duplicate column names, which pandas would silently rename ``a.1``."""
    try:
        header = next(csv.reader(io.StringIO(text[:1 << 20])), None)
    except csv.Error as e:
        raise ValueError(f"could not parse the CSV header: {e}") from None
    if not header:
        return
    seen, duplicates = set(), []
    for column in (c.strip() for c in header):
        if column in seen and column not in duplicates:
            duplicates.append(column)
        seen.add(column)
    if duplicates:
        raise ValueError("the CSV header repeats the column name(s) "
                         + ", ".join(repr(limits._short(d, 30)) for d in duplicates[:5])
                         + "; every column needs its own name")


def _one_line(e: Exception) -> str:
    return " ".join(str(e).split())[:300]


def short_names(names: list[str], limit: int = limits.CSV_NAME_CHARS) -> list[str]:
    """Names cut to ``limit`` characters (``…`` marks a cut) and kept distinct with a ``~2`` suffix, so a
    table's config.json stays within the loader's size bound."""
    out, used = [], set()
    for name in names:
        short = name if len(name) <= limit else name[:limit - 1] + "…"
        candidate, k = short, 2
        while candidate in used:
            candidate, k = f"{short[:limit - 1 - len(str(k))]}~{k}", k + 1
        used.add(candidate)
        out.append(candidate)
    return out


def _short_decoder(decoder: dict) -> dict:
    if decoder["type"] != "categorical" or not any(isinstance(c, str) for c in decoder["categories"]):
        return decoder
    cats = decoder["categories"]
    if all(not isinstance(c, str) or len(c) <= limits.CSV_NAME_CHARS for c in cats):
        return decoder
    texts = short_names([c if isinstance(c, str) else str(c) for c in cats])
    return {"type": "categorical", "categories": [t if isinstance(c, str) else c for t, c in zip(texts, cats)]}


def _check_frame(df) -> None:
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"expected a pandas DataFrame, got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("the table has no rows")
    if len(df) > MAX_ROWS:
        raise ValueError(f"the table has {len(df):,} rows; at most {MAX_ROWS:,} are supported")
    if df.shape[1] > MAX_COLUMNS:
        raise ValueError(f"the table has {df.shape[1]} columns; at most {MAX_COLUMNS} are supported")
    limits.check_cells("the table", len(df), df.shape[1], limits.CSV_MAX_CELLS)
    names = [str(c) for c in df.columns]
    if len(set(names)) != len(names):
        raise ValueError("the table has duplicate column names")


def _encode_column(s: pd.Series, name: str, max_categories: int, num_bins: int):
    """One column -> (codes [N] int64, decoder), or None for a constant column."""
    numeric = pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s)
    if numeric and np.isinf(s.to_numpy(dtype=float)).any():
        raise ValueError(f"column {name!r} contains infinite values")
    if numeric and s.nunique(dropna=True) > num_bins:
        x = s.to_numpy(dtype=float)
        if len(np.unique(x[~np.isnan(x)])) > num_bins:  # distinct integers may collapse to one float64
            return _bin_numeric(x, num_bins)
        s = pd.Series(x)
    return _encode_categorical(s, name, numeric, max_categories)


def _encode_categorical(s: pd.Series, name: str, numeric: bool, max_categories: int):
    missing = s.isna().to_numpy()
    key = s[~missing].to_numpy(dtype=float) if numeric else s[~missing].astype(str).to_numpy()
    codes_present, uniques = pd.factorize(key, sort=True)
    categories = _category_values(uniques, numeric, pd.api.types.is_bool_dtype(s))
    codes = np.zeros(len(s), dtype=np.int64)
    codes[~missing] = codes_present
    if missing.any():
        if "nan" not in categories:
            categories.append("nan")
        codes[missing] = categories.index("nan")
    if len(categories) > max_categories:
        raise ValueError(f"column {name!r} has {len(categories)} categories, more than "
                         f"max_categories={max_categories}")
    if len(categories) < 2:
        return None
    return codes, {"type": "categorical", "categories": categories}


def _category_values(uniques, numeric: bool, boolean: bool) -> list:
    """Sorted unique keys -> JSON scalars (bools, ints when every value is integral, floats, strings)."""
    if boolean:
        return [u == "True" for u in uniques]
    if not numeric:
        return [str(u) for u in uniques]
    if all(float(u).is_integer() and abs(u) < 2**53 for u in uniques):
        return [int(u) for u in uniques]
    return [float(u) for u in uniques]


def _bin_numeric(x: np.ndarray, num_bins: int):
    """Quantile bins: codes ``[N]`` and a numeric decoder (edges, bin medians, missing bin)."""
    missing = np.isnan(x)
    v = x[~missing]
    edges = _quantile_edges(v, num_bins)
    codes_v = np.searchsorted(edges[1:-1], v, side="right")  # bin k: edges[k] <= v < edges[k+1]
    integer = bool(np.all(v == np.round(v)))
    values = [float(np.median(v[codes_v == k])) for k in range(len(edges) - 1)]
    if integer:
        values = [float(np.round(m)) for m in values]
    codes = np.full(len(x), len(values), dtype=np.int64)  # the missing bin comes last
    codes[~missing] = codes_v
    decoder = {"type": "numeric", "edges": [float(e) for e in edges], "values": values,
               "missing": bool(missing.any()), "integer": integer}
    return codes, decoder


def _quantile_edges(v: np.ndarray, num_bins: int) -> np.ndarray:
    """Bin edges taken from the data (so no bin is empty); at least two bins."""
    edges = np.unique(np.quantile(v, np.linspace(0, 1, num_bins + 1), method="lower"))
    if len(np.unique(v)) < 2:
        raise ValueError("a numeric column needs at least two distinct values to be binned")
    if len(edges) < 3:
        # A point mass (e.g. capital-gain = 0) swallowed every inner quantile: give the smallest value its
        # own bin and put everything else in a second one.
        edges = np.array([v.min(), np.unique(v)[1], v.max()])
    return edges


def _decoder_size(decoder: dict) -> int:
    if decoder["type"] == "categorical":
        return len(decoder["categories"])
    return len(decoder["values"]) + decoder["missing"]


# ----------------------------------------------------------------------------------------------
# Registry
# ----------------------------------------------------------------------------------------------

TASKS = {"pairs": pairs, "lookup": lookup, "majority": majority, "addition": addition, "parity": parity,
         "digits": digits, "words": words, "adult": adult, "sudoku": sudoku}


def task_defaults(name: str) -> dict:
    """The parameters of task ``name`` (seed included) with their default values."""
    builder = _builder(name)
    return {k: p.default for k, p in inspect.signature(builder).parameters.items()}


def make_task(name: str, seed: int = 0, **params) -> Dataset:
    """Build a registered task; ``make_task(meta.name, **meta.params)`` rebuilds the same data."""
    builder = _builder(name)
    _check_int("seed", seed, 0, limits.MAX_SEED)
    valid = set(inspect.signature(builder).parameters) - {"seed"}
    unknown = sorted(set(params) - valid)
    if unknown:
        raise ValueError(f"unknown parameter(s) for task {name!r}: {', '.join(unknown)}; "
                         f"valid: {', '.join(sorted(valid))}")
    return builder(seed=seed, **params)


def _builder(name: str):
    if name not in TASKS:
        raise ValueError(f"unknown task {name!r}; expected one of {', '.join(TASKS)}")
    return TASKS[name]


# ----------------------------------------------------------------------------------------------
# Checking and showing samples
# ----------------------------------------------------------------------------------------------


def check_samples(meta: DataMeta, samples: torch.Tensor) -> torch.Tensor | None:
    """Validity per sample ``[N]`` (bool) for tasks with a rule (pairs, addition, parity), else None.

    A sample with a value outside its position's categories (e.g. a leftover mask id) is invalid.
    """
    rule = _RULES.get(meta.name) if task_layout_ok(meta) else None
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
    return [[_decode_value(meta, l, v) for l, v in enumerate(row)] for row in x]


def format_sample(meta: DataMeta, sample: torch.Tensor) -> str:
    """One sample as text: ``b=0110 c=1010``, ``123+456=0579``, an 8x8 grid, a word, or ``col=value, ...``."""
    values = decode_samples(meta, torch.as_tensor(sample).reshape(1, -1))[0]
    if meta.decoders is not None:
        return ", ".join(f"{n}={_show(v)}" for n, v in zip(meta.position_names, values))
    formatter = _FORMATTERS.get(meta.name, _format_generic) if task_layout_ok(meta) else _format_generic
    return formatter(meta, values)


def task_layout_ok(meta: DataMeta) -> bool:
    """Whether ``meta.params`` lay out ``meta``'s positions the way the task of that name does (so its rule
    and formatter may index them by ``n``, ``V``, ``digits``...). False for tables and for a config whose
    params were edited: such data are shown generically, and no validity rule applies."""
    if meta.decoders is not None or meta.name not in _LAYOUTS:
        return False
    try:
        L, K = _LAYOUTS[meta.name](meta.params)
    except (KeyError, TypeError, ValueError):
        return False
    return meta.length == L and all(k == K for k in meta.num_categories)


def _layout_pairs(p: dict) -> tuple[int, int]:
    n = limits.check_int("n", p["n"], 1, limits.TASK_MAX_N)
    return 2 * n, limits.check_int("V", p["V"], 2, limits.TASK_MAX_V)


def _layout_bits(p: dict) -> tuple[int, int]:
    return 2 * limits.check_int("n", p["n"], 1, limits.TASK_MAX_N), 2


def _layout_addition(p: dict) -> tuple[int, int]:
    return 3 * limits.check_int("digits", p["digits"], 1, limits.TASK_MAX_DIGITS) + 1, 10


def _layout_lookup(p: dict) -> tuple[int, int]:
    limits.check_int("table_seed", p["table_seed"], 0, limits.MAX_SEED)
    return _layout_pairs(p)


def _layout_sudoku(p: dict) -> tuple[int, int]:
    if p["size"] not in limits.SUDOKU_SIZES:
        raise ValueError(f"size must be one of {limits.SUDOKU_SIZES}")
    return p["size"] ** 2, p["size"]


_LAYOUTS = {"pairs": _layout_pairs, "lookup": _layout_lookup, "majority": _layout_bits, "parity": _layout_bits,
            "addition": _layout_addition, "digits": lambda p: (64, 17), "sudoku": _layout_sudoku,
            "words": lambda p: (limits.check_int("length", p["length"], 2, limits.TASK_MAX_WORD_LENGTH), 26)}


def _as_samples(meta: DataMeta, samples) -> torch.Tensor:
    x = torch.as_tensor(samples)
    if x.dim() != 2 or x.shape[1] != meta.length:
        raise ValueError(f"samples must have shape [N, {meta.length}], got {tuple(x.shape)}")
    return x.long()


def _decode_value(meta: DataMeta, l: int, v: int):
    if not 0 <= v < meta.num_categories[l]:
        return None
    decoder = meta.decoders[l] if meta.decoders is not None else None
    if decoder is None:
        return chr(ord("a") + v) if meta.name == "words" else v
    if decoder["type"] == "categorical":
        return decoder["categories"][v]
    if v == len(decoder["values"]):
        return math.nan  # the missing bin
    value = decoder["values"][v]
    return int(value) if decoder["integer"] else value


def _show(v) -> str:
    if v is None:
        return "_"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _symbols(values: list) -> str:
    """Digits/letters side by side when every value has one character, else comma-separated."""
    if all(v is None or (isinstance(v, int) and v < 36) for v in values):
        return "".join("_" if v is None else np.base_repr(v, 36).lower() for v in values)
    return ",".join(_show(v) for v in values)


def _format_pairs(meta: DataMeta, values: list) -> str:
    n = meta.params["n"]
    return f"b={_symbols(values[:n])} c={_symbols(values[n:])}"


def _format_parity(meta: DataMeta, values: list) -> str:
    n = meta.params["n"]
    return f"b={_symbols(values[:n])} p={_symbols(values[n:])}"


def _format_addition(meta: DataMeta, values: list) -> str:
    d = meta.params["digits"]
    return f"{_symbols(values[:d])}+{_symbols(values[d:2 * d])}={_symbols(values[2 * d:])}"


def _format_digits(meta: DataMeta, values: list) -> str:
    chars = ["?" if v is None else DIGIT_RAMP[round(v * (len(DIGIT_RAMP) - 1) / 16)] for v in values]
    return "\n".join("".join(chars[r * 8:(r + 1) * 8]) for r in range(8))


def _format_words(meta: DataMeta, values: list) -> str:
    return "".join("_" if v is None else v for v in values)


def _format_generic(meta: DataMeta, values: list) -> str:
    if meta.shape is None:
        return " ".join(_show(v) for v in values)
    rows, cols = meta.shape
    return "\n".join(" ".join(_show(v) for v in values[r * cols:(r + 1) * cols]) for r in range(rows))


def _format_sudoku(meta: DataMeta, values: list) -> str:
    from core import sudoku as sd

    return sd.to_text(sd.geometry(meta.params["size"]), [-1 if v is None else v for v in values])


_FORMATTERS = {"pairs": _format_pairs, "lookup": _format_pairs, "majority": _format_pairs, "parity": _format_parity,
               "addition": _format_addition, "digits": _format_digits, "words": _format_words,
               "sudoku": _format_sudoku}
