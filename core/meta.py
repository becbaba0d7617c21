"""What a dataset is: :class:`DataMeta` (what the integer tensors mean, validated, round-tripping through
JSON) and :class:`Dataset` (the train and held-out rows, with optional givens).

Position ``l`` takes values ``0 .. num_categories[l] - 1`` (docs/design.md §5). A meta read from an untrusted
``config.json`` is validated field by field against ``core/limits.py`` on construction.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, fields

import torch

from core import limits, rng
from core.checks import check_fields, is_int, is_number


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
        check_fields(cls, d, "data meta", required=("name", "params", "num_categories", "position_names"))
        return cls(**copy.deepcopy(d))


def _validate_meta(m: DataMeta) -> None:
    """Check and normalize every field in place (tuples -> lists, numpy ints -> int)."""
    if not isinstance(m.name, str) or not m.name:
        raise ValueError("data meta name must be a non-empty string")
    m.params = _check_params(m.params)
    m.num_categories = _int_list(m.num_categories, "num_categories", 1, limits.MAX_POSITIONS)
    for i, k in enumerate(m.num_categories):
        if not 2 <= k <= limits.MAX_CATEGORIES:
            raise ValueError(f"num_categories[{i}] must be in 2..{limits.MAX_CATEGORIES}, got {k}")
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
    if not all(is_int(v) for v in x):
        raise ValueError(f"{name} must contain only ints")
    return [int(v) for v in x]


def _float_list(x, name: str) -> list[float]:
    ok = isinstance(x, (list, tuple)) and all(is_number(v) for v in x)
    if not ok:
        raise ValueError(f"{name} must be a list of finite numbers")
    return [float(v) for v in x]


def _is_json_scalar(v) -> bool:
    return v is None or isinstance(v, (str, bool, int)) or (isinstance(v, float) and math.isfinite(v))


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


def split_rows(x: torch.Tensor, heldout_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Shuffle rows with ``seed`` and cut off a held-out part (at least one row when there are two)."""
    n = x.shape[0]
    m = int(round(heldout_fraction * n))
    if n >= 2 and heldout_fraction > 0:
        m = min(max(m, 1), n - 1)
    perm = torch.randperm(n, generator=rng.make_generator(seed))
    return x[perm[m:]], x[perm[:m]]
