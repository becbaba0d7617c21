"""The schedule and training figure builders (app/figures/) are pure functions: check trace types, sizes and values."""

import base64

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from app.figures import schedule, style, training
from conftest import font_sizes
from core.orders import expected_rank, max_order_entropy, precedence_matrix

W = [2.0, 0.3, 1.0, 5.0]
NAMES = ["a", "b", "c", "d"]


def array(values) -> np.ndarray:
    """A trace array, whether plotly kept it as a list / ndarray or encoded it as typed-array JSON."""
    if isinstance(values, dict) and "bdata" in values:
        flat = np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
        shape = [int(s) for s in str(values.get("shape", len(flat))).split(",")]
        return flat.reshape(shape)
    return np.asarray(values, dtype=float)


def history(ws, steps=None):
    steps = steps or list(range(0, 10 * len(ws), 10))
    return [{"step": s, "exponents": w, "heldout_nelbo": 5.0 - i, "heldout_se": 0.1, "order_entropy": 3.0 - i}
            for i, (s, w) in enumerate(zip(steps, ws))]


def test_alpha_curves_one_line_per_exponent_with_the_polynomial_values():
    fig = schedule.alpha_curves(W, NAMES)
    assert [t.type for t in fig.data] == ["scatter"] * 4 and fig.layout.showlegend
    order = np.argsort(W)[::-1]  # legend from the earliest decoded position (largest w)
    assert [t.name for t in fig.data] == [f"{NAMES[i]}: w={W[i]:.2f}" for i in order]
    for trace, i in zip(fig.data, order):
        t, a = array(trace.x), array(trace.y)
        np.testing.assert_allclose(a, 1 - t**W[i])
        assert a[0] == 1 and a[-1] == 0
    colours = [t.line.color for t in fig.data]
    assert len(set(colours)) == 4  # coloured by w


def test_alpha_curves_merge_equal_exponents_into_one_legend_entry():
    names = [f"b{i}" for i in range(1, 9)] + [f"c{i}" for i in range(1, 9)]
    fig = schedule.alpha_curves([1.0] * 16, names)
    (line,) = fig.data
    assert line.name == "b1..c8: w=1.00" and "c8" in line.hovertemplate
    fig = schedule.alpha_curves([2.0] * 8 + [0.5] * 8, names)
    assert [t.name for t in fig.data] == ["b1..b8: w=2.00", "c1..c8: w=0.50"] and fig.layout.showlegend


def test_alpha_curves_many_distinct_exponents_get_a_colour_bar_instead_of_a_legend():
    w = np.exp(np.linspace(-3, 3, 64)).tolist()  # 10 % apart: 64 distinct curves
    fig = schedule.alpha_curves(w)
    lines = [t for t in fig.data if t.mode == "lines"]
    assert len(lines) == 64 and fig.layout.showlegend is False
    (bar,) = [t for t in fig.data if t.mode == "markers"]
    assert bar.marker.showscale and bar.showlegend is False
    assert "p0 " in lines[-1].hovertemplate  # hover names the position


def test_compact_names():
    assert schedule.compact_names(["a", "b", "d"], [0, 1, 3]) == "a, b, d"
    assert schedule.compact_names(["p0", "p1", "p2", "p5"], [0, 1, 2, 5]) == "p0..p2, p5"
    assert schedule.compact_names(list("abcdef"), [0, 2, 4, 6, 8, 10]) == "a, b, c +3 more"


def test_precedence_heatmap_shows_the_matrix():
    P = precedence_matrix(torch.tensor(W)).numpy()
    fig = schedule.precedence_heatmap(P, NAMES)
    (trace,) = fig.data
    assert trace.type == "heatmap" and list(trace.x) == NAMES and list(trace.y) == NAMES
    z = array(trace.z)
    off = ~np.eye(4, dtype=bool)
    np.testing.assert_allclose(z[off], P[off])
    assert np.isnan(np.diag(z)).all()
    assert (trace.zmin, trace.zmax) == (0, 1)


def test_precedence_heatmap_rejects_a_non_square_matrix():
    with pytest.raises(ValueError, match="square"):
        schedule.precedence_heatmap(np.zeros((2, 3)))


