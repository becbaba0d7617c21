"""Inspect page: open a checkpoint (shipped, uploaded, or from the Hugging Face Hub) and show the order
its schedule learned: exponents, most likely order (when one stands out), expected rank with spread,
precedence, entropy against the uniform maximum, alpha_l(t) curves, and agreement with the task's reference
order and groups.

Uploads are untrusted: :mod:`app.uploads` reads them (bounded, no unpickling) and a bad file shows the
loader's message in place of the previous checkpoint's figures. The Hub box takes repo ids only
(``core.checkpoint.load_from_hub``), never a path. Every statistic is bounded by ``core/limits.py``: the rank
spread is exact up to 512 positions and sampled (with its error) above; figures with one cell per pair of
positions are drawn up to 256 positions, and the page says so when it leaves one out.
Helpers here are importable (``from app import page_inspect``) without drawing the page.
"""

from __future__ import annotations

import concurrent.futures

import streamlit as st
import torch

from app import charts, common, figures, uploads
from app import figures_orders as fo
from core import checkpoint, limits
from core.orders import (
    expected_kendall_tau,
    expected_rank,
    group_precedence,
    max_order_entropy,
    most_likely_order,
    order_entropy,
    precedence_matrix,
    rank_spread,
)
from core.schedules import LearnedPolynomialSchedule

SOURCES = ("Shipped", "Upload", "Hugging Face Hub")
HUB_TIMEOUT_S = 30.0
MAX_ORDER_SHOWN = 32
NEAR_UNIFORM = 0.01  # order entropy within 1% of log L!: every order about equally likely, no telling mode
KEPT = ("inspect_source", "inspect_shipped", "inspect_repo")
SAVED = "inspect_saved_settings"
KEPT_PREFIXES = ()
TAU_LABEL = "expected Kendall tau to the reference order"
STATE = "inspect_current"  # {"label": str, "ckpt": Checkpoint, "stats": dict}


# --- loading -------------------------------------------------------------------------------------------


def load_upload(files) -> tuple[str, checkpoint.Checkpoint]:
    """``(key, checkpoint)`` from uploaded files (ValueError with the loader's message if bad)."""
    return uploads.load(files)


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


# --- order statistics ----------------------------------------------------------------------------------


def scores_of(schedule, L: int) -> tuple[torch.Tensor, bool]:
    """Plackett–Luce scores of a schedule (``w`` for polynomial ones) and whether they are learned
    per position; shared schedules (linear, cosine) give equal scores = uniform orders."""
    if hasattr(schedule, "exponents"):
        w = schedule.exponents.detach().double().cpu()
        return w, not torch.allclose(w, w[0].expand_as(w))
    return torch.ones(L, dtype=torch.float64), False


def order_stats(ckpt: checkpoint.Checkpoint, seed: int = 0) -> dict:
    """Everything the page shows about the order distribution, computed once per checkpoint.

    Agreement with the reference is the *expected* Kendall tau over the whole order distribution (0 for a
    shared schedule), not the tau of the most likely order: with equal or nearly equal ``w`` that mode is
    decided by ties and noise. ``near_uniform`` says the mode is not worth showing."""
    meta = ckpt.meta
    w, learned = scores_of(ckpt.schedule, meta.length)
    P = precedence_matrix(w)  # [L, L]; kept (as a tensor) only when the heatmap is drawn
    generator = torch.Generator().manual_seed(seed)
    entropy = order_entropy(w, generator=generator)
    spread, spread_se = rank_spread(w, generator)
    top = max_order_entropy(meta.length)
    stats = {"w": w.tolist(), "learned": learned, "names": meta.position_names,
             "mode": most_likely_order(w).tolist(), "rank": expected_rank(w).tolist(),
             "rank_std": spread.tolist(), "rank_std_se": spread_se,
             "precedence": P if limits.plot_positions_ok(meta.length) else None,
             "entropy": entropy.value, "entropy_se": entropy.stderr, "max_entropy": top,
             "near_uniform": not learned or entropy.value >= (1 - NEAR_UNIFORM) * top,
             "kendall_tau": None, "group_precedence": None}
    if meta.reference_order is not None and meta.length >= 2:
        stats["kendall_tau"] = expected_kendall_tau(P, meta.reference_order)
    if meta.reference_groups is not None and len(meta.reference_groups) >= 2:
        stats["group_precedence"] = group_precedence(P, meta.reference_groups)
    return stats


