"""PNG figures of a bench/tabular.py result file, for docs/results.md.

* ``nelbo.png`` — test NELBO per row of every run (one dot per seed, the bar is the mean), per table and
  configuration, relative to the linear schedule's mean on that table;
* ``nelbo-seeds.png`` — test NELBO of every seed, linear and learned side by side per table (the same seed
  starts both from the same parameters);
* ``order-<table>.png`` — the learned column order: each column's expected decoding step under the learned
  schedule (mean over seeds, one dot per seed), earliest first; bars start at the uniform order's middle step.

``python bench/tabular_figures.py bench/results/tabular-reduced.json --out docs/figures``
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

COLORS = {"linear": "#7f7f7f", "learned-continuous": "#ff7f0e", "learned": "#1f77b4", "learned-k8": "#2ca02c"}


def nelbo_figure(records: list[dict], path: Path) -> None:
    tables = list(dict.fromkeys(r["table"] for r in records))
    configs = list(dict.fromkeys(r["config"] for r in records))
    fig, axes = plt.subplots(1, len(tables), figsize=(2.6 * len(tables), 3.2), squeeze=False)
    for ax, table in zip(axes[0], tables):
        base = np.mean([r["test_nelbo"] for r in records if r["table"] == table and r["config"] == "linear"]
                       or [0.0])
        for i, config in enumerate(configs):
            values = np.array([r["test_nelbo"] for r in records if r["table"] == table and r["config"] == config])
            ax.bar(i, values.mean() - base, color=COLORS.get(config, "#2ca02c"), alpha=0.35, width=0.7)
            ax.scatter(np.full(len(values), i), values - base, color=COLORS.get(config, "#2ca02c"), s=14, zorder=3)
        ax.axhline(0, color="black", lw=0.6)
        ax.set_xticks(range(len(configs)), configs, rotation=35, ha="right", fontsize=8)
        ax.set_title(f"{table} (linear {base:.2f})", fontsize=9)
        ax.tick_params(axis="y", labelsize=8)
    axes[0][0].set_ylabel("test NELBO − linear mean (nats/row)", fontsize=8)
    fig.suptitle("Test NELBO per run; lower is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def seeds_figure(records: list[dict], path: Path) -> None:
    tables = list(dict.fromkeys(r["table"] for r in records))
    configs = [c for c in ("linear", "learned") if any(r["config"] == c for r in records)]
    fig, axes = plt.subplots(1, len(tables), figsize=(2.8 * len(tables), 3.0), squeeze=False)
    for ax, table in zip(axes[0], tables):
        for config in configs:
            rs = sorted((r for r in records if r["table"] == table and r["config"] == config), key=lambda r: r["seed"])
            ax.plot([r["seed"] for r in rs], [r["test_nelbo"] for r in rs], "o-", ms=3.5, lw=0.8,
                    color=COLORS.get(config, "#2ca02c"), label=config)
        ax.set_title(table, fontsize=9)
        ax.set_xlabel("seed", fontsize=8)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.tick_params(labelsize=7)
    axes[0][0].set_ylabel("test NELBO (nats/row)", fontsize=8)
    axes[0][-1].legend(fontsize=7)
    fig.suptitle("Test NELBO per seed (8 orders per test row); lower is better", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def order_figure(records: list[dict], table: str, path: Path) -> None:
    learned = [c for c in dict.fromkeys(r["config"] for r in records) if c != "linear"]
    runs = {c: [r for r in records if r["table"] == table and r["config"] == c] for c in learned}
    runs = {c: rs for c, rs in runs.items() if rs}
    columns = next(iter(runs.values()))[0]["columns"]
    key = "learned" if "learned" in runs else next(iter(runs))
    mean_rank = np.mean([r["expected_rank"] for r in runs[key]], 0)
    order = np.argsort(mean_rank)
    middle = (len(columns) + 1) / 2  # every column's expected step under a shared schedule
    fig, ax = plt.subplots(figsize=(7.6, 0.28 * len(columns) + 1.2))
    for j, (config, rs) in enumerate(runs.items()):
        ranks = np.array([r["expected_rank"] for r in rs])[:, order]  # [seeds, L], steps from 1
        y = np.arange(len(columns)) + (j - (len(runs) - 1) / 2) * 0.3
        ax.barh(y, ranks.mean(0) - middle, left=middle, height=0.28, color=COLORS.get(config, "#2ca02c"),
                alpha=0.45, label=config)
        for seed_ranks in ranks:
            ax.scatter(seed_ranks, y, color=COLORS.get(config, "#2ca02c"), s=8, zorder=3)
    ax.axvline(middle, color="black", lw=0.6, ls="--", label="uniform order")
    ax.set_xlim(1, len(columns))
    ax.set_yticks(range(len(columns)), [columns[i] for i in order], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("expected decoding step (1 = first)", fontsize=8)
    ax.set_title(f"{table}: learned column order (mean over seeds; dots are seeds)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside: never over the data
    fig.tight_layout()
    fig.savefig(path, dpi=130)
    plt.close(fig)


def main(argv=None) -> list[Path]:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("results", type=Path, help="a JSON file written by bench/tabular.py")
    p.add_argument("--out", type=Path, default=Path("docs/figures"), help="folder for the PNG files")
    args = p.parse_args(argv)
    records = json.loads(args.results.read_text())
    args.out.mkdir(parents=True, exist_ok=True)
    written = [args.out / "nelbo.png"]
    nelbo_figure(records, written[0])
    written.append(args.out / "nelbo-seeds.png")
    seeds_figure(records, written[-1])
    for table in dict.fromkeys(r["table"] for r in records):
        if any(r["table"] == table and r["config"] != "linear" for r in records):
            written.append(args.out / f"order-{table}.png")
            order_figure(records, table, written[-1])
    print("\n".join(str(w) for w in written))
    return written


if __name__ == "__main__":
    main()