def test_exponent_bars():
    fig = schedule.exponent_bars(W, NAMES)
    # bars from the mean, and a marker at each w (seen even when every w is equal)
    bar, markers = [t for t in fig.data if t.meta != style.SPAN]
    np.testing.assert_allclose(array(markers.y), W)
    assert bar.type == "bar" and list(bar.x) == NAMES
    np.testing.assert_allclose(array(bar.y) + bar.base, W)  # bars run from the geometric mean to w
    np.testing.assert_allclose(array(bar.customdata), W)
    assert bar.base == pytest.approx(np.exp(np.log(W).mean())) and fig.layout.yaxis.type == "log"


@pytest.mark.parametrize("bad", [[], [1.0, 0.0], [1.0, float("nan")], [-1.0]])
def test_builders_reject_bad_exponents(bad):
    with pytest.raises(ValueError, match="exponents"):
        schedule.exponent_bars(bad)


def test_rank_heatmap_z_is_the_expected_rank_of_each_snapshot():
    ws = [[1.0] * 4, W, [5.0, 1.0, 1.0, 0.2]]
    fig = training.rank_heatmap(history(ws), NAMES)
    (trace,) = fig.data
    z = array(trace.z)
    assert trace.type == "heatmap" and z.shape == (4, 3)  # rows = positions, columns = snapshots
    assert list(trace.x) == [-5, 5, 15, 25] and list(trace.y) == NAMES  # column edges around the steps
    assert array(trace.customdata)[0].tolist() == [0, 10, 20]
    for j, w in enumerate(ws):
        np.testing.assert_allclose(z[:, j], expected_rank(torch.tensor(w, dtype=torch.float64)).numpy())
    np.testing.assert_allclose(z[:, 0], 2.5)  # equal exponents: every position in the middle


def test_rank_heatmap_median_time_mode():
    fig = training.rank_heatmap(history([W]), NAMES, color="median_time")
    np.testing.assert_allclose(array(fig.data[0].z)[:, 0], 0.5 ** (1 / np.array(W)))
    with pytest.raises(ValueError, match="color"):
        training.rank_heatmap(history([W]), NAMES, color="nope")


def test_step_axes_span_the_whole_run_from_the_first_snapshot():
    one = history([W])  # step 0 only, of a 400-step run
    heat = training.rank_heatmap(one, NAMES, total_steps=400)
    assert list(heat.data[0].x) == [-5, 5] and heat.layout.xaxis.range == (-5, 400)
    for fig in (training.nelbo_curves({"learned": one}, 400), training.entropy_curve(one, 4, 400)):
        lo, hi = fig.layout.xaxis.range
        assert -10 <= lo < 0 and 400 < hi <= 410
    assert training.entropy_curve(one, 4).layout.xaxis.range is None  # no run length: plotly's autorange


def test_rank_heatmap_without_snapshots_is_an_empty_figure():
    fig = training.rank_heatmap([], NAMES)
    assert isinstance(fig, go.Figure) and not fig.data


def test_nelbo_curves_overlay_runs_with_standard_error_bands():
    runs = {"learned": history([W, W, W]), "linear baseline": history([W, W]), "empty": []}
    fig = training.nelbo_curves(runs)
    lines = [t for t in fig.data if t.showlegend is not False]
    bands = [t for t in fig.data if t.fill == "toself"]
    assert fig.data[:2] == tuple(bands) and len(bands) == 2  # bands under every line
    # the first run is drawn last (on top of an equal baseline) but listed first in the legend
    assert [t.name for t in lines] == ["linear baseline", "learned"]
    assert [t.legendrank for t in lines] == [2, 1]
    learned, baseline = lines[1], lines[0]
    assert learned.line.dash == "solid" and baseline.line.dash == "dash"
    assert learned.marker.symbol != baseline.marker.symbol
    np.testing.assert_allclose(array(learned.y), [5.0, 4.0, 3.0])
    upper = array(bands[0].y)[:3]
    np.testing.assert_allclose(upper, [5.1, 4.1, 3.1])
    assert fig.layout.legend.orientation == "h" and fig.layout.legend.y < 0  # below the plot, clear of the title


