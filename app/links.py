"""Links that restore what a page shows: built from the page's state, shown with a copy button.

Each page writes its visible state to ``st.query_params`` and reads it back once per session; this module
only turns a page's url path and parameters into a full link and shows it (``st.code`` carries the copy
button). Presenter mode is in a link only when it is asked for (``presenter=1``).
"""

from __future__ import annotations

from urllib.parse import urlencode, urlsplit

import streamlit as st


def origin() -> str:
    """``http://host:port`` of the page as the browser sees it ('' when unknown, e.g. in tests)."""
    try:
        parts = urlsplit(st.context.url or "")
    except Exception:  # no browser context (AppTest, bare mode)
        return ""
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme and parts.netloc else ""


def link(url_path: str, params: dict) -> str:
    query = urlencode({k: v for k, v in params.items() if v is not None and v != ""})
    return f"{origin()}/{url_path}" + (f"?{query}" if query else "")


def link_box(url_path: str, params: dict, key: str, label: str = "Link to exactly this view") -> str:
    """Show the link in a code box (its copy icon copies it); returns the link."""
    url = link(url_path, params)
    with st.container(key=key):
        st.caption(f"{label} — copy it with the icon at the right of the box:")
        st.code(url, language=None, wrap_lines=True)
    return url


def restore_once(page: str, fields: dict) -> None:
    """Put a link's values into the page's widget state, once per session and page.

    ``fields`` maps a query parameter to ``(session key, parse)``; ``parse(raw)`` returns the widget value
    or None for a value the page does not offer (then the parameter is ignored)."""
    flag = f"link_read_{page}"
    if st.session_state.get(flag):
        return
    st.session_state[flag] = True
    for param, (key, parse) in fields.items():
        raw = st.query_params.get(param)
        value = parse(raw) if raw is not None else None
        if value is not None:
            st.session_state[key] = value


def write(params: dict) -> dict:
    """Make the URL carry ``params`` (None values are left out); returns the parameters written."""
    wanted = {k: str(v) for k, v in params.items() if v is not None}
    for key, value in wanted.items():
        if st.query_params.get(key) != value:
            st.query_params[key] = value
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
