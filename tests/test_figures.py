"""The schedule and training figure builders (app/figures/) are pure functions: check trace types, sizes and values."""

import base64

import numpy as np
import plotly.graph_objects as go
import pytest
import torch

from app.figures import schedule, training
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
    bar, markers = fig.data  # bars from the mean, and a marker at each w (seen even when every w is equal)
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
    assert [t.name for t in traj.data] == ["b1", "c1"] and list(traj.data[0].y) == [1.0, 2.0]


def test_image_replay_and_stacked_bar_have_legends():
    from app.figures import lesson, replay

    rows = [{"label": "learned", "step_of": [0, 1, 2, 3], "values": [0, 1, 2, 3], "confidence": [0.9] * 4}]
    fig = replay.replay_images(rows, (2, 2), 1, 4)
    assert fig.layout.showlegend and {"still masked", "just revealed (outline)"} <= {t.name for t in fig.data}
    bar = lesson.elbo_terms(["o1", "o2"], [0.6, 0.4], [1.0, 2.0], 1.4)
    assert bar.layout.showlegend and all(t.showlegend is not False for t in bar.data[:2])