def set_current(label: str, ckpt: checkpoint.Checkpoint) -> None:
    st.session_state[STATE] = {"label": label, "ckpt": ckpt, "stats": order_stats(ckpt)}


def order_text(order: list[int], names: list[str], limit: int = MAX_ORDER_SHOWN) -> str:
    shown = " → ".join(names[i] for i in order[:limit])
    return shown + (f" → … ({len(order) - limit} more)" if len(order) > limit else "")


# --- widgets -------------------------------------------------------------------------------------------


def source_controls() -> None:
    """Source picker; a successful load replaces the current checkpoint, a failure shows why."""
    source = st.radio("Checkpoint source", SOURCES, horizontal=True, key="inspect_source",
                      help="A checkpoint shipped in pretrained/, two files you upload, or a public Hugging "
                           "Face Hub repository (needs a network).")
    if source == "Shipped":
        shipped_controls()
    elif source == "Upload":
        upload_controls()
    else:
        hub_controls()


def shipped_controls() -> None:
    names = common.list_pretrained()
    if not names:
        st.info("No shipped checkpoints found in pretrained/. Upload one, or train one on the Train page.")
        return
    name = st.selectbox("Shipped checkpoint", names, key="inspect_shipped",
                        help="Small checkpoints made by the project's own training command.")
    label = f"shipped: {name}"
    if st.session_state.get(STATE, {}).get("label") != label:
        try:
            set_current(label, common.load_pretrained(name))
        except ValueError as e:
            st.error(f"Could not load {name}: {e}")


def upload_controls() -> None:
    """A new upload replaces the checkpoint on display; a bad one clears it and says why."""
    with st.container(key="inspect_upload"):
        result = uploads.uploader(f"Upload {checkpoint.CONFIG_NAME} and {checkpoint.WEIGHTS_NAME} (metrics.json "
                                  "optional), or the Train page's .zip", "inspect_upload")
    if result is None:
        return
    if "error" in result:
        if st.session_state.get(STATE, {}).get("label", "").startswith("upload:"):
            st.session_state.pop(STATE, None)  # no stale figures under the error
        st.error(f"This upload cannot be used: {result['error']}")
    else:
        if st.session_state.get(STATE, {}).get("label") != result["key"]:
            set_current(result["key"], result["ckpt"])
        if (result["ckpt"].metrics or {}).get("history"):
            st.caption("This checkpoint carries its training history (metrics.json): replay it on the **Train** "
                       "page, Mode *Replay a shipped run*, first entry.")


def hub_controls() -> None:
    with st.form("inspect_hub_form", border=False):
        repo_id = st.text_input("Hugging Face Hub repo id", key="inspect_repo", placeholder="owner/name",
                                help="A public repository holding config.json and model.safetensors. Needs a "
                                     "network connection; offline, this says so.")
        go = st.form_submit_button("Load from the Hub", help="Download (or reuse the local cache) and open it.")
    if go:
        with st.spinner("Contacting the Hugging Face Hub…"):
            try:
                set_current(f"hub: {repo_id.strip()}", load_hub(repo_id))
            except ValueError as e:
                st.session_state["inspect_hub_error"] = str(e)
            else:
                st.session_state.pop("inspect_hub_error", None)
    if st.session_state.get("inspect_hub_error"):
        st.error(f"Could not load from the Hub: {st.session_state['inspect_hub_error']}")


# --- display -------------------------------------------------------------------------------------------


