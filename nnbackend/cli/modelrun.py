"""What ``predict``, ``evaluate`` and ``plot`` share: a saved model and the data it runs on.

:func:`open_model` loads a model file onto the chosen backend; :class:`LoadedModel` then
reads data for it (a built-in set name or a file, labels optional), scales the features
with the stored training standardization and maps labels to the model's class indices.
Every problem is a one-line :class:`~nnbackend.errors.NNBackendError`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
import numpy as np

from .._text import count
from ..core.backend import Backend
from ..core.network import Network
from ..data.datasets import DATASETS, load_dataset
from ..data.files import DATA_SUFFIXES, npy_labels_path, read_features
from ..errors import NNBackendError
from ..model import Model
from ..persistence.atomic import check_writable
from .options import generator_options, stack

Array = Any

model_option = click.option(
    "--model", "-m", required=True, metavar="MODEL",
    help="A model file written by nnbackend (train --save, or save_model).")
target_option = click.option(
    "--target", default=None, metavar="COLUMN",
    help="CSV only: the label column (default: the model's training target column when "
         "the file has it; for a model without stored column names, the last column when "
         "the file has one more column than the model has features).")


def data_option(required: bool = True) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--data``: a built-in set or a file with the model's feature columns."""
    # No default=None beside required: click (8.3 and later) takes an explicit default as
    # given, so the option would never be missing.
    return click.option(
        "--data", "-d", required=required, metavar="DATA",
        help=f"A built-in data set ({', '.join(DATASETS)}) or a .csv, .npz or .npy file "
             "with the model's feature columns.")


model_data_options = stack(model_option, data_option(), target_option, generator_options)


@dataclass(frozen=True)
class LoadedModel:
    """A model file loaded onto a backend, as the commands that read one use it.

    Attributes
    ----------
    path : str
        The model file, as the user named it.
    model : Model
        The library's model: network, classes, standardisation, history.
    """

    path: str
    model: Model

    @property
    def network(self) -> Network:
        """The parameters on :attr:`backend`."""
        return self.model._fitted()

    @property
    def backend(self) -> Backend:
        """Where the network runs."""
        return self.model.backend

    @property
    def header(self) -> dict[str, Any]:
        """The model file's header (``classes``, ``standardization``, ``extra``, ...)."""
        return self.model.header

    @property
    def task(self) -> str:
        """``binary``, ``multiclass`` or ``regression``."""
        return self.network.output.task

    @property
    def n_features(self) -> int:
        """``n[0]``, the number of input features."""
        return self.model.n_features

    @property
    def classes(self) -> list[Any]:
        """The original labels of class indices ``0 .. K-1`` (indices when none stored)."""
        return self.model.class_list

    def describe(self) -> str:
        """``model.npz: 2-4-1, tanh hidden, binary``."""
        return f"{self.path}: {self.model.describe()}"

    def read_data(self, spec: str, target: str | None = None,
                  **generator: Any) -> tuple[np.ndarray, Any]:
        """Read ``spec`` (a built-in set name or a file) for this model.

        Parameters
        ----------
        spec : str
            A name from :data:`~nnbackend.data.datasets.DATASETS` or a data file.
        target : str, optional
            CSV only: the label column.
        **generator
            Built-in sets only: ``n_samples``, ``noise``, ``n_classes``, ``data_seed``
            (None = the set's default).

        Returns
        -------
        X : ndarray, shape (m, n_features)
            Host float64 features, NOT yet standardized; a CSV's columns matched to the
            model's training columns by name when the model stored them.
        y : ndarray or None
            The labels, or None when the data has none.
        """
        key = spec.strip().lower().replace("_", "-")
        given = {name: value for name, value in generator.items() if value is not None}
        if key in DATASETS:
            if target is not None:
                raise NNBackendError(f"--target applies to CSV files only, not to the "
                                     f"built-in {key} data set; drop it")
            seed = given.pop("data_seed", None)
            X, y = load_dataset(key, seed=seed, **given)
            if X.shape[1] != self.n_features:
                raise NNBackendError(
                    f"the {key} data set has {count(X.shape[1], 'feature')}, but the model takes "
                    f"{self.n_features}; use data with the model's training columns"
                )
            return X, y
        if given:
            flags = ", ".join("--" + name.replace("_", "-") for name in sorted(given))
            raise NNBackendError(f"{flags} only apply to built-in data sets, not to the "
                                 f"file {spec}; drop them")
        first = spec.split(",")[0].strip()  # a string: Path('') would be "." and exist
        if Path(first).suffix.lower() not in DATA_SUFFIXES and not os.path.exists(first):
            raise NNBackendError(
                f"unknown data set or file {spec!r}; built-in ones are: {', '.join(DATASETS)}; "
                f"files must end in {', '.join(DATA_SUFFIXES)}"
            )
        return read_features(spec, self.n_features, target, self.model.columns)

    def device_rows(self, X: np.ndarray) -> Array:
        """Host features -> standardized (as in training) device rows ``(m, n[0])``."""
        return self.model.rows(X)

    def class_indices(self, y: Any, source: str) -> np.ndarray:
        """Map labels to the model's class indices; unknown labels are a one-line error."""
        return self.model.class_indices(y, source)

    def targets(self, y: Any, source: str) -> np.ndarray:
        """Regression targets as float64 ``(m, n[L])``, checked against the output size."""
        return self.model.targets(y, source)


