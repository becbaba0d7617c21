"""The Inspect page's link: what the page shows in the URL, read once per session, so a shared link reopens
it: the source chosen and, for a shipped checkpoint, which one (``?checkpoint=majority-learned``); for the
Hub, the repo id typed (``?source=Hugging+Face+Hub&repo=owner/name``, loaded only when asked: it needs a
network).

An uploaded checkpoint cannot travel in a link (its files stay in one browser session): a link made while
one is shown reopens the upload box, empty, and the page's help says so.
"""

from __future__ import annotations

import streamlit as st

from app import common, links, state
from core import checkpoint

SOURCES = ("Shipped", "Upload", "Hugging Face Hub")  # the page's source radio, in its order
SOURCE_KEY, SHIPPED_KEY, REPO_KEY = "inspect_source", "inspect_shipped", "inspect_repo"
LABEL = "shipped: "  # how the page labels a shipped checkpoint (app/content/inspect.py)
HELP = ("A link reopens a **shipped** checkpoint (or the Hub repo id typed); an uploaded checkpoint stays in "
        "this browser session, so a link made while one is shown opens the upload box, empty.")


def _shipped(raw: str):
    return raw if raw in common.list_pretrained() else None


def _repo(raw: str):
    try:
        return checkpoint.check_repo_id(raw)
    except ValueError:
        return None


def restore() -> None:
    """Preset the source, the shipped checkpoint and the Hub repo id from the link (once per session);
    values the page does not offer are ignored. A checkpoint without a source means the shipped one."""
    found = state.restore_once("inspect", {"source": (SOURCE_KEY, state.one_of(SOURCES)),
                                           "checkpoint": (SHIPPED_KEY, _shipped), "repo": (REPO_KEY, _repo)})
    if SHIPPED_KEY in found and SOURCE_KEY not in found:
        st.session_state[SOURCE_KEY] = SOURCES[0]


def write(label: str | None) -> None:
    """The URL carries the source (when not the default), the shipped checkpoint on display (``label`` as
    the page keeps it, ``shipped: <name>``) and the Hub repo id typed; nothing of an upload."""
    source = st.session_state.get(SOURCE_KEY, SOURCES[0])
    shown = label[len(LABEL):] if source == SOURCES[0] and label and label.startswith(LABEL) else None
    repo = _repo(st.session_state.get(REPO_KEY) or "") if source == SOURCES[2] else None
    state.write_url({"source": None if source == SOURCES[0] else source, "checkpoint": shown, "repo": repo})


def box() -> None:
    params = {k: st.query_params[k] for k in st.query_params}
    with st.expander("Link to exactly this view (source and shipped checkpoint)"):
        if "checkpoint" not in params:
            st.caption(HELP)
        links.link_box("inspect", params, key="inspect_link_box")
