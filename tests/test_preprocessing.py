"""Standardizing features with the training statistics, and storing them."""

from __future__ import annotations

import json

import numpy as np
import pytest

from nnbackend.data.preprocessing import Standardizer
from nnbackend.errors import NNBackendError


def test_standardizer_uses_training_statistics_only():
    train = np.array([[1.0, 10.0, 5.0], [3.0, 30.0, 5.0]])
    test = np.array([[5.0, 0.0, 7.0]])
    scaler = Standardizer.fit(train)
    np.testing.assert_array_equal(scaler.mean, [2.0, 20.0, 5.0])
    np.testing.assert_array_equal(scaler.scale, [1.0, 10.0, 1.0])  # constant column: 1
    np.testing.assert_array_equal(scaler.transform(train), [[-1, -1, 0], [1, 1, 0]])
    np.testing.assert_array_equal(scaler.transform(test), [[3.0, -2.0, 2.0]])
    np.testing.assert_allclose(scaler.inverse_transform(scaler.transform(test)), test)


def test_standardizer_dict_round_trip_is_json_ready():
    scaler = Standardizer.fit(np.random.default_rng(1).normal(3.0, 2.0, size=(50, 4)))
    again = Standardizer.from_dict(json.loads(json.dumps(scaler.to_dict())))
    np.testing.assert_array_equal(again.mean, scaler.mean)
    np.testing.assert_array_equal(again.scale, scaler.scale)


@pytest.mark.parametrize("record", [
    {"kind": "minmax", "mean": [0.0], "scale": [1.0]},
    {"kind": "standardize", "mean": [0.0, 1.0], "scale": [1.0]},
    {"kind": "standardize", "mean": [0.0], "scale": [0.0]},
    {"kind": "standardize", "mean": ["x"], "scale": [1.0]},
    {"kind": "standardize", "mean": [0.0]},
    [1, 2],
])
def test_standardizer_refuses_bad_records(record):
    with pytest.raises(NNBackendError,
                       match=r"^invalid standardization record .*save the model again$"):
        Standardizer.from_dict(record)


def test_standardizer_refuses_other_feature_counts():
    scaler = Standardizer.fit(np.ones((3, 2)))
    with pytest.raises(NNBackendError,
                       match=r"fitted on 2 features; use data with the training columns"):
        scaler.transform(np.ones((3, 3)))
    with pytest.raises(NNBackendError, match=r"non-empty 2-D array"):
        Standardizer.fit(np.ones(3))


def test_standardization_of_huge_features_stays_finite() -> None:
    """Squares of 1e200 overflow; the fit scales columns first instead of saving inf."""
    import numpy as np

    from nnbackend.data.preprocessing import Standardizer

    X = np.array([[1e200, 1.0], [-1e200, 2.0], [3e200, 3.0]])
    scaler = Standardizer.fit(X)
    assert np.isfinite(scaler.scale).all() and np.isfinite(scaler.mean).all()
    Z = scaler.transform(X)
    np.testing.assert_allclose(Z.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=0), 1.0, rtol=1e-12)
    Standardizer.from_dict(scaler.to_dict())  # a model file can store it
