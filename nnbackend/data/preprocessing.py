"""Feature standardization on the host: ``(X - mean) / std`` with the TRAINING statistics.

The mean and standard deviation are fitted on the training rows only and then applied
unchanged to validation, test and prediction data; fitting on everything would leak the
evaluation data into training. They travel inside the model file (:meth:`to_dict`), so
``predict`` scales new data exactly as training did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import NNBackendError


@dataclass(frozen=True)
class Standardizer:
    """Per-feature ``mean`` and ``scale`` fitted on training data.

    Attributes
    ----------
    mean : ndarray, shape (n_features,)
        float64 column means of the training features.
    scale : ndarray, shape (n_features,)
        float64 column standard deviations; a constant column gets 1 (not 0), so it is
        centred instead of divided by zero.
    """

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, X: np.ndarray) -> Standardizer:
        """Fit on the training features ``X`` of shape ``(m, n_features)`` (host array)."""
        features = np.asarray(X, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] == 0:
            raise NNBackendError(
                f"standardization needs a non-empty 2-D array (examples as rows), got shape "
                f"{features.shape}"
            )
        with np.errstate(over="ignore", invalid="ignore"):
            mean, std = features.mean(axis=0), features.std(axis=0)
        if not (np.isfinite(mean).all() and np.isfinite(std).all()):
            # Squares of values near 1e200 overflow: compute on columns scaled to [-1, 1]
            # by their largest magnitude, then scale back (finite for any finite data).
            peak = np.abs(features).max(axis=0)
            peak = np.where(peak > 0.0, peak, 1.0)
            scaled = features / peak
            mean, std = scaled.mean(axis=0) * peak, scaled.std(axis=0) * peak
        return cls(mean, np.where(std > 0.0, std, 1.0))

    @property
    def n_features(self) -> int:
        """The number of features it was fitted on."""
        return int(self.mean.shape[0])

    def transform(self, X: np.ndarray) -> np.ndarray:
        """``(X - mean) / scale`` for ``X`` of shape ``(m, n_features)``: a new float64 array."""
        features = np.asarray(X, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.n_features:
            raise NNBackendError(
                f"the data has shape {features.shape} but the standardization was fitted on "
                f"{self.n_features} features; use data with the training columns"
            )
        return (features - self.mean) / self.scale

    def inverse_transform(self, X: np.ndarray) -> np.ndarray:
        """Undo :meth:`transform`: ``X * scale + mean``."""
        return np.asarray(X, dtype=np.float64) * self.scale + self.mean

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: ``{"kind": "standardize", "mean": [...], "scale": [...]}``."""
        return {"kind": "standardize", "mean": self.mean.tolist(), "scale": self.scale.tolist()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Standardizer:
        """Rebuild from :meth:`to_dict`'s output, refusing malformed values."""
        try:
            if data.get("kind") != "standardize":
                raise ValueError("kind is not 'standardize'")
            mean = np.asarray(data["mean"], dtype=np.float64)
            scale = np.asarray(data["scale"], dtype=np.float64)
        except (AttributeError, KeyError, TypeError, ValueError) as exc:
            raise NNBackendError(f"invalid standardization record ({exc}); save the model "
                                 "again") from None
        if (mean.ndim != 1 or mean.shape != scale.shape or not np.isfinite(mean).all()
                or not np.isfinite(scale).all() or not (scale > 0).all()):
            raise NNBackendError("invalid standardization record (mean and scale must be "
                                 "finite 1-D lists of one length, scale > 0); save the model "
                                 "again")
        return cls(mean, scale)
