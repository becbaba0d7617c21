"""Back / Next buttons for a sequence of steps kept in one session-state key (the Lesson's step radio)."""

from __future__ import annotations

import streamlit as st


def _go(key: str, steps: tuple[str, ...], delta: int) -> None:
    index = steps.index(st.session_state.get(key, steps[0])) if st.session_state.get(key) in steps else 0
    st.session_state[key] = steps[min(max(index + delta, 0), len(steps) - 1)]


def buttons(key: str, steps: tuple[str, ...], where: str) -> None:
    """``← Back`` and ``Next →`` (disabled at the ends); ``where`` makes the widget keys unique."""
    current = st.session_state.get(key, steps[0])
    index = steps.index(current) if current in steps else 0
    left, _, right = st.columns([1, 4, 1])
    left.button("← Back", key=f"{key}_back_{where}", on_click=_go, args=(key, steps, -1), disabled=index == 0,
                width="stretch", help="The previous step of the lesson.")
    right.button("Next →", key=f"{key}_next_{where}", on_click=_go, args=(key, steps, 1), type="primary",
                 disabled=index == len(steps) - 1, width="stretch", help="The next step of the lesson.")
