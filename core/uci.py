"""The UCI benchmark tables of the learned-schedule paper, prepared the standard (TabDiff) way.

Five tables: adult, default, beijing, shoppers, magic (news is not available offline). For each, the raw
UCI file is read as TabDiff reads it (its column roles and row quirks are in ``TABLES``), split into train
and test as TabDiff splits it, and encoded one position per column:

* categorical columns (and the target of a classification table): one category per value seen in either
  split (TabDiff's split guarantees every category appears in train);
* numerical columns (and a regression target): ``num_bins`` quantile bins with edges fitted on the train
  split only; a numerical column with at most ``num_bins`` distinct train values keeps one category per value.

``load_table("adult", root)`` returns ``(train: Dataset, test: Tensor)`` whose ``meta`` decodes samples.
``decode_rows`` maps generated codes back to the real table's space (``sdtypes`` gives the column types).
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from core import limits, tables
from core.checks import check_int
from core.meta import DataMeta, Dataset
from core.tasks import adult

TRAIN_FRACTION = 0.9
SPLIT_SEED = 1234


@dataclass(frozen=True)
class TableSpec:
    """Where a table's raw file is and how TabDiff reads it."""

    files: tuple[str, ...]  # relative to the data root; adult has (train, test)
    columns: tuple[str, ...]  # names of the table as loaded (after dropped columns)
    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    target: str
    task: str  # binclass | regression
    header: bool  # the raw file has a header row
    drop: tuple[str, ...] = ()  # raw columns TabDiff drops
    drop_first_record: bool = False  # magic: TabDiff's header="infer" eats the first record


MAGIC_COLUMNS = ("Length", "Width", "Size", "Conc", "Conc1", "Asym", "M3Long", "M3Trans", "Alpha", "Dist",
                 "class")
SHOPPERS_COLUMNS = ("Administrative", "Administrative_Duration", "Informational", "Informational_Duration",
                    "ProductRelated", "ProductRelated_Duration", "BounceRates", "ExitRates", "PageValues",
                    "SpecialDay", "Month", "OperatingSystems", "Browser", "Region", "TrafficType", "VisitorType",
                    "Weekend", "Revenue")
BEIJING_COLUMNS = ("year", "month", "day", "hour", "pm2.5", "DEWP", "TEMP", "PRES", "cbwd", "Iws", "Is", "Ir")
PAY = tuple(f"PAY_{i}" for i in (0, 2, 3, 4, 5, 6))
BILL = tuple(f"BILL_AMT{i}" for i in range(1, 7))
PAY_AMT = tuple(f"PAY_AMT{i}" for i in range(1, 7))
DEFAULT_COLUMNS = ("LIMIT_BAL", "SEX", "EDUCATION", "MARRIAGE", "AGE") + PAY + BILL + PAY_AMT + (
    "default.payment.next.month",)

TABLES = {
    "adult": TableSpec(
        files=("adult/adult.data", "adult/adult.test"), columns=tuple(adult.COLUMNS),
        numerical=("age", "fnlwgt", "education-num", "capital-gain", "capital-loss", "hours-per-week"),
        categorical=("workclass", "education", "marital-status", "occupation", "relationship", "race", "sex",
                     "native-country"),
        target="income", task="binclass", header=False),
    "default": TableSpec(
        files=("default/UCI_Credit_Card.csv",), columns=DEFAULT_COLUMNS,
        numerical=("LIMIT_BAL", "AGE") + BILL + PAY_AMT, categorical=("SEX", "EDUCATION", "MARRIAGE") + PAY,
        target="default.payment.next.month", task="binclass", header=True, drop=("ID",)),
    "beijing": TableSpec(
        files=("beijing/PRSA_data_2010.1.1-2014.12.31.csv",), columns=BEIJING_COLUMNS,
        numerical=("DEWP", "TEMP", "PRES", "Iws", "Is", "Ir"), categorical=("year", "month", "day", "hour", "cbwd"),
        target="pm2.5", task="regression", header=True, drop=("No",)),
    "shoppers": TableSpec(
        files=("shoppers/online_shoppers_intention.csv",), columns=SHOPPERS_COLUMNS,
        numerical=SHOPPERS_COLUMNS[:10], categorical=SHOPPERS_COLUMNS[10:17], target="Revenue",
        task="binclass", header=True),
    "magic": TableSpec(
        files=("magic/magic04.data",), columns=MAGIC_COLUMNS, numerical=MAGIC_COLUMNS[:10], categorical=(),
        target="class", task="binclass", header=False, drop_first_record=True),
}
# Published best validation losses (learned per-column schedules vs the linear schedule), for docs/results.md.
PUBLISHED = {"adult": (13.152, 13.186), "default": (18.327, 19.425), "beijing": (17.006, 16.761),
             "shoppers": (16.460, 16.425), "magic": (12.471, 12.611), "news": (48.940, 49.970)}


