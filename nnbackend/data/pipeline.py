"""The data pipeline: load, check, encode, split and standardise, on the host.

:func:`prepare_arrays` turns features and labels into what the training loop takes;
:func:`prepare` first loads them from a :class:`DataSpec`, a JSON-ready description (a
built-in set or a file, with its options), so that a resumed run rebuilds exactly the same
data from the description stored in its checkpoint. Both the library's ``Model.fit`` and
``nnbackend train`` go through here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from .columns import Columns
from .datasets import load_labelled
from .encoding import Targets, check_features, encode_targets, split_validation
from .preprocessing import Standardizer


@dataclass(frozen=True)
class DataSpec:
    """Where the data comes from and how it is split and scaled (JSON-ready).

    Attributes
    ----------
    data : str
        A built-in set name or a file path.
    target : str or None
        CSV label column.
    n_samples, noise, n_classes, data_seed
        Generator options of built-in sets (None = the set's default).
    task : str or None
        Forced task, or None to infer it from the labels.
    standardize : bool
        Fit mean/std on the training split and apply them to both splits.
    validation_fraction : float or None
        Held-out fraction, split with ``split_seed``.
    split_seed : int
        Seed of the validation split (the run's ``--seed``).
    """

    data: str = "flower"
    target: str | None = None
    n_samples: int | None = None
    noise: float | None = None
    n_classes: int | None = None
    data_seed: int | None = None
    task: str | None = None
    standardize: bool = False
    validation_fraction: float | None = None
    split_seed: int = 3


@dataclass(frozen=True)
class PreparedData:
    """Host arrays: features as rows, targets encoded as ``(n[L], m)``."""

    X_train: np.ndarray
    Y_train: np.ndarray
    X_val: np.ndarray | None
    Y_val: np.ndarray | None
    targets: Targets
    standardizer: Standardizer | None
    #: The features' and target's column names (a CSV's), or None.
    columns: Columns | None = None

    @property
    def standardization(self) -> dict[str, Any] | None:
        """The scaling to store with the model, or None."""
        return None if self.standardizer is None else self.standardizer.to_dict()


def prepare(spec: DataSpec) -> PreparedData:
    """Load the data of ``spec``, then :func:`prepare_arrays` it."""
    loaded = load_labelled(spec.data, spec.target, seed=spec.data_seed,
                           n_samples=spec.n_samples, noise=spec.noise,
                           n_classes=spec.n_classes)
    return prepare_arrays(loaded.X, loaded.y, task=spec.task, standardize=spec.standardize,
                          validation_fraction=spec.validation_fraction,
                          split_seed=spec.split_seed, columns=loaded.columns)


def prepare_arrays(X: Any, y: Any, *, task: str | None = None, standardize: bool = False,
                   validation_fraction: float | None = None,
                   split_seed: int | None = 3, columns: Columns | None = None) -> PreparedData:
    """Check, encode, split and (optionally) standardise features and labels.

    Parameters
    ----------
    X : array_like, shape (m, n_features)
        Examples as rows.
    y : array_like, shape (m,) or (m, n_targets)
        Class labels (numbers or strings) or regression targets.
    task : str, optional
        ``binary``, ``multiclass`` or ``regression``; inferred from ``y`` when None.
    standardize : bool
        Fit mean/std on the training split only (no leak into validation) and apply it
        to both splits.
    validation_fraction : float, optional
        Hold out this fraction of the examples, drawn with ``split_seed``.
    split_seed : int or None
        Seed of the validation split.
    columns : Columns, optional
        The column names of ``X`` and ``y`` (from a CSV header), kept with the data for
        the model, which matches later data by them.

    Returns
    -------
    PreparedData
        Host arrays: features as rows, targets encoded as ``(n[L], m)``.
    """
    data = split_and_scale(check_features(X), encode_targets(y, task),
                           standardize=standardize, validation_fraction=validation_fraction,
                           split_seed=split_seed)
    return data if columns is None else replace(data, columns=columns)


def split_and_scale(features: np.ndarray, targets: Targets, *, standardize: bool = False,
                    validation_fraction: float | None = None,
                    split_seed: int | None = 3) -> PreparedData:
    """Split checked features and encoded targets, then (optionally) standardise.

    Parameters
    ----------
    features : ndarray, shape (m, n_features)
        From :func:`~nnbackend.data.encoding.check_features`.
    targets : Targets
        From :func:`~nnbackend.data.encoding.encode_targets`.
    standardize, validation_fraction, split_seed
        As for :func:`prepare_arrays`.
    """
    X_train, Y_train, X_val, Y_val = features, targets.Y, None, None
    if validation_fraction is not None:
        X_train, Y_train, X_val, Y_val = split_validation(
            features, targets.Y, validation_fraction, split_seed)
    scaler = None
    if standardize:
        scaler = Standardizer.fit(X_train)  # the training split only: no leak
        X_train = scaler.transform(X_train)
        X_val = None if X_val is None else scaler.transform(X_val)
    return PreparedData(X_train, Y_train, X_val, Y_val, targets, scaler)


#: Above this many bytes, a fingerprint hashes a sample of rows instead of all of them.
FULL_HASH_BYTES = 256 * 2**20


def fingerprint(data: PreparedData) -> dict[str, Any]:
    """What identifies the training data, for a checkpoint to refuse changed data.

    Row and feature counts, the task and classes, and a SHA-256 of the training features
    and encoded targets (of 1024 evenly spaced rows when they exceed
    :data:`FULL_HASH_BYTES`, so that a memory-mapped file is not read whole for it).
    """
    X, Y = data.X_train, data.Y_train
    rows = np.arange(X.shape[0])
    if X.nbytes + Y.nbytes > FULL_HASH_BYTES:
        rows = np.unique(np.linspace(0, X.shape[0] - 1, 1024).astype(np.int64))
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(X[rows], dtype=np.float64).tobytes())
    digest.update(np.ascontiguousarray(Y[:, rows], dtype=np.float64).tobytes())
    classes = data.targets.classes
    return {"rows": int(X.shape[0]), "features": int(X.shape[1]), "task": data.targets.task,
            "classes": None if classes is None else classes.tolist(),
            "sha256": digest.hexdigest()}
