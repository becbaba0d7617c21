"""Command line comparison of decoding policies on a checkpoint's held-out data (scores: core/quality.py).

    python -m core.compare --checkpoint PATH --policies learned,random,left_to_right,confidence [--json]

``--json`` prints one object ``{policy: {"nll": mean, "nll_ci": [lo, hi], "valid_fraction": value|null}}``,
NLL in nats per sequence.

A puzzle checkpoint (task ``sudoku``) is scored by solving instead: the first ``--puzzles`` held-out puzzles
are decoded from their givens by every policy (greedy unless ``--temperature``), and the table shows the
solve rate with its 95% Wilson interval and the model calls per puzzle (``--json``: ``{policy:
{"solve_rate", "solve_ci", "solved", "puzzles", "calls"}}``)::

    python -m core.compare --checkpoint pretrained/sudoku6-learned --policies learned,random,margin,entropy
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from core import limits
from core.quality import compare_policies, heldout_data, solve_rates
from core.cli import CHECKPOINT_HELP, open_checkpoint
from core.decoding import POLICIES, Policy

DEFAULT_POLICIES = "learned,random,left_to_right,confidence"


def main(argv=None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        _check_positive(args)
        if args.data is not None and not os.path.isfile(args.data):
            raise ValueError(f"--data {args.data}: no such file")
        ckpt = open_checkpoint(args.checkpoint)
        policies = [Policy.parse(p) for p in args.policies.split(",") if p.strip()]
        if not policies:
            raise ValueError("--policies is empty")
        if ckpt.meta.name == "sudoku":
            return _solve(ckpt, policies, args)
        heldout = heldout_data(ckpt.meta, args.data)[: args.max_heldout]
        scores = compare_policies(ckpt, heldout, policies, n_samples=args.n_samples, n_orders=args.n_orders,
                                  seed=args.seed, temperature=_temperature(args, 1.0), k=args.k,
                                  budget_s=limits.CLI_SECONDS)
    except ValueError as e:
        parser.error(str(e))
    return _report(args, scores, f"# {ckpt.meta.name!r}: {heldout.shape[0]} held-out sequences, "
                   f"{args.n_samples} samples per policy, seed {args.seed}", format_table)


def _solve(ckpt, policies, args) -> int:
    """The puzzle comparison: solve rates on the first ``--puzzles`` held-out puzzles."""
    from core import sudoku

    solutions, given = sudoku.task_puzzles(ckpt.meta.params, "heldout", args.puzzles)
    scores = solve_rates(ckpt, solutions, given, policies, seed=args.seed, k=args.k,
                         temperature=_temperature(args, 0.0), budget_s=limits.CLI_SECONDS)
    size = ckpt.meta.params["size"]
    return _report(args, scores, f"# {ckpt.meta.name!r} {size}x{size}: {args.puzzles} held-out puzzles, seed "
                   f"{args.seed}, k {args.k}, temperature {_temperature(args, 0.0):g}", format_solve_table)


def _report(args, scores: dict, header: str, table) -> int:
    """Print ``scores`` as one JSON object (``--json``) or as the header line and ``table(scores)``."""
    if args.json:
        print(json.dumps({name: s.to_json() for name, s in scores.items()}))
    else:
        print(header)
        print(table(scores))
    return 0


def _temperature(args, default: float) -> float:
    return default if args.temperature is None else args.temperature


def format_solve_table(scores: dict, markdown: bool = False) -> str:
    """Policy, solve rate, 95% Wilson interval, solved / puzzles and calls per puzzle."""
    rows = [(name, f"{s.rate:.3f}", f"[{s.ci[0]:.3f}, {s.ci[1]:.3f}]", f"{s.solved}/{s.puzzles}",
             f"{s.calls:.1f}") for name, s in scores.items()]
    head = ("policy", "solve rate", "95% interval", "solved", "calls")
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|" + " --- |" * len(head)]
        return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    fmt = "  ".join(f"{{:<{w}}}" if i == 0 else f"{{:>{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*head), "-" * (sum(widths) + 2 * (len(head) - 1))]
    lines += [fmt.format(*r) for r in rows]
    lines.append("solved: a valid grid that keeps every given; calls: model forward passes per puzzle")
    return "\n".join(lines)


def format_table(scores: dict) -> str:
    """A fixed-width text table of :class:`core.quality.PolicyScore` values."""
    table = any(s.shape is not None for s in scores.values())
    width = max(len("policy"), *(len(name) for name in scores))
    head = f"{'policy':<{width}}  {'order NLL':>10}  {'95% interval':>19}  {'valid':>6}"
    head += f"  {'shape':>6}  {'trend':>6}" if table else ""
    lines = [head, "-" * len(head)]
    for name, s in scores.items():
        row = f"{name:<{width}}  {s.nll:>10.3f}  [{s.nll_ci[0]:>8.3f}, {s.nll_ci[1]:>8.3f}]"
        row += f"  {_fraction(s.valid_fraction):>6}"
        row += f"  {_fraction(s.shape):>6}  {_fraction(s.trend):>6}" if table else ""
        lines.append(row)
    lines.append("order NLL: nats per sequence, teacher forced along each policy's orders (lower is better)")
    return "\n".join(lines)


def _fraction(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def _check_positive(args) -> None:
    """Each count in 1..its bound in core/limits.py."""
    bounds = {"n_samples": limits.MAX_SAMPLES, "n_orders": 64, "max_heldout": limits.TASK_MAX_ROWS,
              "k": limits.MAX_POSITIONS, "puzzles": limits.SUDOKU_MAX_HELDOUT}
    for name, hi in bounds.items():
        if not 1 <= getattr(args, name) <= hi:
            raise ValueError(f"--{name.replace('_', '-')} must be at least 1 and at most {hi:,}, got "
                             f"{getattr(args, name)}")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m core.compare",
                                description="Compare decoding policies by held-out order NLL and sample "
                                            "validity (and table fidelity).")
    p.add_argument("--checkpoint", required=True, help=CHECKPOINT_HELP)
    p.add_argument("--policies", default=DEFAULT_POLICIES,
                   help=f"comma-separated policies from {', '.join(POLICIES)}, or fixed orders written "
                        f"3-0-2-1 (default: {DEFAULT_POLICIES})")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object {policy: {"nll", "nll_ci", "valid_fraction"}} instead of a '
                        "table")
    p.add_argument("--seed", type=int, default=0, help="random seed shared by every policy (default: 0)")
    p.add_argument("--n-samples", type=int, default=256,
                   help="samples per policy for the valid fraction and table fidelity (default: 256)")
    p.add_argument("--n-orders", type=int, default=4,
                   help="orders per held-out sequence for random policies (default: 4)")
    p.add_argument("--max-heldout", type=int, default=512,
                   help="use at most this many held-out sequences, the first ones (default: 512)")
    p.add_argument("--k", type=int, default=1, help="positions revealed per step when sampling (default: 1)")
    p.add_argument("--temperature", type=float, default=None,
                   help="sampling temperature (default: 1.0; puzzles: 0, the most likely value)")
    p.add_argument("--puzzles", type=int, default=500,
                   help="held-out puzzles to solve per policy, for a puzzle checkpoint (default: 500)")
    p.add_argument("--data", default=None,
                   help="the CSV a table checkpoint was built from (needed when its data cannot be "
                        "regenerated by name)")
    return p


if __name__ == "__main__":
    sys.exit(main())