def default_root() -> Path:
    """``../shared/data`` beside the repository (where the raw UCI files live on this project's machines)."""
    return Path(__file__).resolve().parents[2] / "shared" / "data"


def available(root: str | Path | None = None) -> list[str]:
    """Tables whose raw files are present under ``root``."""
    root = Path(root or default_root())
    return [name for name, spec in TABLES.items() if all((root / f).is_file() for f in spec.files)]


# --- reading and splitting ------------------------------------------------------------------------


def read_raw(name: str, root: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """The table as TabDiff loads it: ``(all rows, None)``, or ``(train, test)`` for adult's official split."""
    spec = _spec(name)
    root = Path(root or default_root())
    missing = [f for f in spec.files if not (root / f).is_file()]
    if missing:
        raise FileNotFoundError(f"table {name!r}: missing {', '.join(str(root / f) for f in missing)}")
    if name == "adult":
        return _read_adult(root / spec.files[0]), _read_adult(root / spec.files[1], skip_first=True)
    df = pd.read_csv(root / spec.files[0], header=0 if spec.header else None)
    if not spec.header:
        df.columns = list(spec.columns)
    df = df.drop(columns=list(spec.drop))
    if spec.drop_first_record:
        df = df.iloc[1:]
    if list(df.columns) != list(spec.columns):
        raise ValueError(f"table {name!r}: expected columns {list(spec.columns)}, found {list(df.columns)}")
    return df.dropna().reset_index(drop=True), None


def _read_adult(path: Path, skip_first: bool = False) -> pd.DataFrame:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        df = adult.read_csv(f, skiprows=1 if skip_first else 0)
    df["income"] = df["income"].str.rstrip(".")  # the test file writes "<=50K."
    return df


def split(df: pd.DataFrame, categorical: list[str], seed: int = SPLIT_SEED) -> tuple[pd.DataFrame, pd.DataFrame]:
    """TabDiff's split: shuffle with numpy ``seed``, first 90 % train, rest test; while the train part
    misses a category of some categorical column, shuffle again with ``seed + 1`` (the shuffle compounds)."""
    n = len(df)
    n_train = int(TRAIN_FRACTION * n)
    idx = np.arange(n)
    while True:
        np.random.seed(seed)
        np.random.shuffle(idx)
        train, test = df.iloc[idx[:n_train]], df.iloc[idx[n_train:]]
        if all(train[c].nunique() == df[c].nunique() for c in categorical):
            return train.reset_index(drop=True), test.reset_index(drop=True)
        seed += 1


def train_test(name: str, root: str | Path | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The benchmark's train and test DataFrames."""
    spec = _spec(name)
    df, test = read_raw(name, root)
    if test is not None:
        return df, test
    categorical = list(spec.categorical) + ([spec.target] if spec.task != "regression" else [])
    return split(df, categorical)


# --- encoding -------------------------------------------------------------------------------------


def encode(name: str, train: pd.DataFrame, test: pd.DataFrame, num_bins: int = 16,
           max_categories: int = 64) -> tuple[Dataset, torch.Tensor]:
    """Encode both splits with encoders fitted as the module docstring says: ``(Dataset, test [N, L])``.

    The Dataset's ``train`` is the whole train split and its ``heldout`` is empty; callers carve their
    validation rows out of ``train``.
    """
    spec = _spec(name)
    check_int("num_bins", num_bins, 2, limits.MAX_CATEGORIES)
    numerical = set(spec.numerical) | ({spec.target} if spec.task == "regression" else set())
    codes_train, codes_test, decoders = [], [], []
    for col in spec.columns:
        a, b, decoder = encode_pair(train[col], test[col], col, col in numerical, num_bins, max_categories)
        codes_train.append(a)
        codes_test.append(b)
        decoders.append(decoder)
    meta = DataMeta(name=f"uci-{name}", params=dict(table=name, num_bins=num_bins),
                         num_categories=[tables.decoder_size(d) for d in decoders],
                         position_names=list(spec.columns), decoders=decoders)
    x_train = torch.from_numpy(np.stack(codes_train, 1))
    ds = Dataset(train=x_train, heldout=x_train[:0], meta=meta)
    return ds, torch.from_numpy(np.stack(codes_test, 1))


def load_table(name: str, root: str | Path | None = None, num_bins: int = 16,
               max_categories: int = 64) -> tuple[Dataset, torch.Tensor]:
    """Read, split and encode one table."""
    train, test = train_test(name, root)
    return encode(name, train, test, num_bins, max_categories)


def encode_pair(train: pd.Series, test: pd.Series, col: str, numerical: bool, num_bins: int,
                 max_categories: int):
    """Codes for both splits and the column's decoder."""
    if numerical and train.nunique(dropna=True) > num_bins:
        codes, decoder = tables.bin_numeric(train.to_numpy(dtype=float), num_bins)
        return codes, apply_bins(test.to_numpy(dtype=float), decoder), decoder
    both = pd.concat([train, test], ignore_index=True)
    numeric = pd.api.types.is_numeric_dtype(both) and not pd.api.types.is_bool_dtype(both)
    encoded = tables.encode_categorical(both, col, numeric, max_categories)
    if encoded is None:  # constant column: keep it as a one-category position
        return np.zeros(len(train), np.int64), np.zeros(len(test), np.int64), {
            "type": "categorical", "categories": tables.category_values(both.unique()[:1], numeric, False)}
    codes, decoder = encoded
    return codes[:len(train)], codes[len(train):], decoder


def apply_bins(x: np.ndarray, decoder: dict) -> np.ndarray:
    """Train-fitted bins applied to new values; values beyond the train range fall in the end bins."""
    edges = np.asarray(decoder["edges"])
    codes = np.searchsorted(edges[1:-1], x, side="right").astype(np.int64)
    missing = np.isnan(x)
    if missing.any():
        if not decoder["missing"]:
            raise ValueError("the test split has missing values where the train split has none")
        codes[missing] = len(decoder["values"])
    return codes


# --- decoding generated rows ---------------------------------------------------------------------


def sdtypes(name: str) -> dict[str, str]:
    """Column -> ``"numerical"`` or ``"categorical"`` as the benchmark treats it (the target by task)."""
    spec = _spec(name)
    numerical = set(spec.numerical) | ({spec.target} if spec.task == "regression" else set())
    return {col: "numerical" if col in numerical else "categorical" for col in spec.columns}


def decode_rows(name: str, codes: torch.Tensor, meta: DataMeta, train: pd.DataFrame,
                generator: np.random.Generator) -> pd.DataFrame:
    """Generated codes ``[N, L]`` as a table in the real data's space.

    A binned numerical value is a draw from the train split's values in that bin, uniform over its rows:
    the conditional distribution of the data given the bin, so integer columns stay integers, point masses
    (capital-gain = 0) stay point masses and a column's distribution is exactly the model's bin
    probabilities mixed with the real within-bin distributions (uniform within the bin's edges would smear
    both and be scored for it). Other columns decode to their category; categorical labels are strings.
    """
    codes = np.asarray(codes)
    kinds = sdtypes(name)
    columns = {}
    for j, (col, decoder) in enumerate(zip(meta.position_names, meta.decoders)):
        if decoder["type"] == "numeric":
            columns[col] = _from_bins(codes[:, j], train[col].to_numpy(float), decoder, generator)
        else:
            values = [decoder["categories"][c] for c in codes[:, j]]
            columns[col] = np.asarray(values, float) if kinds[col] == "numerical" else [label(v) for v in values]
    return pd.DataFrame(columns)


def label(value) -> str:
    """A categorical value as a string, the same for the raw table and a decoded category (1.0 -> "1")."""
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        value = int(value)
    return str(value)


def _from_bins(codes: np.ndarray, train: np.ndarray, decoder: dict, generator: np.random.Generator):
    edges = np.asarray(decoder["edges"])
    bins = np.searchsorted(edges[1:-1], train, side="right")  # the same rule as the encoder
    out = np.full(len(codes), np.nan)  # the missing bin (last code) decodes to NaN
    for k in range(len(decoder["values"])):
        rows = codes == k
        pool = train[bins == k]
        out[rows] = pool[generator.integers(0, len(pool), int(rows.sum()))]
    return out


def _spec(name: str) -> TableSpec:
    if name not in TABLES:
        raise ValueError(f"unknown table {name!r}; expected one of {', '.join(TABLES)}")
    return TABLES[name]
