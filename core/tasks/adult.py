"""The ``adult`` task: UCI Adult (adult.data, 32,561 rows, shipped gzip in ``core/datasets/``) as a table."""

from __future__ import annotations

import gzip
from importlib import resources

import pandas as pd

from core.meta import Dataset
from core.tables import table_from_dataframe
from core.tasks.base import Task

COLUMNS = ["age", "workclass", "fnlwgt", "education", "education-num", "marital-status", "occupation",
           "relationship", "race", "sex", "capital-gain", "capital-loss", "hours-per-week", "native-country",
           "income"]
# fnlwgt is a census sampling weight, not an attribute of the person, so it is left out by default.
DEFAULT_COLUMNS = ",".join(c for c in COLUMNS if c != "fnlwgt")


def build(seed: int = 0, columns: str = DEFAULT_COLUMNS, num_bins: int = 8,
          heldout_fraction: float = 0.1) -> Dataset:
    """UCI Adult (adult.data, 32,561 rows); ``columns`` is a comma-separated subset of ``COLUMNS``.

    Missing values (``?`` in the file) become the category ``nan``.
    """
    cols = [c.strip() for c in columns.split(",")] if isinstance(columns, str) else list(columns)
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown or len(set(cols)) != len(cols):
        raise ValueError(f"columns must be distinct names from {', '.join(COLUMNS)}; bad: {unknown}")
    ds = table_from_dataframe(load_frame()[cols], name="adult", num_bins=num_bins, seed=seed,
                              heldout_fraction=heldout_fraction)
    # Exactly build()'s own parameters, so that make_task("adult", **meta.params) rebuilds the data.
    ds.meta.params = dict(seed=seed, columns=",".join(cols), num_bins=num_bins,
                          heldout_fraction=ds.meta.params["heldout_fraction"])
    return ds


def load_frame() -> pd.DataFrame:
    """The raw UCI Adult training file as a DataFrame with the standard column names."""
    path = resources.files("core").joinpath("datasets", "adult.data.gz")
    with path.open("rb") as raw, gzip.open(raw, "rt") as f:
        return read_csv(f)


def read_csv(f, skiprows: int = 0) -> pd.DataFrame:
    """An Adult file in the UCI layout (no header, ", " separators, ``?`` for missing) as a DataFrame."""
    return pd.read_csv(f, header=None, names=COLUMNS, skipinitialspace=True, na_values=["?"],
                       skiprows=skiprows)


# a table: its meta's decoders show it, no rule
TASK = Task("adult", build, listed_at=8,
            words="Rows of the UCI Adult census table, one position per column.",
            formula=r"x = (\text{age}, \text{workclass}, \dots)",
            easy_order="none known in advance.")
