"""Inspect page: open a checkpoint (shipped, uploaded, or from the Hugging Face Hub) and show the order
its schedule learned: exponents, most likely order (when one stands out), expected rank with spread,
precedence, entropy against the uniform maximum, alpha_l(t) curves, and agreement with the task's reference
order and groups.

Widgets only: ``app/inspection.py`` computes the statistics and figures, ``app/uploads.py`` reads uploads
(bounded, no unpickling); a bad file shows the loader's message in place of the previous checkpoint's
figures. The Hub box takes repo ids only (``core.checkpoint.load_from_hub``), never a path.
"""

from __future__ import annotations

import streamlit as st

from app import charts, common, inspect_link, inspection, state, uploads
from core import checkpoint
from core.schedules import LearnedPolynomialSchedule

SOURCES = inspect_link.SOURCES  # the link reads and writes the same names
KEPT = ("inspect_source", "inspect_shipped", "inspect_repo")
TAU_LABEL = "expected Kendall tau to the reference order"
STATE = "inspect_current"  # {"label": str, "ckpt": Checkpoint, "stats": dict}


def set_current(label: str, ckpt: checkpoint.Checkpoint) -> None:
    st.session_state[STATE] = {"label": label, "ckpt": ckpt, "stats": inspection.order_stats(ckpt)}


def source_controls() -> None:
    """Source picker; a successful load replaces the current checkpoint, a failure shows why."""
    source = st.radio("Checkpoint source", SOURCES, horizontal=True, key="inspect_source",
                      help="A checkpoint shipped in pretrained/, two files you upload, or a public Hugging "
                           "Face Hub repository (needs a network). The page's link (at the bottom) reopens a "
                           "shipped checkpoint (or fills in the Hub repo id); an upload cannot be restored by a "
                           "link.")
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
    result = uploads.upload_box(uploads.INSPECT, f"Upload {checkpoint.CONFIG_NAME} and {checkpoint.WEIGHTS_NAME} "
                                "(metrics.json optional), or the Train page's .zip")
    if result is None:
        return
    if "error" in result:
        if st.session_state.get(STATE, {}).get("label", "").startswith("upload:"):
            st.session_state.pop(STATE, None)  # no stale figures under the error
        uploads.show_error(result)
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
                set_current(f"hub: {repo_id.strip()}", inspection.load_hub(repo_id))
            except ValueError as e:
                st.session_state["inspect_hub_error"] = str(e)
            else:
                st.session_state.pop("inspect_hub_error", None)
    if st.session_state.get("inspect_hub_error"):
        st.error(f"Could not load from the Hub: {st.session_state['inspect_hub_error']}")


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
                f"{inspection.NEAR_UNIFORM:.0%} of the uniform maximum log L!, so all orders are about equally likely "
                "(the exponents are nearly equal).")
    else:
        st.markdown(f"**Most likely order:** {inspection.order_text(stats['mode'], stats['names'])}")


def show_plots(ckpt: checkpoint.Checkpoint, stats: dict) -> None:
    """The entropy meter, then two rows of two plots: what the schedule is, and what order it gives."""
    figs = inspection.plot_figures(ckpt, stats)
    charts.plot(st, figs.pop("inspect_entropy"), width="stretch", key="inspect_entropy")
    for note in inspection.limit_notes(ckpt.meta.length, stats):
        st.caption(note)
    grid = figs.pop("inspect_grid", None)
    for row in (("inspect_exponents", "inspect_rank"), ("inspect_precedence", "inspect_alpha")):
        columns = st.columns(2)
        for column, key in zip(columns, row):
            if key in figs:
                charts.plot(column, figs[key], width="stretch", key=key)
    if grid is not None:
        charts.plot(st, grid, width="content", key="inspect_grid")


def draw() -> None:
    common.setup_torch()
    inspect_link.restore()
    st.title("Inspect a checkpoint")
    st.markdown("Which order did this model learn? Open a checkpoint to see the decoding-order distribution "
                "its per-position schedules induce.")
    source_controls()
    current = st.session_state.get(STATE)
    inspect_link.write(current and current["label"])
    if current is None:
        st.info("No checkpoint open yet.")
        return
    st.divider()
    show_summary(current["label"], current["ckpt"], current["stats"])
    show_plots(current["ckpt"], current["stats"])


def main() -> None:
    state.keep("inspect", draw, KEPT)
    inspect_link.box()


if __name__ == "__main__":
    main()
