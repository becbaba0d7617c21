"""Learned vs linear schedules on the UCI benchmark tables (see core/uci.py for the preparation).

For every table, schedule/estimator configuration and seed: train an ~80K-parameter denoiser with identical
settings, pick the step with the best NELBO on a validation slice carved out of the train split (the test
split is never used for selection), then report on the test split the exact NELBO per row (teacher-forced AR
loss along one schedule order per row; nats), Shape/Trend fidelity of generated rows, and the learned
column order. Results go to a JSON file (``bench/tabular_records.py`` reads, merges and summarises them);
``--summary`` prints the table of an existing file.

    python bench/tabular.py --preset reduced --out bench/results/tabular-reduced.json   # ~31 min, 2 cores
    python bench/tabular.py --preset long --configs linear,learned --out bench/results/tabular-long.json
    python bench/tabular.py --preset full --out bench/results/tabular-full.json         # GPU
"""

from __future__ import annotations

import argparse
import copy
import multiprocessing
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from core import checkpoint, limits, uci  # noqa: E402
from core.cli import fail  # noqa: E402
from core.meta import Dataset  # noqa: E402
from core.elbo import heldout_nelbo  # noqa: E402
from core.orders import expected_rank  # noqa: E402
from core.quality import column_shape, pair_trend  # noqa: E402
from core.decoding import sample  # noqa: E402
from core.train import EvalEvent, Trainer, TrainConfig  # noqa: E402
from tabular_records import (format_markdown, format_summary, load, merge, read_records, save,  # noqa: E402
                             summarize)

CONFIGS = {  # name -> (schedule, estimator, RLOO draws per sequence as a multiple of Settings.K)
    "linear": ("linear", "discrete", 1),
    "learned-continuous": ("learned", "continuous", 1),  # the textbook estimator (docs/design.md §2): continuous time, RLOO
    "learned": ("learned", "discrete", 1),  # this library's default: discrete-step Plackett-Luce, RLOO
    # the lowest-variance schedule gradient of bench/estimator_variance.py at equal compute: 4x the draws
    # per sequence on a 4x smaller batch, so every configuration makes the same number of forward passes
    "learned-k8": ("learned", "discrete", 4),
}


STEPS10 = 300  # the seeds10 preset's step budget: 100 runs in about 75 min on a shared 2-core CPU


@dataclass(frozen=True)
class Settings:
    """One benchmark size; every run of a table uses the same settings."""

    steps: int = 600
    batch_size: int = 128
    K: int = 2
    d_model: int = 56  # 2 layers, 4 heads: 79-83K parameters on these tables
    n_layers: int = 2
    n_heads: int = 4
    schedule_delay: int = 200
    eval_every: int = 100
    val_rows: int = 512  # validation rows carved out of train (never trained on)
    max_train: int | None = None  # None: the whole train split
    test_rows: int | None = 2000  # None: the whole test split
    test_orders: int = 1  # orders drawn per test row (the s.e. is the cluster one, over per-row means)
    sample_rows: int = 2000  # generated rows for the in-run Shape/Trend on discretized rows (0: none)
    num_bins: int = 16
    device: str = "cpu"


PRESETS = {
    "reduced": Settings(),
    "long": Settings(steps=1500, schedule_delay=500, eval_every=250),  # 48 min on 2 cores (2907 s), linear + learned
    "full": Settings(steps=8000, batch_size=512, schedule_delay=2000, eval_every=500, val_rows=2000,
                     test_rows=None, sample_rows=10000, device="auto"),
    # 10 seeds on a shared 2-core CPU: every run saves its best state, and bench/tabular_fidelity.py scores
    # rows generated from it in the real data's space in a separate pass
    "seeds10": Settings(steps=STEPS10, schedule_delay=STEPS10 // 3, eval_every=STEPS10 // 4, test_rows=400,
                        test_orders=8, sample_rows=0),
    "tiny": Settings(steps=20, batch_size=16, schedule_delay=5, eval_every=10, val_rows=32, max_train=256,
                     test_rows=64, sample_rows=64, d_model=16, n_heads=2),
}


# --- one run ------------------------------------------------------------------------------------


