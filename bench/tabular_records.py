"""The result files of ``bench/tabular.py``: read (checked), merged across files, saved, and summarised per
table and configuration (mean and spread over seeds) as a console table or the Markdown of docs/results.md.
"""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

import torch

from core import uci


def summarize(records: list[dict]) -> list[dict]:
    """Per (table, config): mean and std over seeds of test NELBO, Shape and Trend; the learned column order."""
    rows = []
    for table in dict.fromkeys(r["table"] for r in records):
        for config in dict.fromkeys(r["config"] for r in records if r["table"] == table):
            rs = [r for r in records if r["table"] == table and r["config"] == config]
            nll = [r["test_nelbo"] for r in rs]
            rank = torch.tensor([r["expected_rank"] for r in rs]).mean(0)
            rows.append({"table": table, "config": config, "seeds": len(rs), "mean": statistics.fmean(nll),
                         "std": statistics.stdev(nll) if len(nll) > 1 else 0.0, "min": min(nll), "max": max(nll),
                         "shape": mean_of(rs, "shape"), "trend": mean_of(rs, "trend"),
                         "wall_s": statistics.fmean(r["wall_s"] for r in rs),
                         "order": [rs[0]["columns"][i] for i in torch.argsort(rank).tolist()]})
    return rows


def mean_of(records: list[dict], key: str) -> float:
    """Mean of ``key`` over the records that have it (nan when none has)."""
    values = [r[key] for r in records if key in r]
    return statistics.fmean(values) if values else float("nan")


def format_summary(rows: list[dict]) -> str:
    lines = [f"{'table':<9} {'config':<19} {'seeds':>5} {'test NELBO (nats/row)':>22} {'shape':>6} {'trend':>6} "
             f"{'wall s':>7}  vs linear"]
    for r in rows:
        base = next((b for b in rows if b["table"] == r["table"] and b["config"] == "linear"), None)
        verdict = ""
        if base is not None and r is not base and min(r["seeds"], base["seeds"]) > 1:
            verdict = "overlapping" if overlap(r, base) else (
                "better, no overlap" if r["mean"] < base["mean"] else "worse, no overlap")
        lines.append(f"{r['table']:<9} {r['config']:<19} {r['seeds']:>5} {r['mean']:>14.3f} ± {r['std']:<5.3f} "
                     f"{r['shape']:>6.3f} {r['trend']:>6.3f} {r['wall_s']:>7.0f}  {verdict}")
    return "\n".join(lines)


def format_markdown(rows: list[dict]) -> str:
    """The reproduction table of docs/results.md: published numbers beside ours, per table."""
    configs = list(dict.fromkeys(r["config"] for r in rows))
    head = ["table", "published learned", "published linear"] + [f"{c} (mean ± std)" for c in configs] + [
        "verdict vs linear", "Shape / Trend"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for table in dict.fromkeys(r["table"] for r in rows):
        mine = {r["config"]: r for r in rows if r["table"] == table}
        published = uci.PUBLISHED.get(table, (None, None))
        cells = [table] + [f"{v:.3f}" if v is not None else "—" for v in published]
        cells += [f"{mine[c]['mean']:.3f} ± {mine[c]['std']:.3f}" if c in mine else "—" for c in configs]
        base = mine.get("linear")
        verdicts = []
        for c, r in mine.items():
            if c != "linear" and base is not None:
                kind = "overlap" if overlap(r, base) else "no overlap"
                verdicts.append(f"{c}: {r['mean'] - base['mean']:+.3f} ({kind})")
        cells.append("; ".join(verdicts) or "—")
        cells.append(", ".join(f"{c} {r['shape']:.3f}/{r['trend']:.3f}" for c, r in mine.items()))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def overlap(a: dict, b: dict) -> bool:
    """Whether two summary rows' seed ranges [min, max] overlap."""
    return not (a["max"] < b["min"] or a["min"] > b["max"])


def load(path: Path) -> list[dict]:
    return json.loads(path.read_text()) if path.is_file() else []


def read_records(path: Path) -> list[dict]:
    """The runs of a result file; ValueError naming the file (as given) when it is not one."""
    if not path.is_file():
        raise ValueError(f"{path}: no such file")
    try:
        records = json.loads(path.read_text())
    except (UnicodeDecodeError, json.JSONDecodeError):
        records = None
    keys = {"table", "config", "seed", "test_nelbo"}
    if not isinstance(records, list) or not all(isinstance(r, dict) and keys <= set(r) for r in records):
        raise ValueError(f"{path} is not a JSON list of benchmark runs (a --out file of bench/tabular.py)")
    return records


def merge(paths: list[Path]) -> list[dict]:
    """The runs of several result files of one benchmark size, each (table, config, seed) once (the first
    file's wins); ValueError when the files hold runs of different settings."""
    merged, seen = [], set()
    for path in paths:
        for record in read_records(path):
            if merged and record.get("settings") != merged[0].get("settings"):
                raise ValueError(f"{path} holds runs with other settings than {paths[0]}; merge one size at a time")
            key = (record["table"], record["config"], record["seed"])
            if key not in seen:
                seen.add(key)
                merged.append(record)
    return merged


def save(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(records, indent=1))
    os.replace(tmp, path)
