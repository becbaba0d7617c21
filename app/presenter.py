"""Presenter mode: large type everywhere for a projector, controls tucked away.

Only a link asks for it (``?presenter=1``, read once per session) or the Lesson's toggle; a shared link
without it never turns it on. :func:`apply` puts the page CSS on every page (text, metric values and
labels, widget labels, captions at 18 px or more at a 1400 px wide window; the settings expanders, the
Lesson's step picker and the seed widget's Same / New buttons hidden, Back / Next stay); :func:`large` does
the same for a plotly figure (its fonts are not reached by CSS; ``app/charts.py`` applies it when presenter
mode is on) and wraps a long title so it is never clipped.
"""

from __future__ import annotations

import textwrap

import plotly.graph_objects as go
import streamlit as st

from app import state

KEY = "lesson_presenter"
FONT_PX, TITLE_PX, TITLE_WRAP = 18, 22, 42
CSS = """
<style>
html, body, [data-testid="stMarkdownContainer"] p, [data-testid="stMarkdownContainer"] li { font-size: 1.45rem; }
h1 { font-size: 2.4rem !important; } h2 { font-size: 2.4rem !important; } h3 { font-size: 2rem !important; }
[data-testid="stMetricValue"], [data-testid="stMetricValue"] * { font-size: 2.6rem !important; }
[data-testid="stMetricLabel"] *, [data-testid="stMetricDelta"] * { font-size: 1.3rem !important; }
[data-testid="stTable"] td, [data-testid="stTable"] th { font-size: 1.25rem !important; }
[data-testid="stWidgetLabel"] p, [data-testid="stCaptionContainer"], [data-testid="stCaptionContainer"] p,
.stRadio label p, .stProgress p, [data-testid="stExpander"] summary p { font-size: 1.25rem !important; }
[data-testid="stMarkdownContainer"] .katex { font-size: 1.6rem; }
[data-testid="stMainBlockContainer"] { padding-top: 1.5rem; }
[data-testid="stSidebar"], [data-testid="stSidebarCollapsedControl"], [data-testid="stHeader"],
[data-testid="stToolbar"], [data-testid="stExpander"], .st-key-lesson_step { display: none; }
[class*="st-key-"][class*="_seed_same"], [class*="st-key-"][class*="_seed_new"] { display: none; }
[data-testid="stSliderThumbValue"] { transform: translateY(-0.55em); }  /* large type would sit on the thumb */
</style>
"""


def read_link() -> None:
    """Turn presenter mode on once per session when the link asks for it."""
    state.restore_once("presenter", {"presenter": (KEY, state.flag)})


def on() -> bool:
    return bool(st.session_state.get(KEY))


def apply() -> None:
    """Read the link, then put the presenter CSS on the page when presenter mode is on."""
    read_link()
    if on():
        st.html(CSS)


def large(fig: go.Figure) -> go.Figure:
    """Fonts of at least ``FONT_PX`` everywhere, the title wrapped onto lines of ``TITLE_WRAP`` characters
    with the top margin to hold them."""
    title = fig.layout.title.text or ""
    lines = textwrap.wrap(title, TITLE_WRAP) or [""]
    fig.update_layout(font=dict(size=FONT_PX), title=dict(text="<br>".join(lines), font=dict(size=TITLE_PX)),
                      margin=dict(t=20 + 30 * len(lines)), hoverlabel=dict(font_size=FONT_PX),
                      legend=dict(font=dict(size=FONT_PX), title=dict(font=dict(size=FONT_PX))))
    fig.update_annotations(font_size=FONT_PX)
    for trace in [*fig.data, *(t for frame in fig.frames for t in frame.data)]:  # an animation's frames too
        large_text(trace)
    for slider in fig.layout.sliders:  # the Lesson's animation
        slider.update(font_size=FONT_PX, currentvalue_font_size=FONT_PX)
    for menu in fig.layout.updatemenus:
        menu.update(font_size=FONT_PX)
    fig.update_xaxes(tickfont_size=FONT_PX, title_font_size=FONT_PX)
    fig.update_yaxes(tickfont_size=FONT_PX, title_font_size=FONT_PX)
    if fig.layout.height:
        fig.update_layout(height=int(fig.layout.height) + 30 * len(lines))
    return fig


def large_text(trace) -> None:
    """Text drawn on a trace's bars, points or cells (e.g. the entropy meter's value) at ``FONT_PX`` at least."""
    for name in ("textfont", "insidetextfont", "outsidetextfont"):
        if name in trace and trace[name].size is not None and trace[name].size < FONT_PX:
            trace[name].size = FONT_PX
    if "colorbar" in trace:
        trace.colorbar.update(tickfont_size=FONT_PX, title_font_size=FONT_PX)