def open_model(path: str, device: str, backend: str, dtype: str | None) -> LoadedModel:
    """Resolve the backend and load the model file onto it."""
    return LoadedModel(path, Model.load(path, device=device, backend=backend, dtype=dtype))


def data_files(spec: str) -> list[Path]:
    """The existing files a ``--data`` value reads (none for a built-in set): the file,
    the two files of an ``X.npy,y.npy`` pair, and the labels file beside a ``.npy``."""
    # os.path's tests, not Path's: they answer False for a name too long to exist, which
    # the reader then reports in one line.
    if os.path.exists(spec):
        parts = [Path(spec)]
    else:
        parts = [Path(part.strip()) for part in spec.split(",")]
    files = [p for p in parts if os.path.isfile(p)]
    if len(parts) == 1 and parts[0].suffix.lower() == ".npy":
        files.append(npy_labels_path(parts[0]))
    return [p for p in files if os.path.exists(p)]


def refuse_overwriting_inputs(inputs: dict[str, list[Path]], outputs: dict[str, str | None]
                              ) -> None:
    """Refuse, before any work, an output path that is an input or another output.

    Parameters
    ----------
    inputs : dict
        ``flag -> files it reads`` (e.g. ``{"--data": [Path("d.csv")]}``).
    outputs : dict
        ``flag -> path it writes`` (None when not given).
    """
    seen: list[tuple[str, Path]] = [(name, _resolved(p)) for name, files in inputs.items()
                                    for p in files]
    for name, path in outputs.items():
        if not path:
            continue
        target = _resolved(Path(path))
        for other, known in seen:
            if target == known or (os.path.exists(known) and os.path.exists(target)
                                   and os.path.samefile(known, target)):
                role = "reads" if other in inputs else "writes"
                raise NNBackendError(f"{name} {path} is the file {other} {role}; writing it "
                                     f"would destroy that; give {name} another path")
        seen.append((name, target))


def _resolved(path: Path) -> Path:
    return Path(os.path.realpath(path))


def check_output_path(path: str | None, name: str = "--output", *,
                      by_name: bool = False) -> None:
    """Refuse, before any work, an output that could not be written: given empty, a
    directory, in a missing or unwritable directory, a name too long (see
    :func:`nnbackend.outputs.check_writable`; ``by_name``: no device or pipe either).

    Parameters
    ----------
    path : str or None
        The value given (None: not given, nothing to check).
    name : str
        The option's flag, for the message.
    """
    if path is None:
        return
    if not path.strip():
        raise NNBackendError(f"{name} is empty; give a file name")
    check_writable(path, by_name=by_name)