def show_summary(label: str, ckpt: checkpoint.Checkpoint, stats: dict) -> None:
    meta, train = ckpt.meta, ckpt.config or {}
    schedule = train.get("schedule") or type(ckpt.schedule).__name__
    st.subheader(f"{meta.name} · {meta.length} positions · schedule {schedule}")
    st.caption(f"{label} · {sum(p.numel() for p in ckpt.model.parameters()):,} parameters"
               + (f" · trained {ckpt.metrics.get('steps')} steps" if ckpt.metrics else ""))
    cols = st.columns([2, 2, 3.3, 2])  # room for the long tau label
    cols[0].metric("order entropy", f"{stats['entropy']:.2f} nats",
                   help="Entropy of the decoding-order distribution; the uniform maximum is log L!.")
    cols[1].metric("uniform maximum log L!", f"{stats['max_entropy']:.2f} nats",
                   help="What one shared schedule gives: every order equally likely.")
    tau, gp = stats["kendall_tau"], stats["group_precedence"]
    cols[2].metric(TAU_LABEL, "n/a" if tau is None else f"{round(tau, 2) + 0.0:+.2f}",  # never "-0.00"
                   help="Kendall rank correlation with the task's reference order, averaged over the "
                        "decoding orders this schedule draws (+1 always the reference order, 0 unrelated, "
                        "-1 always reversed; a shared schedule gives 0). n/a when the task has none.")
    cols[3].metric("group precedence", "n/a" if gp is None else f"{gp:.2f}",
                   help="Mean P(i before j) over pairs with i in an earlier reference group than j "
                        "(0.5 = random, 1 = groups always in the reference order).")
    if not stats["learned"]:
        why = ("Its exponents are all equal (they have not moved from their start yet)"
               if isinstance(ckpt.schedule, LearnedPolynomialSchedule) else
               "This schedule is shared by every position")
        st.info(f"{why}, so every decoding order is equally likely: there is no most likely order.")
    elif stats["near_uniform"]:
        st.info("**Most likely order:** not meaningful here. The order entropy is within "
                f"{NEAR_UNIFORM:.0%} of the uniform maximum log L!, so all orders are about equally likely "
                "(the exponents are nearly equal).")
    else:
        st.markdown(f"**Most likely order:** {order_text(stats['mode'], stats['names'])}")


def plot_figures(ckpt: checkpoint.Checkpoint, stats: dict) -> dict:
    """The page's figures by chart key, only those within ``core/limits.py`` (see :func:`limit_notes`)."""
    meta, names, w, L = ckpt.meta, stats["names"], stats["w"], ckpt.meta.length
    out = {"inspect_entropy": fo.entropy_meter(stats["entropy"], stats["max_entropy"])}
    if L <= limits.MAX_PLOT_CURVES:
        out["inspect_exponents"] = fo.line_labels_in_margin(figures.exponent_bars(w, names))
        out["inspect_rank"] = fo.rank_spread(stats["rank"], stats["rank_std"], names, meta.reference_order)
    if limits.plot_positions_ok(L):
        out["inspect_precedence"] = figures.precedence_heatmap(stats["precedence"].numpy(), names)
    if L <= limits.MAX_PLOT_CURVES:
        out["inspect_alpha"] = figures.alpha_curves(w, names)
    if meta.shape is not None and L <= limits.MAX_PLOT_CURVES:
        out["inspect_grid"] = figures.grid_rank_image(w, meta.shape)
    return out


def show_plots(ckpt: checkpoint.Checkpoint, stats: dict) -> None:
    """The entropy meter, then two rows of two plots: what the schedule is, and what order it gives."""
    figs = plot_figures(ckpt, stats)
    charts.plot(st, figs.pop("inspect_entropy"), width="stretch", key="inspect_entropy")
    for note in limit_notes(ckpt.meta.length, stats):
        st.caption(note)
    grid = figs.pop("inspect_grid", None)
    for row in (("inspect_exponents", "inspect_rank"), ("inspect_precedence", "inspect_alpha")):
        columns = st.columns(2)
        for column, key in zip(columns, row):
            if key in figs:
                charts.plot(column, figs[key], width="stretch", key=key)
    if grid is not None:
        charts.plot(st, grid, width="content", key="inspect_grid")


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


def draw() -> None:
    common.setup_torch()
    common.restore_settings(SAVED)
    st.title("Inspect a checkpoint")
    st.markdown("Which order did this model learn? Open a checkpoint to see the decoding-order distribution "
                "its per-position schedules induce.")
    source_controls()
    current = st.session_state.get(STATE)
    if current is None:
        st.info("No checkpoint open yet.")
        return
    st.divider()
    show_summary(current["label"], current["ckpt"], current["stats"])
    show_plots(current["ckpt"], current["stats"])


def main() -> None:
    common.run_page(draw, SAVED, KEPT, KEPT_PREFIXES)


if __name__ == "__main__":
    main()
