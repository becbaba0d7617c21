"""One replay player: play / pause, speed, and a slider over recorded frames, used by every replay a person
drives (the Train page's and the Lesson's recorded snapshots, the Compare page's decoding steps; the Class
page follows its teacher's clock instead).

A :class:`Player` names its session keys (``<name>_index``-style keys chosen by the page, so links and tests
read them) and its labels; it draws nothing else. The page draws the player's controls, then calls
:meth:`Player.advance` at the top of its ``st.fragment`` and :meth:`Player.slider` inside it; while playing
the fragment reruns every :meth:`Player.tick_s` seconds and each tick moves ``speed * tick`` frames
(one frame per tick when ticks may be as short as ``1 / speed``). The last frame stops the playback; Play
from the last frame starts again from the first. Changes to the shown frame from outside the slider go
through :meth:`Player.jump` (a widget's value cannot be set once it is drawn).
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Player:
    index_key: str  # the slider's key: the frame shown
    playing_key: str
    speed_key: str
    speeds: tuple
    default_speed: float
    speed_label: str
    slider_label: str
    slider_help: str
    play_key: str | None = None
    play_labels: tuple[str, str] = ("Play", "Pause")
    play_help: str = "Play the replay, or pause it."
    speed_help: str = "How many frames to advance per second while playing."
    min_tick_s: float = 0.0  # ticks are at least this long (then several frames per tick)
    play_width: str = "content"

    # --- state --------------------------------------------------------------------------------------------
    def setup(self) -> None:
        """First values of the player's keys."""
        for key, value in ((self.index_key, 0), (self.playing_key, False), (self.speed_key, self.default_speed)):
            st.session_state.setdefault(key, value)

    @property
    def playing(self) -> bool:
        return bool(st.session_state.get(self.playing_key, False))

    def stop(self) -> None:
        st.session_state[self.playing_key] = False

    def speed(self) -> float:
        return st.session_state.get(self.speed_key, self.default_speed)

    def tick_s(self) -> float | None:
        """The period to give the page's fragment (``run_every``): None while paused. Called once per full
        run, so a speed changed inside the fragment is noticed (:meth:`controls`)."""
        st.session_state[f"{self.speed_key}_at_start"] = self.speed()
        return self._period() if self.playing else None

    def _period(self) -> float:
        return max(1.0 / self.speed(), self.min_tick_s)

    def jump(self, index: int) -> None:
        """Show frame ``index`` from the next draw of the slider on."""
        st.session_state[f"{self.index_key}_next"] = int(index)

    def index(self, last: int) -> int:
        return min(st.session_state.get(self.index_key, 0), last)

    # --- drawing ------------------------------------------------------------------------------------------
    def controls(self, play_box, speed_box, last: int) -> None:
        """The Play / Pause button in ``play_box`` and the speed slider in ``speed_box``."""
        self.setup()
        playing = self.playing
        label = self.play_labels[1] if playing else self.play_labels[0]
        if play_box.button(label, key=self.play_key, width=self.play_width, help=self.play_help):
            self._toggle(last)
            st.rerun(scope="app")  # the fragment's timer starts or stops with a full run
        speed_box.select_slider(self.speed_label, self.speeds, key=self.speed_key, help=self.speed_help)
        if playing and self.speed() != self._speed_at_start():
            st.session_state[f"{self.speed_key}_at_start"] = self.speed()
            st.rerun(scope="app")  # a new tick interval

    def advance(self, last: int) -> None:
        """At the top of the fragment: apply a jump, move on while playing, stop at the last frame."""
        pending = st.session_state.pop(f"{self.index_key}_next", None)
        if pending is not None:
            st.session_state[self.index_key] = pending
        if self.playing:
            frames = max(1, round(self.speed() * self._period()))
            st.session_state[self.index_key] = min(st.session_state.get(self.index_key, 0) + frames, last)
            if st.session_state[self.index_key] >= last:
                self.stop()
                st.rerun(scope="app")  # stop the timer
        st.session_state[self.index_key] = self.index(last)

    def slider(self, last: int, box=st) -> int:
        """The frame slider (none when there is one frame); returns the frame shown."""
        if last > 0:
            box.slider(self.slider_label, 0, last, key=self.index_key, help=self.slider_help)
        return self.index(last)

    def _toggle(self, last: int) -> None:
        playing = not self.playing
        if playing and st.session_state.get(self.index_key, 0) >= last:
            self.jump(0)  # play again from the start
        st.session_state[self.playing_key] = playing

    def _speed_at_start(self) -> float:
        return st.session_state.get(f"{self.speed_key}_at_start", self.speed())
