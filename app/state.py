"""Session state of the lab, in one place: how widget values survive visits to other pages, how a link's
query parameters preset them, and typed accessors for what one page hands another.

Everything that belongs to one user lives in ``st.session_state``; module globals hold only constants.

- **Widget values.** Streamlit drops the state of widgets that were not drawn in a run, so a page's
  settings would be lost on a visit to another page. :func:`keep` draws a page between
  :func:`restore` (put back the plain copy) and :func:`save` (copy the values aside); :func:`defaults` gives
  the kept widgets their first values.
- **URL presets.** :func:`restore_once` reads a link's parameters into widget state once per session and
  page; :func:`write_url` makes the URL carry what the page shows.
- **Cross-page data.** The session's training runs (:func:`runs`, :func:`add_run`) and a preset for the
  Train page (:class:`TrainPreset`) are read and written only through the functions below.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

MAX_SEED = 2**31 - 1
RUNS = "train_runs"  # list[app.training_runner.TrainingRun], oldest first
PRESET = "train_preset"  # a TrainPreset (or its dict) for the next draw of the Train page
MAX_RUNS = 8  # runs kept per session (oldest dropped first)


# --- widget values across pages -------------------------------------------------------------------------


def defaults(values: dict) -> None:
    """Give each widget key its first value (keys already set are left alone)."""
    for key, value in values.items():
        st.session_state.setdefault(key, value)


def get(key: str, default=None):
    """``st.session_state[key]``, set to ``default`` first if missing."""
    return st.session_state.setdefault(key, default)


def keep(page: str, draw, kept: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> None:
    """Draw a page with its settings put back first and kept aside afterwards, even when drawing stopped
    early (an error, ``st.stop``). ``kept`` names widget keys; ``prefixes`` keeps every key starting so."""
    restore(page)
    try:
        draw()
    finally:
        save(page, kept, prefixes)


def restore(page: str) -> None:
    """Put back the values :func:`save` kept for ``page`` (those not set already)."""
    for key, value in st.session_state.get(_saved(page), {}).items():
        if key not in st.session_state:
            st.session_state[key] = value


def save(page: str, kept: tuple[str, ...], prefixes: tuple[str, ...] = ()) -> None:
    """Copy the widget values named in ``kept`` (or starting with one of ``prefixes``) aside."""
    st.session_state[_saved(page)] = {key: st.session_state[key] for key in list(st.session_state.keys())
                                      if isinstance(key, str) and (key in kept or key.startswith(prefixes))}


def _saved(page: str) -> str:
    return f"{page}_saved_settings"


# --- URL presets ----------------------------------------------------------------------------------------


def restore_once(page: str, fields: dict) -> dict:
    """Put a link's values into the page's widget state, once per session and page; returns the values
    put (empty after the first call).

    ``fields`` maps a query parameter to ``(session key, parse)``; ``parse(raw)`` returns the widget value
    or None for a value the page does not offer (then the parameter is ignored)."""
    flag = f"link_read_{page}"
    if st.session_state.get(flag):
        return {}
    st.session_state[flag] = True
    found = {}
    for param, (key, parse) in fields.items():
        raw = st.query_params.get(param)
        value = parse(raw) if raw is not None else None
        if value is not None:
            st.session_state[key] = found[key] = value
    return found


def write_url(params: dict) -> dict:
    """Make the URL carry ``params``; a None value removes its parameter (a choice that cannot travel in a
    link, e.g. an upload, or one back at its default), so no stale value is shared. Returns what is written."""
    wanted = {k: str(v) for k, v in params.items() if v is not None}
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
    for key in params.keys() - wanted.keys():
        if key in st.query_params:
            del st.query_params[key]
    return wanted


def int_in(lo: int, hi: int):
    """A parser for an integer query parameter in ``[lo, hi]``."""
    def parse(raw: str):
        try:
            value = int(raw)
        except ValueError:
            return None
        return value if lo <= value <= hi else None
    return parse


def one_of(choices):
    """A parser for a query parameter that must be one of ``choices``."""
    choices = list(choices)
    return lambda raw: raw if raw in choices else None


def flag(raw: str):
    """A parser for an on/off query parameter: True for ``1`` or ``true``, else ignored."""
    return True if raw in ("1", "true") else None


# --- cross-page data: the session's training runs -------------------------------------------------------


def runs() -> list:
    """The session's training runs, oldest first (the Train page's; the Lesson adds its live run)."""
    return st.session_state.setdefault(RUNS, [])


def current_run():
    """The session's latest run, or None."""
    found = st.session_state.get(RUNS) or []
    return found[-1] if found else None


def add_run(run) -> None:
    """Make ``run`` the session's current run: pause the one training now (one run per student at a
    time), keep at most ``MAX_RUNS`` (older ones stop, so their workers end), then start it."""
    kept = runs()
    for old in kept:
        if old.active:
            old.pause()
    kept.append(run)
    for old in kept[:-MAX_RUNS]:
        old.stop()
    del kept[:-MAX_RUNS]
    run.start()


# --- cross-page data: a preset for the Train page -------------------------------------------------------


@dataclass(frozen=True)
class TrainPreset:
    """Settings another page hands the Train page for its next draw (None = leave the widget alone)."""

    task: str | None = None
    steps: int | None = None
    seed: int | None = None
    schedule: str | None = None
    autostart: bool = False


def set_train_preset(preset: TrainPreset) -> None:
    st.session_state[PRESET] = preset


def take_train_preset() -> TrainPreset | None:
    """The pending preset, removed from the session (a dict with the same fields is accepted)."""
    preset = st.session_state.pop(PRESET, None)
    if isinstance(preset, dict):
        fields = TrainPreset.__dataclass_fields__
        preset = TrainPreset(**{k: v for k, v in preset.items() if k in fields})
    return preset if isinstance(preset, TrainPreset) else None
