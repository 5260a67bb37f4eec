"""Figures: real PNG files of the requested pixel size, and one-line errors."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from nnbackend.data.datasets import load_dataset
from nnbackend.errors import NNBackendError
from nnbackend.plotting import (
    decision_boundary_figure,
    loss_curve_figure,
    plot_decision_boundary,
    plot_loss_curve,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def png_size(path) -> tuple[int, int]:
    """Width and height from the IHDR chunk, which must come first in a PNG."""
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def right_half(points: np.ndarray) -> np.ndarray:
    """A stand-in classifier: class 1 where x1 > 0."""
    return (points[:, 0] > 0).astype(np.int64)


@pytest.fixture
def mpl():
    return pytest.importorskip("matplotlib")


def test_decision_boundary_png_default_size(mpl, tmp_path):
    X, y = load_dataset("moons", n_samples=60)
    calls = []

    def predict(points):
        calls.append(points)
        return right_half(points)

    out = plot_decision_boundary(predict, X, y, tmp_path / "b.png", title="moons")
    assert out == tmp_path / "b.png"
    assert png_size(out) == (640, 480)
    # The grid spans the data with a margin on every side.
    (grid,) = calls
    assert grid.dtype == np.float64 and grid.shape == (300 * 300, 2)
    assert (grid.min(axis=0) < X.min(axis=0)).all() and (grid.max(axis=0) > X.max(axis=0)).all()
    assert [p.name for p in tmp_path.iterdir()] == ["b.png"]


def test_decision_boundary_colours_follow_the_predictions(mpl, tmp_path):
    from PIL import Image  # matplotlib depends on pillow

    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]])
    y = np.array(["no", "yes", "no", "yes"])  # class names: sorted -> indices 0, 1
    path = plot_decision_boundary(right_half, X, y, tmp_path / "b.png", figsize=(4, 4),
                                  dpi=50, resolution=50)
    image = np.asarray(Image.open(path).convert("RGB")).astype(int)
    assert image.shape == (200, 200, 3)
    row = image[100]
    left, right = row[60], row[150]  # inside the axes, on each side of x1 = 0
    assert np.abs(left - right).sum() > 60  # two different region colours


def test_decision_boundary_custom_size_and_multiclass(mpl, tmp_path):
    X, y = load_dataset("spiral", n_samples=90)
    path = plot_decision_boundary(lambda p: np.argmax(np.abs(p), axis=1).reshape(-1, 1), X, y,
                                  tmp_path / "s.png", figsize=(3.0, 2.0), dpi=80,
                                  resolution=40)
    assert png_size(path) == (240, 160)


@pytest.mark.parametrize(("X", "y", "predict", "match"), [
    (np.ones((5, 3)), np.zeros(5), right_half, r"^a decision boundary can be drawn for 2 "
                                               r"features only, the data has 3; plot the loss"),
    (np.ones(5), np.zeros(5), right_half, r"2 features only, the data has 1"),
    (np.ones((5, 2)), np.zeros(4), right_half, r"X has 5 rows and y has 4"),
    (np.ones((5, 2)), np.zeros(5), lambda p: p[:, 0] * 0.5, r"predict_fn returned non-integer"
                                                             r" values"),
    (np.ones((5, 2)), np.zeros(5), lambda p: right_half(p)[:-1], r"predict_fn returned shape"),
    (np.ones((5, 2)), np.zeros(5), lambda p: right_half(p) - 1, r"negative class indices"),
])
def test_decision_boundary_errors(mpl, tmp_path, X, y, predict, match):
    with pytest.raises(NNBackendError, match=match) as info:
        plot_decision_boundary(predict, X, y, tmp_path / "b.png", resolution=10)
    assert "\n" not in str(info.value)
    assert list(tmp_path.iterdir()) == []


def legend_entries(fig) -> tuple[str, list[str], list[str]]:
    """The legend's title, its labels, and each entry's marker colour (as hex)."""
    from matplotlib.colors import to_hex

    legend = fig.axes[0].get_legend()
    assert legend is not None, "the figure has no legend"
    colours = [to_hex(h.get_markerfacecolor()) for h in legend.legend_handles]
    return legend.get_title().get_text(), [t.get_text() for t in legend.get_texts()], colours


def test_decision_boundary_legend_names_each_class_colour(mpl, tmp_path):
    from matplotlib.colors import to_hex

    X, y = load_dataset("blobs", n_samples=60)
    fig = decision_boundary_figure(lambda p: np.zeros(len(p), dtype=np.int64), X, y,
                                   resolution=10, class_names=["cat", "dog", "eel"])
    title, labels, colours = legend_entries(fig)
    assert (title, labels) == ("class", ["cat", "dog", "eel"])
    # Each name's colour is the colour its points are drawn in.
    scatter = fig.axes[0].collections[-1]
    point_colours = [to_hex(c) for c in scatter.cmap(scatter.norm(y))]
    for k in range(3):
        assert {point_colours[i] for i in np.flatnonzero(y == k)} == {colours[k]}
    assert len(set(colours)) == 3


@pytest.mark.parametrize(("y", "names"), [
    (np.array(["no", "yes", "no", "yes"]), ["no", "yes"]),  # labels: sorted distinct values
    (np.array([0, 1, 0, 1]), ["0", "1"]),                  # class indices: the indices
])
def test_decision_boundary_legend_defaults(mpl, y, names):
    X = np.array([[-1.0, 0.0], [1.0, 0.0], [-1.0, 1.0], [1.0, 1.0]])
    fig = decision_boundary_figure(right_half, X, y, resolution=10)
    assert legend_entries(fig)[1] == names


def test_decision_boundary_needs_a_name_per_class(mpl):
    X = np.array([[-1.0, 0.0], [1.0, 0.0]])
    with pytest.raises(NNBackendError, match=r"^class_names names 1 classes, but the labels "
                                             r"or predictions use class index 1; give one"):
        decision_boundary_figure(right_half, X, np.array([0, 1]), resolution=10,
                                 class_names=["only"])


def test_loss_curve_plots_every_record(mpl):
    history = [{"epoch": e, "cost": 1.0 / e, "val_cost": 1.1 / e} for e in range(1, 501)]
    fig = loss_curve_figure(history)
    training, validation = fig.axes[0].get_lines()
    assert list(training.get_xdata()) == list(range(1, 501))
    assert list(training.get_ydata()) == [r["cost"] for r in history]
    assert list(validation.get_xdata()) == list(range(1, 501))
    assert training.get_marker() in ("None", "", None)  # 500 points: a line, no markers
    short = loss_curve_figure(history[:4]).axes[0].get_lines()[0]
    assert list(short.get_xdata()) == [1, 2, 3, 4] and short.get_marker() == "o"


def test_loss_curve_png(mpl, tmp_path):
    history = [{"iteration": i, "cost": 0.7 / (1 + i)} for i in range(0, 1000, 100)]
    path = plot_loss_curve(history, tmp_path / "loss.png", figsize=(5, 3), dpi=60)
    assert png_size(path) == (300, 180)


def test_loss_curve_with_validation_and_epochs(mpl, tmp_path):
    history = [{"epoch": e, "cost": 1.0 / e, "val_cost": (1.2 / e if e % 2 else None)}
               for e in range(1, 11)]
    path = plot_loss_curve(history, tmp_path / "loss.png", log_scale=True)
    assert png_size(path) == (640, 480)
    svg = plot_loss_curve(history, tmp_path / "loss.svg")
    assert b"validation cost" in svg.read_bytes()


@pytest.mark.parametrize(("history", "match"), [
    ([], r"the history is empty"),
    ([{"step": 1, "cost": 0.5}], r"needs 'iteration' \(or 'epoch'\) and 'cost'"),
    ([{"iteration": 1, "cost": 0.5}, {"iteration": 2}], r"needs 'iteration'"),
])
def test_loss_curve_errors(tmp_path, history, match):
    with pytest.raises(NNBackendError, match=match):
        plot_loss_curve(history, tmp_path / "loss.png")


def test_unsupported_suffix(mpl, tmp_path):
    with pytest.raises(NNBackendError, match=r"cannot save a plot as loss\.jpg; use a file "
                                             r"name ending in \.png, \.pdf, \.svg$"):
        plot_loss_curve([{"iteration": 0, "cost": 1.0}], tmp_path / "loss.jpg")


def test_without_matplotlib(tmp_path, monkeypatch):
    for name in ("matplotlib", "matplotlib.colors", "matplotlib.figure",
                 "matplotlib.backends.backend_agg"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(NNBackendError, match=r"^plotting needs matplotlib, which is not "
                                             r"installed; install it with pip install "
                                             r"matplotlib$"):
        plot_loss_curve([{"iteration": 0, "cost": 1.0}], tmp_path / "loss.png")
    with pytest.raises(NNBackendError, match=r"plotting needs matplotlib"):
        plot_decision_boundary(right_half, np.ones((3, 2)), np.zeros(3), tmp_path / "b.png")
