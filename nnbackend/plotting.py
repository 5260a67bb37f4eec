"""Figures: the notes' decision-boundary plot and the loss curve (matplotlib, optional).

matplotlib is imported inside the functions, so ``import nnbackend`` never needs it; when
it is missing the user gets one line naming ``pip install 'nnbackend[plot]'``. Figures are
drawn on a bare ``Figure`` with the Agg canvas (no pyplot, no GUI, no global state) and
saved atomically; the pixel size is exactly ``figsize * dpi`` (default 640 x 480).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import NNBackendError
from .persistence.atomic import atomic_write

FORMATS = ("png", "pdf", "svg")
PLOT_INSTALL_HINT = "pip install 'nnbackend[plot]'"


def plot_decision_boundary(
    predict_fn: Callable[[np.ndarray], Any],
    X: np.ndarray,
    y: np.ndarray,
    path: str | os.PathLike[str],
    title: str | None = None,
    *,
    figsize: tuple[float, float] = (6.4, 4.8),
    dpi: int = 100,
    resolution: int = 300,
) -> Path:
    """Colour the plane by predicted class and scatter the data on top (the notes' figure).

    Parameters
    ----------
    predict_fn : callable
        ``predict_fn(points)`` with host ``points`` of shape ``(n, 2)`` float64 returns the
        class indices ``(n,)`` (integers ``0 .. K-1``) on the host.
    X : ndarray, shape (m, 2)
        The examples (host), in the space ``predict_fn`` expects.
    y : ndarray, shape (m,)
        Class indices, or labels whose sorted distinct values are the classes ``0 .. K-1``.
    path : str or path-like
        Output file, ``.png``, ``.pdf`` or ``.svg`` (the suffix picks the format).
    title : str, optional
    figsize, dpi
        Size in inches and dots per inch: the PNG is ``figsize * dpi`` pixels.
    resolution : int
        Grid points per axis over the data's range plus a 10% margin on each side.

    Returns
    -------
    Path
        The written file.
    """
    points = np.asarray(X, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 2:
        n = points.shape[1] if points.ndim == 2 else points.ndim
        raise NNBackendError(
            f"a decision boundary can be drawn for 2 features only, the data has {n}; plot "
            "the loss curve instead"
        )
    labels = np.asarray(y).reshape(-1)
    if points.shape[0] == 0 or labels.shape[0] != points.shape[0]:
        raise NNBackendError(f"decision boundary: X has {points.shape[0]} rows and y has "
                             f"{labels.shape[0]}; give one label per (non-empty) row")
    if labels.dtype.kind not in "biu" or labels.min() < 0:
        labels = np.unique(labels, return_inverse=True)[1]
    fmt = _format(path)
    plt_figure, Canvas, colors = _matplotlib()

    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.where(high > low, 0.1 * (high - low), 1.0)
    xx, yy = np.meshgrid(np.linspace(low[0] - margin[0], high[0] + margin[0], resolution),
                         np.linspace(low[1] - margin[1], high[1] + margin[1], resolution))
    grid = np.c_[xx.ravel(), yy.ravel()]
    Z = _class_indices(predict_fn(grid), grid.shape[0]).reshape(xx.shape)

    # One colour per class index, shared by the regions and the points, so a point sits on
    # the colour of its own class wherever the network is right.
    n_classes = int(max(Z.max(), labels.max())) + 1
    cmap = colors.ListedColormap([f"C{k % 10}" for k in range(n_classes)])
    norm = colors.BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = plt_figure(figsize=figsize, dpi=dpi, layout="constrained")
    Canvas(fig)
    ax = fig.add_subplot()
    ax.contourf(xx, yy, Z, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, norm=norm,
                alpha=0.35)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, norm=norm, s=14,
               edgecolors="k", linewidths=0.3)
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))


def plot_loss_curve(
    history: Sequence[Mapping[str, Any]],
    path: str | os.PathLike[str],
    title: str | None = None,
    *,
    figsize: tuple[float, float] = (6.4, 4.8),
    dpi: int = 100,
    log_scale: bool = False,
) -> Path:
    """Plot the cost (and the validation cost, when recorded) against iteration or epoch.

    Parameters
    ----------
    history : sequence of dict
        Records with ``"iteration"`` or ``"epoch"`` and ``"cost"``; an optional
        ``"val_cost"`` (None where not measured) is drawn as a second line.
    path : str or path-like
        Output file, ``.png``, ``.pdf`` or ``.svg`` (the suffix picks the format).
    title : str, optional
    figsize, dpi
        Size in inches and dots per inch: the PNG is ``figsize * dpi`` pixels.
    log_scale : bool
        Logarithmic cost axis.

    Returns
    -------
    Path
        The written file.
    """
    records = list(history)
    if not records:
        raise NNBackendError("the history is empty, there is no loss curve to plot; record "
                             "the cost during training")
    x_key = next((k for k in ("iteration", "epoch") if k in records[0]), None)
    if x_key is None or any(x_key not in r or "cost" not in r for r in records):
        raise NNBackendError("every history record needs 'iteration' (or 'epoch') and "
                             "'cost'; pass the history that training returned")
    fmt = _format(path)
    plt_figure, Canvas, _ = _matplotlib()
    steps = [r[x_key] for r in records]
    fig = plt_figure(figsize=figsize, dpi=dpi, layout="constrained")
    Canvas(fig)
    ax = fig.add_subplot()
    ax.plot(steps, [r["cost"] for r in records], label="training cost")
    validation = [(r[x_key], r["val_cost"]) for r in records if r.get("val_cost") is not None]
    if validation:
        ax.plot(*zip(*validation, strict=True), label="validation cost")
        ax.legend()
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel("cost")
    ax.set_title(title or "Cost")
    ax.grid(True, alpha=0.3)
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))


def _matplotlib() -> tuple[Any, Any, Any]:
    """``(Figure, FigureCanvasAgg, matplotlib.colors)``, or a one-line install hint."""
    try:
        from matplotlib import colors
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise NNBackendError(
            f"plotting needs matplotlib, which is not installed; install it with "
            f"{PLOT_INSTALL_HINT}"
        ) from None
    return Figure, FigureCanvasAgg, colors


def _format(path: str | os.PathLike[str]) -> str:
    fmt = Path(path).suffix.lower().lstrip(".")
    if fmt not in FORMATS:
        raise NNBackendError(f"cannot save a plot as {Path(path).name}; use a file name "
                             f"ending in {', '.join('.' + f for f in FORMATS)}")
    return fmt


def _class_indices(predicted: Any, n: int) -> np.ndarray:
    """Check ``predict_fn``'s answer: ``n`` whole, non-negative class indices."""
    values = np.asarray(predicted)
    if values.ndim == 2 and values.shape[1] == 1:
        values = values[:, 0]
    if values.shape != (n,) or values.dtype.kind not in "biuf":
        raise NNBackendError(f"predict_fn returned shape {values.shape} for {n} points; it "
                             "must return one class index per point")
    if values.dtype.kind == "f" and not np.all(values == np.round(values)):
        raise NNBackendError("predict_fn returned non-integer values; decision boundaries "
                             "need a classifier's class indices, not regression outputs")
    if values.size and values.min() < 0:
        raise NNBackendError("predict_fn returned negative class indices; return 0 .. K-1")
    return values.astype(np.int64)
