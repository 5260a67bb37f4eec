"""``nnbackend predict``: apply a saved model to data and write the predictions as CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import click
import numpy as np

from ..errors import NNBackendError
from ..model import Model
from ..persistence.atomic import atomic_write_text
from ..threads import limit_threads
from . import cli
from .modelrun import (
    check_output_path,
    data_files,
    model_data_options,
    open_model,
    refuse_overwriting_inputs,
)
from .options import device_options


def prediction_table(model: Model, X: np.ndarray, proba: bool
                     ) -> tuple[list[str], list[list[Any]]]:
    """The CSV header and rows of the model's predictions for host features ``X``.

    Parameters
    ----------
    model : Model
    X : ndarray, shape (m, n_features)
        Host features, before standardization (the model applies its own, as in training).
    proba : bool
        Classifiers: one probability column ``p_<class>`` per class instead of the label.

    Returns
    -------
    header : list of str
        ``prediction``; ``p_<class>`` ...; or ``prediction_<k>`` for several regression
        targets.
    rows : list of list
    """
    if model.task == "regression":
        if proba:
            raise NNBackendError("--proba applies to classifiers; this is a regression model, "
                                 "drop --proba")
        values = model.predict(X).reshape(X.shape[0], -1)
        names = (["prediction"] if values.shape[1] == 1
                 else [f"prediction_{k}" for k in range(values.shape[1])])
        return names, [[str(v) for v in row] for row in values]
    if proba:
        P = model.predict_proba(X)
        return [f"p_{c}" for c in model.class_list], [[str(v) for v in row] for row in P]
    return ["prediction"], [[label] for label in model.predict(X).tolist()]


def to_csv(header: list[str], rows: list[list[Any]]) -> str:
    """CSV text (``\\n`` line ends, quoting where a label needs it)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


@cli.command()
@model_data_options
@click.option("--proba", is_flag=True,
              help="Classifiers: write one probability column p_<class> per class instead "
                   "of the predicted label.")
@click.option("--output", "-o", type=click.Path(dir_okay=False), default=None,
              help="Write the CSV here (atomically); default: stdout.")
@device_options
def predict(model: str, data: str, target: str | None, proba: bool, output: str | None,
            device: str, backend: str, dtype: str | None, threads: int | None,
            **generator: Any) -> None:
    """Predict with a saved model; write one CSV row per example.

    DATA is a built-in data set or a .csv/.npz/.npy file whose features are the model's
    training columns (a CSV's matched by name, in any order, for a model trained on a
    CSV); a label column is optional (ignored). The model's stored
    standardization is applied first. Classifiers write the original class labels
    (column "prediction"), or with --proba one column "p_<class>" per class; regression
    writes "prediction" ("prediction_<k>" for several targets). Which backend ran is
    printed on stderr.

    \b
    Examples:
      nnbackend predict --model flower.npz --data flower
      nnbackend predict --model iris.npz --data new_flowers.csv --output predictions.csv
      nnbackend predict --model iris.npz --data X_test.npy --proba
      nnbackend predict --model moons.npz --data moons --data-seed 7 --noise 0.3
      nnbackend predict --model flower.npz --data flower --device cuda
    """
    limit_threads(threads)
    check_output_path(output)
    refuse_overwriting_inputs({"--data": data_files(data), "--model": [Path(model)]},
                              {"--output": output})
    loaded = open_model(model, device, backend, dtype)
    X, _ = loaded.read_data(data, target, **generator)
    header, rows = prediction_table(loaded.model, X, proba)
    text = to_csv(header, rows)
    click.echo(f"Backend: {loaded.backend.describe()}", err=True)
    if output is None:
        click.echo(text, nl=False)
        return
    atomic_write_text(output, text)
    click.echo(f"Wrote {len(rows)} predictions to {output}", err=True)
