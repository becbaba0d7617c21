"""The paper-style table of a ``bench/tabular.py`` result file, for docs/results.md.

Two markdown tables:

* **test NELBO** per table: linear and learned mean ± std over seeds, the difference learned − linear with
  its 95 % interval and the two-sided p-value of Welch's t-test (unequal variances, Welch–Satterthwaite
  degrees of freedom), and the seeds behind each mean; beside it the paired t-test over seeds run with both
  configurations (a seed gives both the same initial parameters and the same draws while the learned
  schedule is still frozen, so the pairs are not independent of each other);
* **fidelity** per table (when ``bench/tabular_fidelity.py`` has scored the runs): Shape, Trend,
  α-precision, β-recall and C2ST of linear and learned (mean ± std over seeds), the real-data ceiling (real
  test rows against the same train rows through the same code), and the published rows. A published cell
  that could not be found offline is "—".

``python bench/tabular_table.py bench/results/tabular-seeds10.json``
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
from dataclasses import dataclass
from pathlib import Path

from scipy import stats

CONFIGS = ("linear", "learned")
METRICS = ("shape", "trend", "alpha", "beta", "c2st")
HEADS = {"shape": "Shape", "trend": "Trend", "alpha": "α-precision", "beta": "β-recall", "c2st": "C2ST"}
# Published fidelity (SDMetrics Shape / Trend as fractions) of the learned-schedule paper's MDM(LS); its MDM
# and TabDiff rows, and the other metrics, were not available offline: they stay "—".
PUBLISHED = {
    "MDM (paper)": {},
    "MDM(LS) (paper)": {"adult": {"shape": .9878, "trend": .9778}, "default": {"shape": .9830, "trend": .9705},
                        "beijing": {"shape": .9841, "trend": .9743}, "shoppers": {"shape": .9832, "trend": .9710},
                        "magic": {"shape": .9750, "trend": .9628}},
    "TabDiff (paper)": {},
}


@dataclass(frozen=True)
class Welch:
    """Welch's comparison of two samples: ``diff = mean(b) − mean(a)`` with a 95 % interval and p-value."""

    diff: float
    low: float
    high: float
    p: float
    df: float


def welch(a: list[float], b: list[float]) -> Welch:
    """Welch's t-test of ``mean(b) − mean(a)`` (two-sided), with its 95 % confidence interval."""
    if min(len(a), len(b)) < 2:
        raise ValueError("Welch's test needs at least two values per sample")
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    diff, se = statistics.fmean(b) - statistics.fmean(a), math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    half = stats.t.ppf(0.975, df) * se
    p = 2 * stats.t.sf(abs(diff) / se, df) if se > 0 else (0.0 if diff else 1.0)
    return Welch(diff, float(diff - half), float(diff + half), float(p), float(df))


def _values(records: list[dict], table: str, config: str, key: str) -> list[float]:
    return [r[key] for r in records if r["table"] == table and r["config"] == config and key in r]


def _mean_std(values: list[float], digits: int) -> str:
    if not values:
        return "—"
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.{digits}f} ± {std:.{digits}f}"


def nelbo_table(records: list[dict]) -> str:
    """Markdown: test NELBO per table, learned − linear with its 95 % interval and Welch p-value."""
    lines = ["| table | linear | learned | learned − linear [95 % CI] | p (Welch) | p (paired) | seeds |",
             "|---|---|---|---|---|---|---|"]
    for table in dict.fromkeys(r["table"] for r in records):
        a, b = (_values(records, table, c, "test_nelbo") for c in CONFIGS)
        cells = [table, _mean_std(a, 3), _mean_std(b, 3)]
        if min(len(a), len(b)) >= 2:
            w = welch(a, b)
            cells += [f"{w.diff:+.3f} [{w.low:+.3f}, {w.high:+.3f}]", _p(w.p), _p(paired_p(records, table))]
        else:
            cells += ["—", "—", "—"]
        lines.append("| " + " | ".join(cells + [f"{len(a)} / {len(b)}"]) + " |")
    return "\n".join(lines)


def paired_p(records: list[dict], table: str) -> float:
    """Two-sided p-value of the paired t-test of learned − linear over the seeds run with both (nan if < 2)."""
    runs = {(r["config"], r["seed"]): r["test_nelbo"] for r in records if r["table"] == table}
    seeds = sorted(s for c, s in runs if c == "learned" and ("linear", s) in runs)
    if len(seeds) < 2:
        return math.nan
    return float(stats.ttest_rel([runs["learned", s] for s in seeds], [runs["linear", s] for s in seeds]).pvalue)


def _p(p: float) -> str:
    if math.isnan(p):
        return "—"
    return f"{p:.1e}" if p < 1e-3 else f"{p:.3f}"


def fidelity_table(fidelity: list[dict], tables: list[str]) -> str:
    """Markdown: every fidelity metric per table and row (ours, the ceiling, the published rows)."""
    lines = ["| table | rows | " + " | ".join(HEADS[m] for m in METRICS) + " |", "|---|---|" + "---|" * len(METRICS)]
    for table in tables:
        for config in CONFIGS:
            cells = [_mean_std(_values(fidelity, table, config, m), 4) for m in METRICS]
            seeds = len(_values(fidelity, table, config, "shape"))
            lines.append(f"| {table} | {config} (ours, {seeds} seeds) | " + " | ".join(cells) + " |")
        ceiling = next((r for r in fidelity if r["table"] == table and r["config"] == "real-test"), None)
        cells = [f"{ceiling[m]:.4f}" if ceiling else "—" for m in METRICS]
        lines.append(f"| {table} | real test vs train (ceiling) | " + " | ".join(cells) + " |")
        for label, numbers in PUBLISHED.items():
            cells = [f"{numbers[table][m]:.4f}" if m in numbers.get(table, {}) else "—" for m in METRICS]
            lines.append(f"| {table} | {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="a JSON file written by bench/tabular.py")
    args = p.parse_args(argv)
    records = json.loads(args.results.read_text())
    print(nelbo_table(records))
    fidelity_file = args.results.with_name(args.results.stem + "-fidelity.json")
    if fidelity_file.is_file():
        print()
        print(fidelity_table(json.loads(fidelity_file.read_text()), list(dict.fromkeys(r["table"] for r in records))))


if __name__ == "__main__":
    main()