def test_entropy_curve_draws_the_uniform_maximum():
    fig = training.entropy_curve(history([W, W]), 4)
    assert [t.type for t in fig.data] == ["scatter"]
    np.testing.assert_allclose(array(fig.data[0].y), [3.0, 2.0])
    (line,) = fig.layout.shapes
    assert line.y0 == pytest.approx(max_order_entropy(4))


def test_grid_rank_image_reshapes_the_expected_rank():
    w = np.linspace(0.5, 3.0, 6)
    fig = schedule.grid_rank_image(w.tolist(), (2, 3))
    z = array(fig.data[0].z)
    assert fig.data[0].type == "heatmap" and z.shape == (2, 3)
    np.testing.assert_allclose(z.ravel(), expected_rank(torch.tensor(w)).numpy())
    with pytest.raises(ValueError, match="shape"):
        schedule.grid_rank_image(w.tolist(), (4, 4))


def test_figures_serialize():
    for fig in [schedule.alpha_curves(W), training.rank_heatmap(history([W])), schedule.grid_rank_image(W, (2, 2)),
                training.nelbo_curves({}), training.entropy_curve([], 4)]:
        assert fig.to_json()


def test_seed_band_spans_the_runs_and_exponent_bars_are_visible_when_all_equal():

    runs = {"a": [{"step": 0, "group_precedence": 0.5}, {"step": 100, "group_precedence": 0.9}],
            "b": [{"step": 0, "group_precedence": 0.5}, {"step": 100, "group_precedence": 0.7}]}
    fig = training.seed_band(runs, "group_precedence", "band")
    band = fig.data[0]
    assert list(band.y) == [0.5, 0.9, 0.7, 0.5] and band.fill == "toself"
    assert {t.name for t in fig.data[1:]} == {"a", "b"}
    bars = schedule.exponent_bars([1.0, 1.0, 1.0])
    assert any(t.type == "scatter" and t.mode == "markers" for t in bars.data)  # visible, not zero-height bars
    assert any("equally likely" in a.text for a in bars.layout.annotations)
    traj = training.exponent_trajectories([{"step": 0, "exponents": [1.0, 1.0]}, {"step": 5, "exponents": [2.0, 0.5]}],
                                   ["b1", "c1"], 10)
    assert [t.name for t in traj.data if t.meta != style.SPAN] == ["b1", "c1"] and list(traj.data[0].y) == [1.0, 2.0]


def test_image_replay_and_stacked_bar_have_legends():
    from app.figures import lesson, replay

    rows = [{"label": "learned", "step_of": [0, 1, 2, 3], "values": [0, 1, 2, 3], "confidence": [0.9] * 4}]
    fig = replay.replay_images(rows, (2, 2), 1, 4)
    assert fig.layout.showlegend and {"still masked", "just revealed (outline)"} <= {t.name for t in fig.data}
    bar = lesson.elbo_terms(["o1", "o2"], [0.6, 0.4], [1.0, 2.0], 1.4)
    assert bar.layout.showlegend and all(t.showlegend is not False for t in bar.data[:2])


# --- zoom that survives live updates (issue 13) --------------------------------------------------------

# w as a run's snapshots have it: re-centred to geometric mean 1, drifting apart over training
DRIFT = [[1.0, 1.0, 1.0, 1.0], [1.5, 0.8, 1.0, 0.8333], [4.0, 0.5, 1.0, 0.5], [9.0, 0.2, 2.5, 0.2222]]
LIVE = {  # every figure a live run redraws, as a function of the snapshots so far
    "nelbo": lambda h: training.nelbo_curves({"learned": h, "linear": h[:1]}, 400),
    "rank": lambda h: training.rank_heatmap(h, NAMES, total_steps=400),
    "median": lambda h: training.rank_heatmap(h, NAMES, "median_time", 400),
    "entropy": lambda h: training.entropy_curve(h, 4, 400),
    "trajectories": lambda h: training.exponent_trajectories(h, NAMES, 400),
    "precedence": lambda h: training.metric_curve([dict(s, group_precedence=0.5 + 0.1 * i) for i, s in enumerate(h)],
                                                  "group_precedence", "Group precedence", "P", 0.75, 400, (0, 1)),
    "alpha": lambda h: schedule.alpha_curves(h[-1]["exponents"], NAMES),
    "bars": lambda h: schedule.exponent_bars(h[-1]["exponents"], NAMES),
    "pairs": lambda h: schedule.precedence_heatmap(precedence_matrix(torch.tensor(h[-1]["exponents"])).numpy(), NAMES),
}


