"""The session's current training run, shown in the sidebar of every page.

A run trains in its worker thread whichever page is open (``app/training_runner.py``); this badge says so:
the run, its state and step, the measured pace and the time left, redrawn every ``TICK_S`` while it trains.
Reading the run also marks it as looked at, so a run whose student is on the Lesson is not abandoned.
"""

from __future__ import annotations

import streamlit as st

from app import state

TICK_S = 2.0


def status_line(run, since_start: bool = False) -> str:
    """``#1 lookup learned … — running · step 120 / 600 · 9.8 steps/s · about 49 s left``, the measured
    pace of the worker thread (the same on every page)."""
    p = run.progress()
    shown = "waiting for a training slot" if run.waiting else run.state
    parts = [f"**{run.label}** — {shown}", f"step {p.step:,} / {p.total:,}"]
    if since_start:
        parts.append(f"{duration(p.wall)} since Start (pauses not counted)")
    rate = run.steps_per_second()
    if run.active and rate:
        parts.append(f"{rate:.1f} steps/s")
    if run.active and p.remaining is not None:
        parts.append(f"about {duration(p.remaining)} left")
    return " · ".join(parts)


def duration(seconds: float) -> str:
    """``42 s`` or ``3 min 05 s``."""
    seconds = round(seconds)
    return f"{seconds} s" if seconds < 60 else f"{seconds // 60} min {seconds % 60:02d} s"


def badge() -> None:
    """Draw the badge in the sidebar (nothing before the first run)."""
    run = state.current_run()
    if run is None:
        return
    with st.sidebar:
        st.fragment(_badge, run_every=TICK_S if run.active else None)(run.active)


def _badge(timed: bool) -> None:
    run = state.current_run()
    if run is None:
        return
    run.touch()
    with st.container(key="run_badge"):
        st.caption("Your run (keeps training on every page)")
        st.progress(run.progress().fraction, text=status_line(run))
    if timed and not run.active:
        st.rerun()  # finished: redraw the page once and stop the timer
