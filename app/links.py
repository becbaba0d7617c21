"""Links that restore what a page shows: a page's url path and parameters as a full link, shown with a
copy button (``st.code`` carries it).

Each page writes its visible state to ``st.query_params`` and reads it back once per session
(``app/state.py``). Presenter mode is in a link only when it is asked for (``presenter=1``).
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
