"""The Train page's replay mode: play back the snapshots recorded while a shipped run (or the checkpoint
uploaded on Inspect, when its metrics.json holds a history) was trained, through the same views as a live
run, with its other shipped seeds and its companion runs (e.g. the linear baseline) overlaid. Nothing is
trained here. A shipped replay can be shared with a class (``app/class_mode.py``).
"""

from __future__ import annotations

import json

import streamlit as st

from app import charts, class_mode, common, links, run_views, uploads
from app.figures import training as training_figures
from app.player import Player
from core import meta

TICK_S = 1.0  # the shortest tick while playing (several snapshots per tick at higher speeds)
UPLOADED = "the checkpoint uploaded on Inspect"
PLAYER = Player(index_key="replay_index", playing_key="replay_playing", speed_key="replay_speed",
                speeds=(1, 2, 4, 8), default_speed=2, speed_label="Speed (snapshots per second)",
                speed_help="How many recorded snapshots to advance per second while playing.",
                slider_label="Snapshot", slider_help="Scrub through the recorded snapshots (training steps).",
                play_help="Play the recorded training back, or pause it.", min_tick_s=TICK_S,
                play_width="stretch")


def uploaded_with_history():
    """The checkpoint last uploaded on the Inspect page, when its metrics.json holds a snapshot history."""
    result = uploads.last_result(uploads.INSPECT) or {}
    ckpt = result.get("ckpt")
    history = common.snapshot_history(ckpt.metrics) if ckpt is not None else []
    return (ckpt, history) if history else (None, [])


def replay_mode() -> None:
    names = common.list_pretrained()
    uploaded, uploaded_history = uploaded_with_history()
    if uploaded is not None:
        names = [UPLOADED] + names
    if not names:
        st.info(f"No shipped runs in {common.pretrained_dir()} yet. Train one live instead.")
        return
    name = st.selectbox("Shipped run", names, key="replay_name",
                        help="A checkpoint in pretrained/ (or the one you uploaded on the Inspect page with its "
                             "metrics.json); its snapshot history recorded during training plays back here "
                             "without any training.")
    try:
        ckpt, history = ((uploaded, uploaded_history) if name == UPLOADED else
                         (common.load_pretrained(name), common.pretrained_history(name)))
    except ValueError as e:
        st.error(f"Cannot load {name}: {e}")
        return
    if not history:
        st.warning(f"{name} has no snapshot history in its metrics.json.")
        return
    choose(name, len(history))
    left, right = st.columns([1, 3])
    PLAYER.controls(left, right, len(history) - 1)
    st.caption(f"Task **{ckpt.meta.name}**, schedule **{ckpt.config.get('schedule', '?')}**, "
               f"seed {ckpt.config.get('seed', '?')}, {len(history)} snapshots.")
    companions = companion_histories(name, ckpt)
    if name != UPLOADED:
        seeds_band(name)
    if name != UPLOADED and st.button("Share this replay with the class", key="replay_share",
                 help="Every student who opens the link watches the same snapshot as you, from now on."):
        code = class_mode.REGISTRY.share_replay(name, float(st.session_state["replay_speed"]), name)
        st.session_state["replay_share_code"] = code
    code = st.session_state.get("replay_share_code")
    if class_mode.REGISTRY.get(code) is not None:
        st.markdown(f"Class code **{code}**")
        links.link_box("class", {"code": code}, key="replay_share_link", label="Link for the class")
    st.fragment(replay_view, run_every=PLAYER.tick_s())(name, history, ckpt.meta, companions)


def choose(name: str, count: int) -> None:
    """A newly chosen run plays from its start, paused; a link's snapshot past the end shows the last."""
    PLAYER.setup()
    if st.session_state.get("replay_loaded") != name:
        if st.session_state.get("replay_loaded") is not None:  # another run chosen: from its start
            st.session_state["replay_index"] = 0
        st.session_state["replay_loaded"] = name
        PLAYER.stop()
    st.session_state["replay_index"] = min(st.session_state["replay_index"], count - 1)


def replay_view(name: str, history: list[dict], meta: meta.DataMeta, companions: dict) -> None:
    last = len(history) - 1
    PLAYER.advance(last)
    index = PLAYER.slider(last)
    shown = history[: index + 1]
    step = shown[-1]["step"]
    curves = {f"{name}": shown, **{k: [s for s in h if s["step"] <= step] for k, h in companions.items()}}
    run_views.views(curves, shown, shown[-1]["exponents"], meta, key="replay", total_steps=history[-1]["step"],
                    revision=name)


def shipped_seeds(name: str) -> dict[str, list[dict]]:
    """The run ``name`` and its other shipped seeds (``pretrained/seeds/<name>-<seed>/metrics.json``)."""
    out = {f"{name} (seed 0)": common.pretrained_history(name)}
    for path in sorted((common.pretrained_dir() / "seeds").glob(f"{name}-*/metrics.json")):
        try:
            history = json.loads(path.read_text()).get("history") or []
        except (OSError, ValueError):
            continue
        out[f"{name} (seed {path.parent.name.rsplit('-', 1)[-1]})"] = [s for s in history if isinstance(s, dict)]
    return out


def seeds_band(name: str) -> None:
    """Researchers: the shipped seeds of this run overlaid, with the band they span."""
    seeds = shipped_seeds(name)
    if len(seeds) < 2:
        return
    with st.expander(f"All {len(seeds)} shipped seeds of {name}, overlaid"):
        left, right = st.columns(2)
        charts.plot(left, training_figures.seed_band(seeds, "group_precedence", "Group precedence, every shipped seed"),
                    key="replay_seeds_prec")
        charts.plot(right, training_figures.seed_band(seeds, "heldout_nelbo", "Held-out NELBO, every shipped seed"),
                    key="replay_seeds_nelbo")


def companion_histories(name: str, ckpt) -> dict[str, list[dict]]:
    """Other shipped runs of the same task and data (e.g. its linear baseline), for the NELBO overlay."""
    out = {}
    for other in common.list_pretrained():
        if other == name:
            continue
        try:
            o = common.load_pretrained(other)
        except ValueError:
            continue
        if o.meta.to_dict() == ckpt.meta.to_dict():
            out[other] = common.pretrained_history(other)
    return out
