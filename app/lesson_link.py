"""The Lesson's link: task, seed, policy, presenter mode, step and hand-set exponents in the URL
(``?task=pairs&seed=0&policy=learned&step=3&w=3,0.5,7,0.5``), so a shared link reopens exactly what was
shown.

Read once per session (``app/state.py``); values outside the page's choices are ignored. Presenter mode is
written only while it is on (``app/presenter.py``: only a link that asks for it turns it on).
"""

from __future__ import annotations

import streamlit as st

from app import links, state
from core.lesson import POLICIES, TASKS

MAX_POSITIONS = 16
W_KEY = "lesson_link_w"  # the link's exponents until they are put into the sliders


def read(steps: tuple[str, ...], w_choices: tuple[float, ...]) -> None:
    """Preset the page's widgets from the link, once per session."""
    found = state.restore_once("lesson", {
        "task": ("lesson_task", state.one_of(TASKS)), "policy": ("lesson_policy", state.one_of(POLICIES)),
        "seed": ("lesson_seed", state.int_in(0, state.MAX_SEED)), "presenter": ("lesson_presenter", state.flag),
        "step": ("lesson_step", lambda raw: steps[int(raw)] if raw.isdigit() and int(raw) < len(steps) else None),
        "w": (W_KEY, lambda raw: parse_w(raw, w_choices))})
    w = st.session_state.pop(W_KEY, None)
    if W_KEY in found and w:
        for l, value in enumerate(w):
            st.session_state[f"lesson_w_{l}"] = value
        # the sliders keep these values instead of the policy's preset
        task = st.session_state.get("lesson_task", "pairs")
        st.session_state["lesson_preset_for"] = (task, st.session_state.get("lesson_policy", "learned"))


def parse_w(raw: str | None, choices: tuple[float, ...]) -> list[float] | None:
    if not raw:
        return None
    try:
        values = [float(v) for v in raw.split(",")[:MAX_POSITIONS]]
    except ValueError:
        return None
    return values if values and all(v in choices for v in values) else None


def write_settings(task: str, seed: int, policy: str, presenter: bool) -> None:
    state.write_url({"task": task, "seed": seed, "policy": policy, "presenter": "1" if presenter else None})


def write(steps: tuple[str, ...], step: str, w: list[float]) -> None:
    state.write_url({"step": str(steps.index(step)) if step in steps else "0", "w": ",".join(f"{v:g}" for v in w)})


def box() -> None:
    """The link to this view for students, and the same with presenter mode for the projector."""
    params = {k: st.query_params[k] for k in st.query_params if k != "presenter"}
    with st.expander("Share this view (a link that reopens this step, task, seed and exponents)"):
        links.link_box("lesson", params, key="lesson_link_students", label="Link for students")
        links.link_box("lesson", {**params, "presenter": "1"}, key="lesson_link_projector",
                       label="The same in presenter mode (for the projector)")
