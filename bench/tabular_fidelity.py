"""Fidelity of the UCI benchmark's generated rows in the real data's space, through the standard libraries.

For every run of a ``bench/tabular.py`` result file whose best state was saved (``--states``): draw ``n``
rows by ancestral sampling in the run's schedule, decode them to the real table's space
(``core.uci.decode_rows``: a binned value is a draw from the train values in its bin) and score them
against ``n`` real train rows (a fixed subset; ``n = min(test rows, --rows)``) with

* **Shape** and **Trend**: SDMetrics ``QualityReport`` ("Column Shapes": KS complement for numerical
  columns, TV complement for categorical ones; "Column Pair Trends": correlation similarity for numerical
  pairs, contingency similarity otherwise), every column including the target, as TabDiff computes them;
* **C2ST**: SDMetrics ``LogisticDetection`` (1 − (2·max(AUC, ½) − 1) of a logistic classifier told to tell
  real from synthetic; 1 = indistinguishable);
* **α-precision**, **β-recall**: the naive variant of synthcity's ``AlphaPrecision`` (``core/fidelity.py``).

The ceiling (config ``real-test``): ``n`` real test rows against the same train rows, through the same
code. Records go to their own JSON file (resumable: scored runs are skipped), so this pass can run while
the benchmark still trains.

    python bench/tabular_fidelity.py bench/results/tabular-seeds10.json --states runs/tabular-seeds10-states
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from core import checkpoint, uci  # noqa: E402
from core.fidelity import alpha_precision_beta_recall, embed  # noqa: E402
from core.decoding import sample  # noqa: E402
from tabular import state_dir  # noqa: E402  (the benchmark's naming of saved states)

CEILING = "real-test"
METRICS = ("shape", "trend", "c2st", "alpha", "beta")


def score(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]) -> dict:
    """Every metric of the module docstring for two frames with the same columns and row count."""
    from sdmetrics.reports import QualityReport
    from sdmetrics.single_table import LogisticDetection

    real, synthetic = _shared_categories(real, synthetic, kinds)
    metadata = {"columns": {col: {"sdtype": kind} for col, kind in kinds.items()}}
    report = QualityReport()  # the unified report: one table is a dict of one frame
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # SDMetrics warns about constant columns and small samples
        report.generate({"t": real}, {"t": synthetic}, {"tables": {"t": metadata}}, verbose=False)
        c2st = LogisticDetection.compute(*_one_hot_frames(real, synthetic, kinds))
    props = report.get_properties().set_index("Property")["Score"]
    numerical = [c for c, k in kinds.items() if k == "numerical"]
    categorical = [c for c, k in kinds.items() if k == "categorical"]
    alpha, beta = alpha_precision_beta_recall(*embed(real, synthetic, numerical, categorical))
    return {"shape": float(props["Column Shapes"]), "trend": float(props["Column Pair Trends"]),
            "c2st": float(c2st), "alpha": alpha, "beta": beta}


def _shared_categories(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]):
    """Both frames with one categorical dtype per categorical column (LogisticDetection refuses a category
    that only one frame has)."""
    real, synthetic = real.copy(), synthetic.copy()
    for col, kind in kinds.items():
        if kind == "categorical":
            dtype = pd.CategoricalDtype(sorted(set(real[col]) | set(synthetic[col])))
            real[col], synthetic[col] = real[col].astype(dtype), synthetic[col].astype(dtype)
    return real, synthetic


def _one_hot_frames(real: pd.DataFrame, synthetic: pd.DataFrame, kinds: dict[str, str]):
    """Both frames on one shared one-hot encoding, all columns numerical, and their metadata: SDMetrics'
    detection fits its encoder on the real frame only and refuses a category that only the synthetic has."""
    both = pd.get_dummies(pd.concat([real, synthetic], ignore_index=True),
                          columns=[c for c, k in kinds.items() if k == "categorical"], dtype=float)
    both.columns = [f"c{i}" for i in range(both.shape[1])]
    metadata = {"columns": {col: {"sdtype": "numerical"} for col in both.columns}}
    return both.iloc[:len(real)].reset_index(drop=True), both.iloc[len(real):].reset_index(drop=True), metadata


@lru_cache(maxsize=8)
def table_frames(table: str, root: str | None, max_rows: int):
    """``(train, reference, test rows)`` in the real space: the whole train split (for decoding), ``n``
    fixed train rows and ``n`` fixed test rows, categorical labels as strings."""
    train, test = uci.train_test(table, root)
    n = min(len(test), max_rows)
    reference = train.sample(n, random_state=3).reset_index(drop=True)
    held_out = test.sample(n, random_state=4).reset_index(drop=True)
    kinds = uci.sdtypes(table)
    return train, _as_table(reference, kinds), _as_table(held_out, kinds)


def _as_table(df: pd.DataFrame, kinds: dict[str, str]) -> pd.DataFrame:
    return pd.DataFrame({col: df[col].astype(float) if kind == "numerical" else df[col].map(uci.label)
                         for col, kind in kinds.items()})


@torch.no_grad()
def generated_rows(state: Path, table: str, train: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` rows of a saved run, decoded to the real space (seeded by the run's seed)."""
    ckpt = checkpoint.load(state)
    codes, _ = sample(ckpt.model.eval(), ckpt.meta, "ancestral", n, torch.Generator().manual_seed(seed),
                      schedule=ckpt.schedule)
    return uci.decode_rows(table, codes, ckpt.meta, train, np.random.default_rng(seed))


