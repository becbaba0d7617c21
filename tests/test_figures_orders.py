"""The order figure builders are pure functions: plain numbers in, a plotly figure with the right data out."""

import math

import numpy as np
import pytest

from app.figures import lesson, orders, replay

NAMES = ["b1", "b2", "c1", "c2"]


def strip_rows():
    return [
        {"label": "learned", "values": [0, 1, 1, 0], "step_of": [0, 1, 2, 3], "confidence": [0.9, 0.8, 0.5, 1.0]},
        {"label": "random", "values": [0, 1, 1, 0], "step_of": [3, 2, 1, 0], "confidence": [0.5, 0.6, 0.7, 0.2]},
    ]


def test_replay_status_marks_masked_just_and_earlier():
    assert replay.replay_status([0, 1, 2, 3], 0) == [replay.MASKED] * 4
    assert replay.replay_status([0, 1, 2, 3], 2) == [replay.EARLIER, replay.JUST, replay.MASKED, replay.MASKED]
    assert replay.replay_status([2, 0, 1], 3) == [replay.JUST, replay.EARLIER, replay.EARLIER]


def test_status_value_keeps_each_status_in_its_colour_band():
    assert 0 <= replay.status_value(replay.MASKED, 0.9) < 1
    for conf in (0.0, 0.5, 1.0, float("nan")):
        assert 1 <= replay.status_value(replay.EARLIER, conf) < 2
        assert 2 <= replay.status_value(replay.JUST, conf) <= 3
    assert replay.status_value(replay.EARLIER, 0.9) > replay.status_value(replay.EARLIER, 0.1)  # darker = surer


def test_cell_text_shortens_and_formats():
    assert replay.cell_text(None) == ""
    assert replay.cell_text(3) == "3"
    assert replay.cell_text(0.123456) == "0.1235"
    assert replay.cell_text(math.nan) == "?"
    assert replay.cell_text("United-States", 8) == "United-…"


def test_group_boundaries_follow_name_prefixes():
    assert replay.group_boundaries(["b1", "b2", "c1", "c2"]) == [2]
    assert replay.group_boundaries(["a1", "b1", "s1", "s2"]) == [1, 2]
    assert replay.group_boundaries(["l1", "l2", "l3"]) == []
    assert replay.group_boundaries(["age", "sex", "race", "income", "job"]) == []  # a table: no separators


def test_replay_strip_shows_revealed_values_only():
    cells = replay.strip_cells(strip_rows(), NAMES, step=2)
    assert [[c["text"] for c in row] for row in cells] == [["0", "1", "", ""], ["", "", "1", "0"]]
    learned = cells[0]
    assert learned[2]["fill"] == replay.MASK_GREY and "c1: masked" in learned[2]["tip"]
    assert learned[1]["fill"] == replay.status_colour(replay.JUST, 0.8)  # just revealed: orange band
    assert learned[0]["fill"] == replay.status_colour(replay.EARLIER, 0.9)  # earlier: blue band
    html = replay.replay_strip(strip_rows(), NAMES, step=2)
    assert '<div class="orl-title">After 2 step(s)</div>' in html
    assert html.count('<th class="orl-policy">') == 2
    assert html.count('class="orl-bar"') == 3  # the b | c separator in the header and both rows
    assert "masked" in html and "just revealed" in html and "revealed earlier" in html  # the legend


def test_status_colour_follows_the_status_scale():
    assert replay.status_colour(replay.MASKED, 0.9) == replay.MASK_GREY
    assert replay.status_colour(replay.EARLIER, 0.0) == "#dbeafe" and replay.status_colour(replay.JUST, 0.0) == "#fed7aa"
    assert replay.status_colour(replay.EARLIER, 1.0) == "#1d4ed8"  # clipped at 0.999: the darkest blue
    assert replay.status_colour(replay.JUST, 1.0) == replay.JUST_ORANGE


def test_replay_strip_escapes_table_values():
    rows = [{"label": "learned", "values": ["<b>", "a&b"], "step_of": [0, 1], "confidence": [0.5, 0.5]}]
    html = replay.replay_strip(rows, ["x", "y"], step=2)
    assert "&lt;b&gt;" in html and "a&amp;b" in html and "<b>" not in html


def test_replay_images_one_picture_per_policy_with_outline():
    rows = [{"label": p, "values": [16, 0, 8, 4], "step_of": [0, 1, 2, 3], "confidence": [1.0] * 4}
            for p in ("learned", "random")]
    fig = replay.replay_images(rows, (2, 2), step=2, num_categories=17)
    assert len([t for t in fig.data if t.type == "heatmap"]) == 2
    z = np.array(fig.data[0].z)
    assert z.shape == (2, 2)
    assert z[0, 0] == pytest.approx(4.0) and z[1, 0] < 1  # black pixel revealed; position 2 masked
    assert len(fig.layout.shapes) == 2  # the just-revealed pixel outlined in both pictures
    with pytest.raises(ValueError):
        replay.replay_images(rows, (2, 2), step=2, num_categories=17, shade="nonsense")


