"""Figures: real PNG files of the requested pixel size, and one-line errors."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from nnbackend.data.datasets import load_dataset
from nnbackend.errors import NNBackendError
from nnbackend.plotting import plot_decision_boundary, plot_loss_curve

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
                                             r"'nnbackend\[plot\]'$"):
        plot_loss_curve([{"iteration": 0, "cost": 1.0}], tmp_path / "loss.png")
    with pytest.raises(NNBackendError, match=r"plotting needs matplotlib"):
        plot_decision_boundary(right_half, np.ones((3, 2)), np.zeros(3), tmp_path / "b.png")