@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_figures_keep_one_uirevision_as_snapshots_arrive(name):
    """plotly keeps a user's zoom across redraws only while ``layout.uirevision`` stays the same; a live
    chart is redrawn about once a second with one more snapshot."""
    build = LIVE[name]
    revisions = {build(history(DRIFT[:n])).layout.uirevision for n in range(1, len(DRIFT) + 1)}
    assert len(revisions) == 1 and revisions.pop()


@pytest.mark.parametrize("name", ["nelbo", "rank", "trajectories"])
def test_a_live_figure_before_its_first_snapshot_has_the_same_uirevision(name):
    assert LIVE[name]([]).layout.uirevision == LIVE[name](history(DRIFT[:2])).layout.uirevision


@pytest.mark.parametrize("name", sorted(LIVE))
def test_live_axes_do_not_change_their_own_range_as_snapshots_arrive(name):
    """plotly drops a zoom when the figure's own axis range changes between redraws: a live axis has either
    no range (autorange) or the same range on every redraw of a run."""
    for axis in ("xaxis", "yaxis"):
        ranges = {getattr(LIVE[name](history(DRIFT[:n])).layout, axis).range for n in range(1, len(DRIFT) + 1)}
        assert len(ranges) == 1, (axis, ranges)


@pytest.mark.parametrize("build", [lambda h: training.exponent_trajectories(h, NAMES, 400),
                                   lambda h: schedule.exponent_bars(h[-1]["exponents"], NAMES)])
def test_exponent_axes_autorange_over_at_least_a_factor_2_and_label_the_data(build):
    """No explicit range (a zoom would not survive the next snapshot): two invisible points make the
    autorange span at least 1/2 .. 2 around the mean, so a flat start does not crowd the ticks."""
    flat, drifted = build(history(DRIFT[:1])), build(history(DRIFT))
    for fig in (flat, drifted):
        assert fig.layout.yaxis.type == "log" and fig.layout.yaxis.range is None
        (span,) = [t for t in fig.data if t.meta == style.SPAN]
        assert min(span.y) <= 0.5 and max(span.y) >= 2.0 and span.marker.opacity == 0
        assert span.hoverinfo == "skip" and span.showlegend is False
    ticks = list(drifted.layout.yaxis.tickvals)
    assert min(ticks) <= 0.2 and max(ticks) >= 9.0  # labelled wherever the data go
    for note in drifted.layout.annotations:  # placed by log10 on a log axis: y = w would stretch the autorange
        if note.yref == "y":
            assert 10 ** note.y == pytest.approx(np.exp(np.log(DRIFT[-1]).mean()))


def test_charts_plot_makes_the_uirevision_a_constant_of_the_run(monkeypatch):
    """``charts.plot(..., revision=run)``: the same chart of the same run keeps its zoom, another run (or
    another chart) starts unzoomed."""
    from app import charts, presenter

    drawn = []

    class Box:
        def plotly_chart(self, fig, **kwargs):
            drawn.append(fig.layout.uirevision)

        def download_button(self, *args, **kwargs):
            pass

    monkeypatch.setattr(presenter, "on", lambda: False)
    for n, run in ((2, "run 1"), (4, "run 1"), (4, "run 2")):
        charts.plot(Box(), training.nelbo_curves({"learned": history(DRIFT[:n])}, 400), "live_nelbo", revision=run)
    charts.plot(Box(), training.entropy_curve(history(DRIFT), 4, 400), "live_entropy", revision="run 2")
    assert drawn[0] == drawn[1] != drawn[2] != drawn[3]
    assert "run 1" in drawn[0] and "run 2" in drawn[2]


# --- presenter fonts and CSV export of any figure -------------------------------------------------------