def test_rank_spread_sorts_positions_and_draws_spread():
    fig = orders.rank_spread([3.0, 1.2, 2.5], [0.5, 0.1, 0.4], ["x", "y", "z"], reference_order=[1, 2, 0])
    assert list(fig.data[0].y) == ["y", "z", "x"]
    assert list(fig.data[0].error_x.array) == [0.1, 0.4, 0.5]
    assert list(fig.data[1].x) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        orders.rank_spread([1.0, 2.0], [0.1], ["a", "b"])


def traces(frame_or_fig) -> dict:
    return {t.name: t for t in frame_or_fig.data if t.name}


def test_forward_masking_animation_masks_positions_after_their_time():
    tau = [0.2, 0.7, 0.5]
    fig = lesson.forward_masking_animation(tau, ["p0", "p1", "p2"], ["1", "0", "1"], frames=11)
    assert len(fig.frames) == 11
    cells = fig.frames[6].data[-1]  # t = 0.6
    assert list(cells.text) == ["M", "0", "M"]
    assert list(fig.frames[0].data[-1].text) == ["1", "0", "1"]
    assert list(traces(fig)["masking time tau_l"].y) == tau
    later = traces(fig.frames[6])
    assert list(later["clean (t < tau_l)"].y) == pytest.approx([0.2, 0.6, 0.5])
    assert list(later["masked (t >= tau_l)"].y) == pytest.approx([0.4, 0.0, 0.1])


def test_forward_masking_at_time_zero_shows_nothing_masked():
    """At t = 0 every position is clean: no grey anywhere, even for tiny masking times."""
    fig = lesson.forward_masking_animation([0.01, 0.9], ["c1", "b1"], ["1", "0"], frames=5)
    for start in (fig, fig.frames[0]):
        named = traces(start)
        assert list(named["masked (t >= tau_l)"].y) == [0.0, 0.0]
        assert list(start.data[-1].marker.color) == [lesson.CLEAN_GREEN, lesson.CLEAN_GREEN]


def test_forward_masking_label_and_controls_stay_clear_of_the_bars():
    fig = lesson.forward_masking_animation([0.3, 0.6], ["b1", "c1"], frames=5)
    label = next(t for t in fig.data if t.type == "scatter" and t.mode == "text")
    assert label.xaxis == "x2" and label.x[0] >= 2 - 0.5  # right of the last bar (index 1, half width 0.4)
    assert fig.layout.xaxis.range[1] > label.x[0]
    (buttons,), (slider,) = fig.layout.updatemenus, fig.layout.sliders
    assert buttons.y == slider.y and buttons.x < slider.x  # one row: buttons left of the track


def test_times_to_order_labels_largest_time_first():
    fig = lesson.times_to_order([0.1, 0.9, 0.5], ["p0", "p1", "p2"])
    assert list(fig.data[1].text) == ["step 3", "step 1", "step 2"]
    assert list(fig.data[0].y) == ["p1", "p2", "p0"]  # the path in decoding order


def test_order_frequency_bars_and_elbo_terms():
    fig = lesson.order_frequency_bars(["a", "b"], [0.7, 0.3], [0.69, 0.31], highlight="b")
    assert [list(t.y) for t in fig.data] == [[0.7, 0.3], [0.69, 0.31]]
    assert len(fig.layout.shapes) == 1
    fig = lesson.elbo_terms(["a", "b"], [0.25, 0.75], [2.0, 4.0], exact=3.5)
    assert sum(t.y[0] for t in fig.data) == pytest.approx(3.5)


def test_entropy_meter_labels_the_maximum_above_the_bar():
    fig = orders.entropy_meter(1.0, 3.18)
    assert fig.data[0].x[0] == 1.0 and fig.layout.shapes[0].x0 == 3.18
    label = fig.layout.annotations[0]
    assert "3.18" in label.text and label.yref == "paper" and label.y >= 1  # above the bar, not on it
    assert label.font.color == replay.INK


def test_line_labels_in_margin_puts_the_mean_label_next_to_its_line():
    from app.figures import schedule

    w = [0.05, 8.0, 11.0, 4.0, 0.05, 0.05, 7.8, 0.17]
    fig = orders.line_labels_in_margin(schedule.exponent_bars(w))
    (line,), (label,) = fig.layout.shapes, fig.layout.annotations
    assert label.x == 1.0 and label.xanchor == "left"  # right of the plot area, off the bars
    assert label.y == pytest.approx(math.log10(line.y0))  # log axis: annotations are placed by log10
    assert fig.layout.margin.r >= 60


def test_policy_points_show_intervals_on_a_zoomed_axis():
    fig = orders.policy_nll_points(["learned", "random"], [11.099, 11.100], [11.089, 11.088], [11.110, 11.110])
    dots = fig.data[0]
    assert list(dots.y) == ["learned", "random"] and dots.mode == "markers"
    assert list(dots.error_x.array) == pytest.approx([0.011, 0.010])
    assert list(dots.error_x.arrayminus) == pytest.approx([0.010, 0.012])
    lo, hi = fig.layout.xaxis.range
    assert 11.0 < lo < 11.088 and 11.110 < hi < 11.2  # zoomed to the intervals, not from 0
