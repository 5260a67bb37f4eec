"""Figures: a classifier's decision boundary and the loss curve (matplotlib, optional).

The boundary plot is the figure of the planar-data notebook (the Deep Learning
Specialization, course 1 week 3), with a legend that names each class's colour.

matplotlib is imported inside the functions, so ``import nnbackend`` never needs it; when
it is missing the user gets one line naming ``pip install matplotlib``. Figures are
drawn on a bare ``Figure`` with the Agg canvas (no pyplot, no GUI, no global state) and
saved atomically; the pixel size is exactly ``figsize * dpi`` (default 640 x 480).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np

from .errors import NNBackendError
from .persistence.atomic import atomic_write

FORMATS = ("png", "pdf", "svg")
PLOT_INSTALL_HINT = "pip install matplotlib"
#: A loss curve marks each record while it has at most this many.
MARKERS_UP_TO = 60


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
    class_names: Sequence[Any] | None = None,
) -> Path:
    """Colour the plane by predicted class, scatter the data on top, and name the classes.

    The figure of the planar-data notebook (a 2-feature classifier's regions), with a
    legend that maps each colour to its class.

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
    class_names : sequence, optional
        The name of class index ``k`` at position ``k`` (a model's original labels), shown
        in the legend. Default: the sorted distinct labels of ``y`` when they are not class
        indices, else the indices themselves.

    Returns
    -------
    Path
        The written file.
    """
    fmt = _format(path)
    fig = decision_boundary_figure(predict_fn, X, y, title, figsize=figsize, dpi=dpi,
                                   resolution=resolution, class_names=class_names)
    return _save(fig, path, fmt, dpi)


def decision_boundary_figure(
    predict_fn: Callable[[np.ndarray], Any],
    X: np.ndarray,
    y: np.ndarray,
    title: str | None = None,
    *,
    figsize: tuple[float, float] = (6.4, 4.8),
    dpi: int = 100,
    resolution: int = 300,
    class_names: Sequence[Any] | None = None,
) -> Any:
    """The decision-boundary figure, unsaved (see :func:`plot_decision_boundary`).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the predicted regions, the data points and a legend titled ``class``.
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
    found_names: Sequence[Any] | None = None
    if labels.dtype.kind not in "biu" or labels.min() < 0:
        unique, labels = np.unique(labels, return_inverse=True)
        found_names = unique.tolist()
    mpl = _matplotlib()

    low, high = points.min(axis=0), points.max(axis=0)
    margin = np.where(high > low, 0.1 * (high - low), 1.0)
    xx, yy = np.meshgrid(np.linspace(low[0] - margin[0], high[0] + margin[0], resolution),
                         np.linspace(low[1] - margin[1], high[1] + margin[1], resolution))
    grid = np.c_[xx.ravel(), yy.ravel()]
    Z = _class_indices(predict_fn(grid), grid.shape[0]).reshape(xx.shape)

    # One colour per class index, shared by the regions and the points, so a point sits on
    # the colour of its own class wherever the network is right.
    n_classes = int(max(Z.max(), labels.max())) + 1
    names = _class_names(class_names if class_names is not None else found_names, n_classes)
    n_classes = len(names)
    cmap = mpl.colors.ListedColormap([f"C{k % 10}" for k in range(n_classes)])
    norm = mpl.colors.BoundaryNorm(np.arange(n_classes + 1) - 0.5, n_classes)
    fig = mpl.Figure(figsize=figsize, dpi=dpi, layout="constrained")
    mpl.FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.contourf(xx, yy, Z, levels=np.arange(n_classes + 1) - 0.5, cmap=cmap, norm=norm,
                alpha=0.35)
    ax.scatter(points[:, 0], points[:, 1], c=labels, cmap=cmap, norm=norm, s=14,
               edgecolors="k", linewidths=0.3)
    # The legend's markers repeat the points' style, so "which colour is which class" reads
    # off the figure without the data file; outside the axes, it never hides a region.
    handles = [mpl.Line2D([], [], linestyle="", marker="o", markersize=6,
                          markerfacecolor=f"C{k % 10}", markeredgecolor="k",
                          markeredgewidth=0.3, label=str(name))
               for k, name in enumerate(names)]
    ax.legend(handles=handles, title="class", loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, fontsize="small")
    ax.set_xlabel("$x_1$")
    ax.set_ylabel("$x_2$")
    if title:
        ax.set_title(title)
    return fig


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

    Every record of ``history`` is one point of the curve: nothing is thinned out, so a
    history recorded every epoch shows every epoch.

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
    fig = loss_curve_figure(history, title, figsize=figsize, dpi=dpi, log_scale=log_scale)
    return _save(fig, path, _format(path), dpi)


def loss_curve_figure(
    history: Sequence[Mapping[str, Any]],
    title: str | None = None,
    *,
    figsize: tuple[float, float] = (6.4, 4.8),
    dpi: int = 100,
    log_scale: bool = False,
) -> Any:
    """The loss-curve figure, unsaved (see :func:`plot_loss_curve`).

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the training cost of every record (the first line) and, when recorded,
        the validation cost.
    """
    records = list(history)
    if not records:
        raise NNBackendError("the history is empty, there is no loss curve to plot; record "
                             "the cost during training")
    x_key = next((k for k in ("iteration", "epoch") if k in records[0]), None)
    if x_key is None or any(x_key not in r or "cost" not in r for r in records):
        raise NNBackendError("every history record needs 'iteration' (or 'epoch') and "
                             "'cost'; pass the history that training returned")
    mpl = _matplotlib()
    fig = mpl.Figure(figsize=figsize, dpi=dpi, layout="constrained")
    mpl.FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    # Markers while they stay apart, so a short history shows where its records are.
    marker = "o" if len(records) <= MARKERS_UP_TO else None
    ax.plot([r[x_key] for r in records], [r["cost"] for r in records], marker=marker,
            markersize=3, label="training cost")
    validation = [(r[x_key], r["val_cost"]) for r in records if r.get("val_cost") is not None]
    if validation:
        ax.plot(*zip(*validation, strict=True), marker=marker, markersize=3,
                label="validation cost")
        ax.legend()
    if log_scale:
        ax.set_yscale("log")
    ax.set_xlabel(x_key)
    ax.set_ylabel("cost")
    ax.set_title(title or "Cost")
    ax.grid(True, alpha=0.3)
    return fig


def _save(fig: Any, path: str | os.PathLike[str], fmt: str, dpi: int) -> Path:
    """Write ``fig`` atomically in format ``fmt``."""
    return atomic_write(path, lambda fh: fig.savefig(fh, format=fmt, dpi=dpi))


def _matplotlib() -> SimpleNamespace:
    """``Figure``, ``FigureCanvasAgg``, ``colors`` and ``Line2D``, or a one-line install hint."""
    try:
        from matplotlib import colors
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D
    except ImportError:
        raise NNBackendError(
            f"plotting needs matplotlib, which is not installed; install it with "
            f"{PLOT_INSTALL_HINT}"
        ) from None
    return SimpleNamespace(Figure=Figure, FigureCanvasAgg=FigureCanvasAgg, colors=colors,
                           Line2D=Line2D)


def _class_names(names: Sequence[Any] | None, n_found: int) -> list[Any]:
    """One legend name per class: ``names`` (checked to cover every index seen) or indices."""
    if names is None:
        return list(range(n_found))
    names = list(names)
    if len(names) < n_found:
        raise NNBackendError(f"class_names names {len(names)} classes, but the labels or "
                             f"predictions use class index {n_found - 1}; give one name per "
                             "class, in class-index order")
    return names


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