def all_figures() -> dict[str, go.Figure]:
    from app.figures import lesson, orders, replay

    rows = [{"label": p, "step_of": [0, 1, 2, 3], "values": [0, 1, 2, 3], "confidence": [0.9] * 4}
            for p in ("learned", "random")]
    return {**{name: build(history(DRIFT)) for name, build in LIVE.items()},
            "entropy meter": orders.entropy_meter(2.5, 3.2),
            "rank spread": orders.rank_spread([1.2, 2.5, 3.1, 3.2], [0.4, 0.5, 0.6, 0.2], NAMES, [0, 1, 2, 3]),
            "exponents in margin": orders.line_labels_in_margin(schedule.exponent_bars(W, NAMES)),
            "policy points": orders.policy_nll_points(["learned", "random"], [5.0, 5.5], [4.9, 5.3], [5.1, 5.7]),
            "image replay": replay.replay_images(rows, (2, 2), 1, 4),
            "grid": schedule.grid_rank_image(W, (2, 2)),
            "seed band": training.seed_band({"a": history(DRIFT), "b": history(DRIFT)}, "heldout_nelbo", "band"),
            "masking": lesson.forward_masking_animation([0.2, 0.5, 0.7, 0.9], NAMES),
            "elbo terms": lesson.elbo_terms(["o1", "o2"], [0.6, 0.4], [1.0, 2.0], 1.4)}


@pytest.mark.parametrize("name", sorted(all_figures()))
def test_presenter_fonts_reach_every_text_of_every_figure(name):
    import json

    from app import presenter

    fig = presenter.large(go.Figure(all_figures()[name]))
    spec = json.loads(fig.to_json())
    assert spec["layout"]["font"]["size"] >= presenter.FONT_PX
    small = [(where, size) for where, size in font_sizes(spec) if size < presenter.FONT_PX]
    assert not small, small


def test_decoding_frame_has_one_row_per_policy_and_position():
    from app.figures import export

    rows = [{"label": "learned", "values": ["a", "b", "c"], "step_of": [1, -1, 0], "confidence": [0.5, 1.0, 0.9],
             "entropy": [0.7, 0.0, 0.2]},
            {"label": "random", "values": ["a", "x", "c"], "step_of": [0, -1, 1], "confidence": [0.4, 1.0, 0.3],
             "entropy": [0.6, 0.0, 0.9]}]
    frame = export.decoding_frame(rows, ["p0", "p1", "p2"])
    assert list(frame.columns) == ["policy", "position", "step", "value", "confidence", "entropy"]
    assert len(frame) == 6 and list(frame["position"]) == ["p0", "p1", "p2"] * 2
    assert list(frame["step"]) == [2, 0, 1, 1, 0, 2]  # 1-based steps; the given is step 0
    assert list(frame["value"]) == ["a", "b", "c", "a", "x", "c"]
    assert frame["confidence"].tolist() == pytest.approx([0.5, 1.0, 0.9, 0.4, 1.0, 0.3])
    assert list(export.decoding_frame([]).columns) == ["policy", "position", "step", "value"]


def test_figure_frame_has_one_row_per_point_and_cell():
    from app.figures import export, orders

    fig = orders.policy_nll_points(["learned", "random"], [5.0, 5.5], [4.9, 5.3], [5.1, 5.7])
    points = export.figure_frame(fig)
    assert list(points["y"]) == ["learned", "random"] and list(points["x"]) == [5.0, 5.5]
    assert points["x_error_plus"].tolist() == pytest.approx([0.1, 0.2])
    assert points["x_error_minus"].tolist() == pytest.approx([0.1, 0.2])
    assert set(points["chart"]) == {fig.layout.title.text}
    heat = export.figure_frame(training.rank_heatmap(history(DRIFT, [0, 100, 200, 300]), NAMES, total_steps=400))
    assert len(heat) == 4 * 4 and sorted(set(heat["x"])) == [0, 100, 200, 300]  # cell centres, not edges
    first = heat[heat["x"] == 0]
    assert list(first["y"]) == NAMES and first["z"].tolist() == pytest.approx([2.5] * 4)  # all equal: mid rank
    bars = export.figure_frame(schedule.exponent_bars(W, NAMES))
    assert (bars["base"] + bars["y"]).dropna().tolist() == pytest.approx(W)  # a bar ends at w
    assert style.SPAN not in set(bars["trace"])  # the invisible axis span is no data
    assert export.figure_frame(go.Figure(go.Scatter(x=[None], y=[None], name="a legend entry"))).empty
