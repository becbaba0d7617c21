"""The Lesson's link: its step and hand-set exponents in the URL (``?step=3&w=3,0.5,7,0.5``), beside the
task, seed and policy that ``page_lesson.read_url`` handles, so a shared link reopens exactly what was shown.

Read once per session; values outside the page's choices are ignored. Presenter mode is never written here
(``app/presenter.py``: only a link that asks for it turns it on).
"""

from __future__ import annotations

import streamlit as st

from app import links

MAX_POSITIONS = 16


def read(steps: tuple[str, ...], w_choices: tuple[float, ...], policy_key: str = "lesson_policy",
         task_key: str = "lesson_task") -> None:
    if st.session_state.get("lesson_link_read"):
        return
    st.session_state["lesson_link_read"] = True
    raw_step = st.query_params.get("step")
    if raw_step is not None and raw_step.isdigit() and int(raw_step) < len(steps):
        st.session_state["lesson_step"] = steps[int(raw_step)]
    w = parse_w(st.query_params.get("w"), w_choices)
    if w:
        for l, value in enumerate(w):
            st.session_state[f"lesson_w_{l}"] = value
        # the sliders keep these values instead of the policy's preset
        task = st.session_state.get(task_key, "pairs")
        st.session_state["lesson_preset_for"] = (task, st.session_state.get(policy_key, "learned"))


def parse_w(raw: str | None, choices: tuple[float, ...]) -> list[float] | None:
    if not raw:
        return None
    try:
        values = [float(v) for v in raw.split(",")[:MAX_POSITIONS]]
    except ValueError:
        return None
    return values if values and all(v in choices for v in values) else None


def write(steps: tuple[str, ...], step: str, w: list[float]) -> None:
    wanted = {"step": str(steps.index(step)) if step in steps else "0", "w": ",".join(f"{v:g}" for v in w)}
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value


def box() -> None:
    """The link to this view for students, and the same with presenter mode for the projector."""
    params = {k: st.query_params[k] for k in st.query_params if k != "presenter"}
    with st.expander("Share this view (a link that reopens this step, task, seed and exponents)"):
        links.link_box("lesson", params, key="lesson_link_students", label="Link for students")
        links.link_box("lesson", {**params, "presenter": "1"}, key="lesson_link_projector",
                       label="The same in presenter mode (for the projector)")