def score_run(record: dict, states: Path, root: str | None, max_rows: int) -> dict:
    """The fidelity record of one benchmark run."""
    start = time.perf_counter()
    table, config, seed = record["table"], record["config"], record["seed"]
    train, reference, _ = table_frames(table, root, max_rows)
    fake = generated_rows(state_dir(states, table, config, seed), table, train, len(reference), seed)
    return {"table": table, "config": config, "seed": seed, "rows": len(reference),
            **score(reference, fake, uci.sdtypes(table)), "wall_s": round(time.perf_counter() - start, 1)}


def score_ceiling(table: str, root: str | None, max_rows: int) -> dict:
    _, reference, held_out = table_frames(table, root, max_rows)
    return {"table": table, "config": CEILING, "seed": 0, "rows": len(reference),
            **score(reference, held_out, uci.sdtypes(table))}


def fidelity_path(results: Path) -> Path:
    """Where the fidelity records of a result file live: ``<name>-fidelity.json`` beside it."""
    return results.with_name(results.stem + "-fidelity.json")


def run(results: Path, states: Path, root: str | None = None, max_rows: int = 5000, log=print) -> list[dict]:
    """Score every saved run (and each table's ceiling) not yet in the fidelity file; return all records."""
    out = fidelity_path(results)
    records = json.loads(out.read_text()) if out.is_file() else []
    done = {(r["table"], r["config"], r["seed"]) for r in records}
    runs = json.loads(results.read_text())
    todo = [r for r in runs if (r["table"], r["config"], r["seed"]) not in done
            and (state_dir(states, r["table"], r["config"], r["seed"]) / "model.safetensors").is_file()]
    ceilings = [t for t in dict.fromkeys(r["table"] for r in runs) if (t, CEILING, 0) not in done]
    log(f"{len(ceilings)} ceiling(s) and {len(todo)} run(s) to score")
    for job in [("ceiling", t) for t in ceilings] + [("run", r) for r in todo]:
        record = score_ceiling(job[1], root, max_rows) if job[0] == "ceiling" else score_run(job[1], states, root,
                                                                                              max_rows)
        records.append(record)
        _save(out, records)
        log(f"{record['table']:<9} {record['config']:<10} seed {record['seed']}: "
            + "  ".join(f"{m} {record[m]:.4f}" for m in METRICS))
    return records


def _save(path: Path, records: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    os.replace(tmp, path)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="a JSON file written by bench/tabular.py")
    p.add_argument("--states", type=Path, required=True, help="the folder given to bench/tabular.py --states")
    p.add_argument("--data", default=None, help="folder with the raw UCI files (default ../shared/data)")
    p.add_argument("--rows", type=int, default=5000, help="at most this many rows per comparison")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if not args.results.is_file():
        p.exit(2, f"{p.prog}: error: {args.results}: no such file\n")
    run(args.results, args.states, args.data, args.rows)


if __name__ == "__main__":
    main()
