"""The Compare page's link: model (a shipped checkpoint), policies, seed and decoding step in the URL, read
once per session, so a shared link reopens the same replay at the same step."""

from __future__ import annotations

import streamlit as st

from app import common, links, state
from core.decoding import POLICIES

SHIPPED = "shipped: "
KNOWN_POLICIES = tuple(p for p in POLICIES if p != "ancestral")  # the CLI's time-grid sampler is not on Compare


def _model(raw: str):
    return f"{SHIPPED}{raw}" if raw in common.list_pretrained() else None


def _policies(raw: str):
    chosen = [p for p in raw.split(",") if p in KNOWN_POLICIES][:4]
    return chosen if len(chosen) >= 2 else None


def restore() -> None:
    state.restore_once("compare", {"model": ("compare_model", _model), "policies": ("compare_policies", _policies),
                                   "seed": ("compare_seed", state.int_in(0, common.MAX_SEED)),
                                   "step": ("compare_step", state.int_in(0, 100_000))})


def write(policies: list[str], seed: int) -> None:
    """The model (only a shipped one can travel in a link), policies and seed; then the link box."""
    label = st.session_state.get("compare_model") or ""
    model = label[len(SHIPPED):] if label.startswith(SHIPPED) else None
    state.write_url({"model": model, "policies": ",".join(policies), "seed": seed})


def write_step(step: int) -> None:
    state.write_url({"step": step})


def box() -> None:
    params = {k: st.query_params[k] for k in st.query_params}
    with st.expander("Link to exactly this view (model, policies, seed, step)"):
        links.link_box("compare", params, key="compare_link_box")
