"""``nnbackend plot``: a saved model's decision boundary, or its training loss curve."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import numpy as np

from .._text import count
from ..errors import NNBackendError
from ..plotting import plot_decision_boundary, plot_loss_curve
from ..threads import limit_threads
from . import cli
from .modelrun import (
    LoadedModel,
    check_output_path,
    data_option,
    generator_options,
    model_option,
    open_model,
    target_option,
)
from .options import device_options

DPI = 100


def draw_boundary(model: LoadedModel, data: str, target: str | None, output: str,
                  title: str | None, size: dict[str, Any], generator: dict[str, Any]) -> None:
    """Colour the plane by the model's class and scatter ``data`` by its labels."""
    name = Path(model.path).name
    if model.task == "regression":
        raise NNBackendError(f"a decision boundary needs a classifier, but {name} is a "
                             "regression model; plot its --loss-curve instead")
    if model.n_features != 2:
        raise NNBackendError(f"a decision boundary can be drawn for 2-feature models only, "
                             f"but {name} takes {count(model.n_features, 'feature')}; plot its "
                             "--loss-curve instead")
    X, y = model.read_data(data, target, **generator)
    if y is None:
        raise NNBackendError(f"the boundary plot colours the points by their labels, but "
                             f"{data} has none; give data with a label column")
    labels = model.class_indices(y, data)

    def predict_fn(points: np.ndarray) -> np.ndarray:
        return model.backend.to_host(model.network.predict(model.device_rows(points)))

    plot_decision_boundary(predict_fn, X, labels, output,
                           title or f"Decision boundary: {name} on {data}",
                           class_names=model.classes, **size)


def draw_loss_curve(model: LoadedModel, output: str, title: str | None, log_scale: bool,
                    size: dict[str, Any]) -> None:
    """Plot every record of the training history in the model file's ``extra["history"]``."""
    history = model.header.get("extra", {}).get("history")
    name = Path(model.path).name
    if not isinstance(history, list) or not history:
        raise NNBackendError(f"model file {model.path} has no training history to plot "
                             "(extra['history'] is missing or empty); train it with "
                             "nnbackend train --save to record one")
    plot_loss_curve(history, output, title or f"Cost: {name}", log_scale=log_scale, **size)


@cli.command()
@model_option
@data_option(required=False)
@target_option
@generator_options
@click.option("--loss-curve", is_flag=True,
              help="Plot the cost recorded during training (from the model file) instead "
                   "of a decision boundary.")
@click.option("--output", "-o", required=True, type=click.Path(dir_okay=False),
              help="The figure file: .png, .pdf or .svg (written atomically).")
@click.option("--width", type=click.IntRange(50, 10000), default=640, show_default=True,
              help="Width in pixels.")
@click.option("--height", type=click.IntRange(50, 10000), default=480, show_default=True,
              help="Height in pixels.")
@click.option("--title", default=None, help="Figure title (default: model and data).")
@click.option("--log-scale", is_flag=True, help="With --loss-curve: logarithmic cost axis.")
@device_options
def plot(model: str, data: str | None, target: str | None, loss_curve: bool, output: str,
         width: int, height: int, title: str | None, log_scale: bool, device: str,
         backend: str, dtype: str | None, threads: int | None, **generator: Any) -> None:
    """Draw a saved model's decision boundary on data, or its training loss curve.

    The decision boundary colours the plane by the predicted class and scatters the data,
    coloured by label, on top, with a legend naming each class's colour; it needs a
    classifier with 2 features. --loss-curve plots every record of the cost history stored
    in the model file (and the validation cost, when recorded). Needs matplotlib:
    pip install matplotlib.

    \b
    Examples:
      nnbackend plot --model flower.npz --data flower --output boundary.png
      nnbackend plot --model flower.npz --loss-curve --output loss.png --log-scale
      nnbackend plot --model moons.npz --data test.csv --output b.svg --width 1200 --height 900
    """
    limit_threads(threads)
    if data is None and not loss_curve:
        raise NNBackendError("give --data DATA to draw a decision boundary, or --loss-curve "
                             "to plot the training cost")
    if loss_curve and (data is not None or target is not None
                       or any(value is not None for value in generator.values())):
        raise NNBackendError("--loss-curve plots the history stored in the model and takes "
                             "no --data (nor its options); drop one of them")
    if log_scale and not loss_curve:
        raise NNBackendError("--log-scale applies to --loss-curve only; drop it")
    check_output_path(output)
    size = {"figsize": (width / DPI, height / DPI), "dpi": DPI}
    loaded = open_model(model, device, backend, dtype)
    if data is None:  # --loss-curve
        draw_loss_curve(loaded, output, title, log_scale, size)
    else:
        draw_boundary(loaded, data, target, output, title, size, generator)
        click.echo(f"Backend: {loaded.backend.describe()}", err=True)
    click.echo(f"Wrote {output} ({width} x {height} pixels)")
