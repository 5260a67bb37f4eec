"""Turn the data options of ``nnbackend train`` into host arrays ready for the device.

Kept apart from the command so that a resumed run rebuilds exactly the same data from the
description stored in its checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..data.datasets import load_data
from ..data.encoding import Targets, check_features, encode_targets, split_validation
from ..data.preprocessing import Standardizer


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

    @property
    def standardization(self) -> dict[str, Any] | None:
        """The scaling to store with the model, or None."""
        return None if self.standardizer is None else self.standardizer.to_dict()


def prepare(spec: DataSpec) -> PreparedData:
    """Load, check, encode, split and (optionally) standardise the data of ``spec``."""
    X_host, y_host = load_data(spec.data, spec.target, seed=spec.data_seed,
                               n_samples=spec.n_samples, noise=spec.noise,
                               n_classes=spec.n_classes)
    features = check_features(X_host)
    targets = encode_targets(y_host, spec.task)
    X_train, Y_train, X_val, Y_val = features, targets.Y, None, None
    if spec.validation_fraction is not None:
        X_train, Y_train, X_val, Y_val = split_validation(
            features, targets.Y, spec.validation_fraction, spec.split_seed)
    scaler = None
    if spec.standardize:
        scaler = Standardizer.fit(X_train)  # the training split only: no leak
        X_train = scaler.transform(X_train)
        X_val = None if X_val is None else scaler.transform(X_val)
    return PreparedData(X_train, Y_train, X_val, Y_val, targets, scaler)
