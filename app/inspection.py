"""What Inspect computes about a checkpoint: the Plackett–Luce scores of its schedule, the order statistics
the page shows, the figures within the bounds of ``core/limits.py`` with notes on what is left out, and the
Hugging Face Hub loader with a time limit.

No widgets here (``app/content/inspect.py`` draws them); the hostile-input suite calls these directly.
Every statistic is bounded by ``core/limits.py``: the rank spread is exact up to 512 positions and sampled
(with its error) above; figures with one cell per pair of positions are drawn up to 256 positions.
"""

from __future__ import annotations

import concurrent.futures
from dataclasses import replace

import torch

from app.figures import orders as order_figures
from app.figures import schedule as schedule_figures
from core import checkpoint, limits
from core.orders import (
    expected_rank,
    max_order_entropy,
    most_likely_order,
    order_entropy,
    precedence_matrix,
    rank_spread,
)
from core.orders import order_summary

HUB_TIMEOUT_S = 30.0
MAX_ORDER_SHOWN = 32
NEAR_UNIFORM = 0.01  # order entropy within 1% of log L!: every order about equally likely, no telling mode


def load_hub(repo_id: str, timeout: float = HUB_TIMEOUT_S) -> checkpoint.Checkpoint:
    """A checkpoint from the Hugging Face Hub, giving up after ``timeout`` seconds (never hangs the page)."""
    repo_id = checkpoint.check_repo_id(repo_id)  # an owner/name id, never a path: nothing else is tried
    pool = concurrent.futures.ThreadPoolExecutor(max_workers=1)
    try:
        return pool.submit(checkpoint.load_from_hub, repo_id).result(timeout=timeout)
    except concurrent.futures.TimeoutError:
        raise ValueError(f"the Hugging Face Hub did not answer within {timeout:.0f} s (offline?)") from None
    except ValueError:
        raise
    except Exception as e:  # anything else from the download or the cache: one line, no server path
        raise ValueError(f"could not load {repo_id!r} from the Hugging Face Hub ({type(e).__name__})") from None
    finally:
        pool.shutdown(wait=False)


def scores_of(schedule) -> tuple[torch.Tensor, bool]:
    """Plackett–Luce scores of a schedule (``w`` for polynomial ones) and whether they differ between
    positions; shared schedules (linear, cosine) give equal scores = uniform orders."""
    w = schedule.order_scores().detach().double().cpu()
    return w, not torch.allclose(w, w[0].expand_as(w))


def most_uneven_pair(w: torch.Tensor) -> float:
    """The largest P(i before j) of Plackett–Luce scores ``w``: 0.5 = uniform orders."""
    return float(w.max() / (w.max() + w.min()))


def order_stats(ckpt: checkpoint.Checkpoint, seed: int = 0) -> dict:
    """Everything the page shows about the order distribution, computed once per checkpoint.

    Agreement with the reference is the *expected* Kendall tau over the whole order distribution (0 for a
    shared schedule), not the tau of the most likely order: with equal or nearly equal ``w`` that mode is
    decided by ties and noise; it and the group precedence come from ``core.orders.order_summary``, as in
    the training snapshots. ``near_uniform`` says the mode is not worth showing."""
    meta = ckpt.meta
    w, learned = scores_of(ckpt.schedule)
    generator = torch.Generator().manual_seed(seed)
    entropy = order_entropy(w, generator=generator)
    spread, spread_se = rank_spread(w, generator)
    top = max_order_entropy(meta.length)
    plotted = limits.plot_positions_ok(meta.length)  # the [L, L] matrix is kept only when drawn
    return {"w": w.tolist(), "learned": learned, "names": meta.position_names,
            "mode": most_likely_order(w).tolist(), "rank": expected_rank(w).tolist(),
            "rank_std": spread.tolist(), "rank_std_se": spread_se,
            "precedence": precedence_matrix(w) if plotted else None,
            "entropy": entropy.value, "entropy_se": entropy.stderr, "max_entropy": top,
            "near_uniform": not learned or entropy.value >= (1 - NEAR_UNIFORM) * top,
            **agreement(ckpt.schedule, meta)}


def agreement(schedule, meta) -> dict:
    """``kendall_tau`` and ``group_precedence`` of the schedule's orders with the task's references (None
    where the task has none, or where they are undefined: one position, or a single group)."""
    out = {"kendall_tau": None, "group_precedence": None}
    if meta.length < 2:
        return out
    groups = meta.reference_groups if meta.reference_groups is not None and len(meta.reference_groups) >= 2 else None
    summary = order_summary(schedule, replace(meta, reference_groups=groups) if groups != meta.reference_groups
                            else meta, entropy_samples=0)  # the page shows its own entropy, with an error
    out.update({k: summary[k] for k in out if k in summary})
    return out


def order_text(order: list[int], names: list[str], limit: int = MAX_ORDER_SHOWN) -> str:
    shown = " → ".join(names[i] for i in order[:limit])
    return shown + (f" → … ({len(order) - limit} more)" if len(order) > limit else "")


def plot_figures(ckpt: checkpoint.Checkpoint, stats: dict) -> dict:
    """The page's figures by chart key, only those within ``core/limits.py`` (see :func:`limit_notes`)."""
    meta, names, w, L = ckpt.meta, stats["names"], stats["w"], ckpt.meta.length
    out = {"inspect_entropy": order_figures.entropy_meter(stats["entropy"], stats["max_entropy"])}
    if L <= limits.MAX_PLOT_CURVES:
        out["inspect_exponents"] = order_figures.line_labels_in_margin(schedule_figures.exponent_bars(w, names))
        out["inspect_rank"] = order_figures.rank_spread(stats["rank"], stats["rank_std"], names, meta.reference_order)
    if limits.plot_positions_ok(L):
        out["inspect_precedence"] = schedule_figures.precedence_heatmap(stats["precedence"].numpy(), names)
    if L <= limits.MAX_PLOT_CURVES:
        out["inspect_alpha"] = schedule_figures.alpha_curves(w, names)
    if meta.shape is not None and L <= limits.MAX_PLOT_CURVES:
        out["inspect_grid"] = schedule_figures.grid_rank_image(w, meta.shape)
    return out


def limit_notes(L: int, stats: dict) -> list[str]:
    """What the page leaves out or estimates for long sequences, and why (the bounds of core/limits.py)."""
    notes = []
    if stats.get("rank_std_se"):
        notes.append(f"The spread of each rank is estimated from sampled orders (± {stats['rank_std_se']:.2f} "
                     f"steps at most): exactly it costs O(L³), computed up to {limits.RANK_STD_EXACT_MAX_L} "
                     "positions.")
    if not limits.plot_positions_ok(L):
        notes.append(f"The precedence heatmap (one cell per pair of positions) is drawn for at most "
                     f"{int(limits.MAX_PLOT_CELLS ** 0.5)} positions; this checkpoint has {L:,}.")
    if L > limits.MAX_PLOT_CURVES:
        notes.append(f"Per-position figures (exponents, rank spread, alpha curves) are drawn for at most "
                     f"{limits.MAX_PLOT_CURVES} positions; this checkpoint has {L:,}. The numbers above cover "
                     "every position.")
    return notes
