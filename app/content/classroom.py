"""Class page: follow the run a teacher shares, live and read-only.

A teacher presses **Share with the class** on the Train page (a live run, or a shipped replay) and gets a
four-letter code and a link ``/class?code=ABCD``. Each student opens the link (or types the code): the page
redraws the shared run's latest snapshot every second (``app/class_mode.py``); nothing trains in the
student's session and no control of the run is offered.
"""

from __future__ import annotations

import streamlit as st

from app import class_mode, common, links, run_views

TICK_S = 1.0


def code_box() -> str | None:
    if "class_code" not in st.session_state and class_mode.valid_code(st.query_params.get("code")):
        st.session_state["class_code"] = st.query_params["code"].strip().upper()
    code = st.text_input("Class code", key="class_code", max_chars=class_mode.CODE_LENGTH, placeholder="ABCD",
                         help="The four-letter code your teacher shows; the link they share fills it in.")
    code = (code or "").strip().upper()
    if code and st.query_params.get("code") != code:
        st.query_params["code"] = code
    return code or None


def follow(code: str) -> None:
    """One tick: the shared run's state now."""
    share = class_mode.REGISTRY.get(code)
    if share is None:
        st.warning(f"No shared run has the code {code} on this server (it may have ended). Check the code.")
        return
    st.subheader(share.title)
    if share.run is not None:
        live(share.run)
    else:
        replay(share.replay)


def live(run) -> None:
    run.touch()
    p = run.progress()
    st.progress(p.fraction, text=f"**{run.label}** — {run.state} · step {p.step:,} / {p.total:,}")
    curves = run.histories()
    history = curves[run.config.schedule]
    exponents = history[-1]["exponents"] if history else [1.0] * run.meta.length
    run_views.views(curves, history, exponents, run.meta, key="class_live", total_steps=run.config.steps,
                    revision=run.label)


def replay(shared) -> None:
    history = common.pretrained_history(shared.name)
    if not history:
        st.warning(f"The shared replay {shared.name} is not available on this server.")
        return
    index = shared.index(class_mode.REGISTRY.now(), len(history))
    shown = history[: index + 1]
    st.progress((index + 1) / len(history), text=f"replay of **{shared.name}** · snapshot {index + 1} / "
                                                 f"{len(history)} · step {shown[-1]['step']:,}")
    meta = common.load_pretrained(shared.name).meta
    run_views.views({shared.name: shown}, shown, shown[-1]["exponents"], meta, key="class_replay",
                    total_steps=history[-1]["step"], revision=shared.name)


def main() -> None:
    st.title("Follow the class run")
    st.caption("Your teacher trains one run (or plays one back) and everyone watches it here, live. Nothing "
               "trains in your browser session.")
    code = code_box()
    if code is None:
        st.info("Type the code your teacher shows, or open the link they share.")
        return
    st.fragment(follow, run_every=TICK_S)(code)
    links.link_box("class", {"code": code}, key="class_link")


if __name__ == "__main__":
    main()