def run_one(table: str, config: str, seed: int, settings: Settings, root: str | None, threads: int,
            states: Path | None = None) -> dict:
    """Train one model and score its best-validation state on the test split; with ``states``, save that
    state as a checkpoint folder ``states/<table>-<config>-<seed>`` (for bench/tabular_fidelity.py)."""
    torch.set_num_threads(threads)
    start = time.perf_counter()
    full, test = uci.load_table(table, root, num_bins=settings.num_bins)
    train, val = _carve(full.train, settings)
    dataset = Dataset(train=train, heldout=val, meta=full.meta)
    trainer = Trainer(_train_config(table, config, seed, settings), dataset)
    best = _train_keep_best(trainer)
    trainer.model.load_state_dict(best["model"])
    trainer.schedule.load_state_dict(best["schedule"])
    if states is not None:
        checkpoint.save(trainer.model, trainer.schedule, trainer.meta, asdict(trainer.config),
                        state_dir(states, table, config, seed))
    record = {"table": table, "config": config, "seed": seed, "best_step": best["step"],
              "best_val_nelbo": best["val"], **_score(trainer, test, settings, seed),
              "wall_s": round(time.perf_counter() - start, 1), "num_params": trainer.model.config.num_params(),
              "num_train": len(train), "num_val": len(val)}
    return record


def state_dir(states: Path, table: str, config: str, seed: int) -> Path:
    """Where run ``(table, config, seed)`` keeps its best state."""
    return Path(states) / f"{table}-{config}-{seed}"


