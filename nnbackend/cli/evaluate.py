"""``nnbackend evaluate``: score a saved model on labelled data."""

from __future__ import annotations

import json
from typing import Any

import click
import numpy as np

from ..errors import NNBackendError
from ..threads import limit_threads
from . import cli
from .modelrun import LoadedModel, model_data_options, open_model
from .options import device_options

COST_NAMES = {
    "binary": "binary cross-entropy",
    "multiclass": "categorical cross-entropy",
    "regression": "1/(2m) * sum of squared errors",
}
MSE_DEFINITION = "mean over examples and targets of (prediction - target)^2"


def classifier_metrics(model: LoadedModel, X: np.ndarray, y: Any, source: str) -> dict[str, Any]:
    """Accuracy, the model's loss and the confusion matrix on host data ``(X, y)``.

    The loss is the output layer's cost from the logits ``Z[L]`` on the encoded labels
    (without any L2 term). Confusion-matrix rows are true classes, columns predicted
    ones, both in the order of ``model.classes``.
    """
    network, backend = model.network, model.backend
    true = model.class_indices(y, source)
    rows = model.device_rows(X)
    K = len(model.classes)
    m = true.shape[0]
    if model.task == "binary":
        Y = true.astype(np.float64).reshape(1, m)
    else:
        Y = np.zeros((K, m))
        Y[true, np.arange(m)] = 1.0
    logits = network.forward(rows.T).Z[-1]
    cost = backend.to_float(network.output.cost(backend.xp, logits, backend.asarray(Y)))
    predicted = backend.to_host(network.predict(rows)).astype(np.int64)
    confusion = np.zeros((K, K), dtype=np.int64)
    np.add.at(confusion, (true, predicted), 1)
    correct = int(np.trace(confusion))
    return {"accuracy": correct / m, "correct": correct, "cost": cost,
            "classes": model.classes, "confusion_matrix": confusion.tolist()}


def regression_metrics(model: LoadedModel, X: np.ndarray, y: Any, source: str) -> dict[str, Any]:
    """MSE, R^2 (averaged over targets) and the model's loss on host data ``(X, y)``.

    A target that is constant in the data has R^2 1 when it is predicted exactly, else 0
    (scikit-learn's convention), instead of a division by zero.
    """
    network, backend = model.network, model.backend
    targets = model.targets(y, source)
    rows = model.device_rows(X)
    cache = network.forward(rows.T)
    cost = backend.to_float(network.output.cost(backend.xp, cache.Z[-1],
                                                backend.asarray(targets.T)))
    predicted = backend.to_host(cache.A[-1]).T.astype(np.float64)
    residual = ((predicted - targets) ** 2).sum(axis=0)
    total = ((targets - targets.mean(axis=0)) ** 2).sum(axis=0)
    safe = np.where(total > 0, total, 1.0)
    r2 = np.where(total > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))
    return {"mse": float(np.mean((predicted - targets) ** 2)),
            "mse_definition": MSE_DEFINITION, "r2": float(np.mean(r2)), "cost": cost}


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
    if loaded.task == "regression":
        metrics = regression_metrics(loaded, X, y, data)
    else:
        metrics = classifier_metrics(loaded, X, y, data)
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
        click.echo(json.dumps(summary))
