"""``nnbackend evaluate``: score a saved model on labelled data."""

from __future__ import annotations

import json
from typing import Any

import click

from ..errors import NNBackendError
from ..model.scores import COST_NAMES, MSE_DEFINITION
from ..threads import limit_threads
from . import cli
from .modelrun import model_data_options, open_model
from .options import device_options


def format_confusion(classes: list[Any], matrix: list[list[int]]) -> list[str]:
    """The confusion matrix as aligned text lines, labelled by class."""
    corner = "true \\ predicted"
    names = [str(c) for c in classes]
    first = max(len(corner), *(len(n) for n in names))
    widths = [max(len(n), *(len(str(row[j])) for row in matrix)) for j, n in enumerate(names)]
    lines = ["  " + corner.ljust(first) + "".join(f"  {n:>{w}}" for n, w in zip(names, widths,
                                                                             strict=True))]
    for name, row in zip(names, matrix, strict=True):
        lines.append("  " + name.ljust(first)
                     + "".join(f"  {v:>{w}}" for v, w in zip(row, widths, strict=True)))
    return lines


@cli.command()
@model_data_options
@device_options
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON object (backend, metrics, confusion matrix) as the last "
                   "line of stdout; the rest goes to stderr.")
def evaluate(model: str, data: str, target: str | None, device: str, backend: str,
             dtype: str | None, threads: int | None, as_json: bool, **generator: Any) -> None:
    """Score a saved model on labelled data.

    Classifiers: accuracy, the model's loss (cross-entropy from the logits) and the
    confusion matrix (rows: true class, columns: predicted class, labelled by class).
    Regression: MSE (the mean over examples and targets of the squared error), R^2
    (averaged over targets) and the training loss 1/(2m) * sum of squared errors. The
    stored standardization is applied first; labels the model does not know are an error.

    \b
    Examples:
      nnbackend evaluate --model flower.npz --data flower
      nnbackend evaluate --model iris.npz --data test.csv --target species
      nnbackend evaluate --model moons.npz --data moons --data-seed 7   # a fresh test set
      nnbackend evaluate --model sine.npz --data sine --json
    """
    limit_threads(threads)
    say = (lambda text: click.echo(text, err=True)) if as_json else click.echo
    loaded = open_model(model, device, backend, dtype)
    X, y = loaded.read_data(data, target, **generator)
    if y is None:
        raise NNBackendError(f"evaluate needs labels, but {data} has none; give data with a "
                             "label column (or use nnbackend predict)")
    metrics = loaded.model.evaluate(X, y, source=data)
    m = X.shape[0]
    say(f"Backend: {loaded.backend.describe()}")
    say(f"Model: {loaded.describe()}")
    say(f"Data: {data}, {m} examples")
    if "accuracy" in metrics:
        say(f"Accuracy: {100 * metrics['accuracy']:.2f}% ({metrics['correct']} of {m})")
    else:
        say(f"MSE: {metrics['mse']:.6g} ({MSE_DEFINITION})")
        say(f"R^2: {metrics['r2']:.6f} (averaged over targets)")
    say(f"Cost: {metrics['cost']:.6f} ({COST_NAMES[loaded.task]}, the training loss "
        "without L2)")
    if "confusion_matrix" in metrics:
        say("Confusion matrix (rows: true class, columns: predicted class):")
        for line in format_confusion(metrics["classes"], metrics["confusion_matrix"]):
            say(line)
    if as_json:
        summary = {**loaded.backend.as_dict(), "model": model, "data": data,
                   "task": loaded.task, "n_examples": m, **metrics,
                   "cost_definition": COST_NAMES[loaded.task]}
        if loaded.task == "regression":
            summary["mse_definition"] = MSE_DEFINITION
        click.echo(json.dumps(summary))