def _carve(x: torch.Tensor, s: Settings) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed validation rows (the same for every run of a table) and the training rows."""
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    val, train = x[perm[:s.val_rows]], x[perm[s.val_rows:]]
    return (train if s.max_train is None else train[:s.max_train]), val


def _train_config(table: str, config: str, seed: int, s: Settings) -> TrainConfig:
    schedule, estimator, factor = CONFIGS[config]
    return TrainConfig(task=f"uci-{table}", schedule=schedule, estimator=estimator, K=s.K * factor, steps=s.steps,
                       batch_size=max(1, s.batch_size // factor), warmup=min(200, s.steps // 4),
                       schedule_delay=s.schedule_delay,
                       d_model=s.d_model, n_layers=s.n_layers, n_heads=s.n_heads, eval_every=s.eval_every,
                       eval_size=s.val_rows, eval_orders=1, seed=seed, device=s.device)


def _train_keep_best(trainer: Trainer) -> dict:
    best = {"val": float("inf")}
    for event in trainer.events():
        if isinstance(event, EvalEvent) and event.snapshot["heldout_nelbo"] < best["val"]:
            best = {"val": event.snapshot["heldout_nelbo"], "step": event.snapshot["step"],
                    "model": copy.deepcopy(trainer.model.state_dict()),
                    "schedule": copy.deepcopy(trainer.schedule.state_dict())}
    return best


@torch.no_grad()
def _score(trainer: Trainer, test: torch.Tensor, s: Settings, seed: int) -> dict:
    model, schedule, meta = trainer.model.eval(), trainer.schedule, trainer.meta
    rows = test if s.test_rows is None else test[torch.randperm(len(test), generator=torch.Generator()
                                                                .manual_seed(1))[:s.test_rows]]
    est = heldout_nelbo(model, rows.to(trainer.device), schedule, s.test_orders,
                        torch.Generator().manual_seed(seed))
    w = schedule.order_scores().detach().float().cpu()
    record = {"test_nelbo": est.value, "test_se": est.stderr, "test_rows": len(rows), "test_orders": s.test_orders,
              "exponents": [round(v, 5) for v in w.tolist()],
              "expected_rank": [round(v, 3) for v in expected_rank(w).tolist()],
              "columns": list(meta.position_names)}
    if s.sample_rows:
        fake, _ = sample(model, meta, "ancestral", s.sample_rows, torch.Generator().manual_seed(seed),
                         schedule=schedule)
        record["shape"] = column_shape(test, fake.cpu(), meta.num_categories)
        record["trend"] = pair_trend(test, fake.cpu(), meta.num_categories)
    return record


def reference_fidelity(table: str, settings: Settings, root: str | None = None) -> dict:
    """Shape/Trend of ``sample_rows`` real train rows against the test split: what a perfect generator
    would score with as many rows (the sampling-noise ceiling for the runs' scores)."""
    full, test = uci.load_table(table, root, num_bins=settings.num_bins)
    rows = full.train[torch.randperm(len(full.train), generator=torch.Generator().manual_seed(2))
                      [:settings.sample_rows]]
    return {"table": table, "shape": column_shape(test, rows, full.meta.num_categories),
            "trend": pair_trend(test, rows, full.meta.num_categories)}


# --- many runs ----------------------------------------------------------------------------------


def _log(message: str) -> None:
    print(message, flush=True)  # progress shows even when stdout is a file


def run_all(tables, configs, seeds, settings: Settings, root=None, jobs: int = 1, out: Path | None = None,
            log=_log, states: Path | None = None) -> list[dict]:
    """Every (table, config, seed); ``jobs`` worker processes with one torch thread each (or all threads
    when ``jobs == 1``). Records are appended to ``out`` as they finish."""
    # seed-major, so that a stopped benchmark leaves every table with about as many seeds
    tasks = [(t, c, s) for s in seeds for t in tables for c in configs]
    threads = 1 if jobs > 1 else torch.get_num_threads()
    records = load(out) if out else []
    done = {(r["table"], r["config"], r["seed"]) for r in records}
    todo = [task for task in tasks if task not in done]
    log(f"{len(todo)} run(s) to do ({len(tasks) - len(todo)} already in {out}), {jobs} job(s)")
    start = time.perf_counter()
    for i, result in enumerate(_results(todo, settings, root, jobs, threads, states), 1):
        record = {**result, "settings": asdict(settings)}
        records.append(record)
        if out:
            save(out, records)
        log(f"[{i}/{len(todo)}] {record['table']:<9} {record['config']:<19} seed {record['seed']}: "
            f"test {record['test_nelbo']:.3f}±{record['test_se']:.3f}  best step {record['best_step']}  "
            f"{record['wall_s']:.0f} s  (elapsed {time.perf_counter() - start:.0f} s)")
    return records


def _results(todo, settings: Settings, root, jobs: int, threads: int, states: Path | None):
    """Run records: in ``todo`` order in this process, or as they finish in ``jobs`` worker processes."""
    if jobs == 1:
        for t, c, s in todo:
            yield run_one(t, c, s, settings, root, threads, states)
        return
    # CUDA cannot be used in a forked child once the parent has touched it: spawn workers unless on CPU
    context = multiprocessing.get_context("fork" if settings.device == "cpu" else "spawn")
    with ProcessPoolExecutor(jobs, mp_context=context) as pool:
        futures = [pool.submit(run_one, t, c, s, settings, root, threads, states) for t, c, s in todo]
        for future in as_completed(futures):
            yield future.result()


# --- command line -------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument("--preset", choices=list(PRESETS), default="reduced", help="benchmark size")
    p.add_argument("--tables", default="all", help="comma-separated tables, or 'all' available ones")
    p.add_argument("--configs", default="linear,learned-continuous,learned",
                   help=f"comma-separated from {', '.join(CONFIGS)}")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds")
    p.add_argument("--steps", type=int,
                   help="override the preset's optimizer steps (the schedule delay scales with them)")
    p.add_argument("--num-bins", type=int, help="override the quantile bins per numerical column")
    p.add_argument("--data", default=None, help="folder with the raw UCI files (default ../shared/data)")
    p.add_argument("--jobs", type=int, default=2, help="parallel runs (one torch thread each when > 1)")
    p.add_argument("--out", type=Path, default=Path("runs/tabular.json"),
                   help="JSON file of per-run records; runs already in it are skipped")
    p.add_argument("--states", type=Path, default=None,
                   help="save every run's best state under this folder (for bench/tabular_fidelity.py)")
    p.add_argument("--summary", action="store_true", help="only print the summary of --out")
    p.add_argument("--markdown", action="store_true", help="with --summary: the docs/results.md table")
    p.add_argument("--merge", type=Path, nargs="+", metavar="FILE",
                   help="only write the runs of these result files into --out, then print the summary")
    p.add_argument("--reference", action="store_true",
                   help="only print Shape/Trend of real train rows against the test split, per table")
    return p


def settings_from_args(args) -> Settings:
    """The preset with the overrides; ``--steps`` scales the schedule delay so a learned schedule still
    trains for the same fraction of the run (a delay at or past the last step would leave it linear)."""
    settings = PRESETS[args.preset]
    if args.steps is not None:
        delay = settings.schedule_delay * args.steps // settings.steps
        settings = replace(settings, steps=args.steps, schedule_delay=delay)
    if args.num_bins is not None:
        settings = replace(settings, num_bins=args.num_bins)
    return settings


def check_args(args) -> str | None:
    """What is wrong with the run's arguments, in one line, or None. Replaces ``tables``, ``configs`` and
    ``seeds`` by lists and adds ``settings``."""
    problem = _check_numbers(args) or _check_tables(args) or _check_configs_and_seeds(args)
    if problem:
        return problem
    args.settings = settings_from_args(args)
    return _check_out(args.out)


def _check_numbers(args) -> str | None:
    for name, low, high in (("steps", 1, None), ("num_bins", 2, limits.MAX_CATEGORIES), ("jobs", 1, None)):
        value, flag = getattr(args, name), f"--{name.replace('_', '-')}"
        if value is not None and value < low:
            return f"{flag} must be >= {low}, got {value}"
        if value is not None and high is not None and value > high:
            return f"{flag} must be <= {high}, got {value}"
    return None


def _check_tables(args) -> str | None:
    where = args.data if args.data is not None else "../shared/data"  # as the user gave it
    found = uci.available(args.data)
    args.tables = found if args.tables == "all" else [t for t in args.tables.split(",") if t]
    unknown = [t for t in args.tables if t not in uci.TABLES]
    if unknown:
        return f"unknown table(s) {', '.join(unknown)}; expected some of {', '.join(uci.TABLES)}"
    missing = [t for t in args.tables if t not in found]
    if missing:
        return f"raw files of {', '.join(missing)} not found under {where} (see --data)"
    return None if args.tables else f"no table's raw files found under {where} (see --data)"


def _check_configs_and_seeds(args) -> str | None:
    args.configs = [c for c in args.configs.split(",") if c]
    bad = [c for c in args.configs if c not in CONFIGS]
    if bad or not args.configs:
        return f"unknown config(s) {', '.join(bad) or '(none)'}; expected some of {', '.join(CONFIGS)}"
    try:
        args.seeds = [int(s) for s in args.seeds.split(",")]
    except ValueError:
        return f"--seeds must be comma-separated integers, got {args.seeds!r}"
    return None


def _check_out(out: Path) -> str | None:
    """A --out that exists must be a result file (its runs are kept and skipped)."""
    if out.exists():
        try:
            read_records(out)
        except ValueError as err:
            return str(err)
    return None


def main(argv=None) -> None:
    p = build_parser()
    args = p.parse_args(argv)
    if args.summary or args.merge:
        try:
            records = merge(args.merge) if args.merge else read_records(args.out)
        except ValueError as err:
            fail(p, str(err))
        if args.merge:
            save(args.out, records)
            print(f"{len(records)} run(s) from {len(args.merge)} file(s) written to {args.out}")
        rows = summarize(records)
        print(format_markdown(rows) if args.markdown else format_summary(rows))
        return
    problem = check_args(args)
    if problem:
        fail(p, problem)
    if args.reference:
        for table in args.tables:
            r = reference_fidelity(table, args.settings, args.data)
            print(f"{table:<9} real train rows vs test: shape {r['shape']:.3f}  trend {r['trend']:.3f}")
        return
    start = time.perf_counter()
    records = run_all(args.tables, args.configs, args.seeds, args.settings, args.data, args.jobs, args.out,
                      states=args.states)
    print(f"wall time {time.perf_counter() - start:.0f} s, torch {torch.__version__}, "
          f"{os.cpu_count()} CPU core(s), cuda {torch.cuda.is_available()}")
    print(format_summary(summarize(records)))


if __name__ == "__main__":
    main()
