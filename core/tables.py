"""Tables as tasks: a DataFrame or a CSV encoded one position per column, as a public API.

Categorical columns become categories; numerical columns with more than ``num_bins`` distinct values are
cut into quantile bins whose edges and medians are recorded in ``meta.decoders``, so samples map back to
values (docs/design.md §5). Building blocks (:func:`encode_categorical`, :func:`category_values`,
:func:`bin_numeric`, :func:`decoder_size`) are public so ``core/uci.py`` encodes the benchmark tables
with the same rules. CSV input is untrusted: its size, header and shape are checked against
``core/limits.py`` before it is parsed.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core import limits
from core.checks import check_cells, check_fraction, check_int, short
from core.meta import DataMeta, Dataset, split_rows


def table_from_dataframe(df: pd.DataFrame, name: str = "table", max_categories: int = 64, num_bins: int = 8,
                         seed: int = 0, heldout_fraction: float = 0.1) -> Dataset:
    """Encode a DataFrame: one position per column.

    Non-numeric, boolean, or numeric columns with at most ``num_bins`` distinct values are categorical
    (missing values become the category ``"nan"``); other numeric columns are cut into ``num_bins``
    quantile bins, with missing values in an extra bin. Constant columns carry no information and are
    dropped. Categories and bins are computed on all rows; the split is random with ``seed``.
    """
    check_int("max_categories", max_categories, 2, limits.CSV_MAX_CATEGORIES)
    check_int("num_bins", num_bins, 2, limits.CSV_MAX_BINS)
    frac = check_fraction("heldout_fraction", heldout_fraction)
    _check_frame(df)
    encoded = []  # (name, (codes, decoder)) of the non-constant columns
    for shortened, column in zip(short_names([str(c) for c in df.columns]), df.columns):
        enc = _encode_column(df[column], shortened, max_categories, num_bins)
        if enc is not None:
            encoded.append((shortened, (enc[0], _short_decoder(enc[1]))))
    if len(encoded) < 2:
        raise ValueError(f"the table has {len(encoded)} usable column(s); at least 2 non-constant columns "
                         "are needed")
    x = torch.from_numpy(np.stack([codes for _, (codes, _) in encoded], 1))  # [N, L]
    train, heldout = split_rows(x, frac, seed)
    meta = DataMeta(name=name, num_categories=[decoder_size(dec) for _, (_, dec) in encoded],
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
                         + ", ".join(repr(short(d, 30)) for d in duplicates[:5])
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
    if len(df) > limits.CSV_MAX_ROWS:
        raise ValueError(f"the table has {len(df):,} rows; at most {limits.CSV_MAX_ROWS:,} are supported")
    if df.shape[1] > limits.CSV_MAX_COLUMNS:
        raise ValueError(f"the table has {df.shape[1]} columns; at most {limits.CSV_MAX_COLUMNS} are supported")
    check_cells("the table", len(df), df.shape[1], limits.CSV_MAX_CELLS)
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
            return bin_numeric(x, num_bins)
        s = pd.Series(x)
    return encode_categorical(s, name, numeric, max_categories)


def encode_categorical(s: pd.Series, name: str, numeric: bool, max_categories: int):
    """One category per distinct value (missing values: the category ``"nan"``): ``(codes [N], decoder)``,
    or None for a constant column; ValueError beyond ``max_categories``."""
    missing = s.isna().to_numpy()
    key = s[~missing].to_numpy(dtype=float) if numeric else s[~missing].astype(str).to_numpy()
    codes_present, uniques = pd.factorize(key, sort=True)
    categories = category_values(uniques, numeric, pd.api.types.is_bool_dtype(s))
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


def category_values(uniques, numeric: bool, boolean: bool) -> list:
    """Sorted unique keys -> JSON scalars (bools, ints when every value is integral, floats, strings)."""
    if boolean:
        return [u == "True" for u in uniques]
    if not numeric:
        return [str(u) for u in uniques]
    if all(float(u).is_integer() and abs(u) < 2**53 for u in uniques):
        return [int(u) for u in uniques]
    return [float(u) for u in uniques]


def bin_numeric(x: np.ndarray, num_bins: int):
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


def decoder_size(decoder: dict) -> int:
    """The number of categories a column's decoder stands for (a numeric one: its bins + the missing bin)."""
    if decoder["type"] == "categorical":
        return len(decoder["categories"])
    return len(decoder["values"]) + decoder["missing"]
