"""``Model``: the library's fit / predict / evaluate / save / load, on every backend.

The command line and the estimators are built on it, so these tests pin what they share:
the same numbers as the notes' loop, labels in and labels out, the stored
standardisation applied on every use, and one file format.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from nnbackend import Model, NNBackendError, TrainingOptions, load_dataset
from nnbackend.core.backend import Backend, host_rng
from nnbackend.core.network import Network
from nnbackend.data.encoding import encode_targets
from nnbackend.training.trainer import train


def test_fit_is_the_notes_loop(backend: Backend) -> None:
    """Model.fit on the flower gives the costs of the bare loop on a bare network."""
    X, y = load_dataset("flower")
    model = Model((4,), backend=backend).fit(X, y, iterations=300, print_every=100)
    network = Network.create((2, 4, 1), backend, rng=host_rng(3))
    bare = train(network, backend.asarray(X), backend.asarray(encode_targets(y).Y),
                 TrainingOptions(iterations=300, print_every=100), rng=host_rng(3))
    assert [r["cost"] for r in model.history] == [r["cost"] for r in bare.history]
    assert model.result is not None and model.result.steps == 300
    np.testing.assert_array_equal(backend.to_host(model.network.params["W1"]),
                                  backend.to_host(network.params["W1"]))


def test_labels_in_labels_out_and_evaluate(backend: Backend) -> None:
    X, y = load_dataset("blobs")  # three classes
    names = np.array(["red", "green", "blue"])[y]
    model = Model((8,), hidden_activation="relu", init="he", backend=backend).fit(
        X, names, standardize=True, learning_rate=0.1, epochs=20, batch_size=32,
        optimizer="adam")
    assert model.task == "multiclass" and model.class_list == ["blue", "green", "red"]
    predicted = model.predict(X)
    assert predicted.shape == (X.shape[0],) and set(predicted) <= set(names)
    proba = model.predict_proba(X)
    assert proba.shape == (X.shape[0], 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    scores = model.evaluate(X, names)
    assert scores["accuracy"] == pytest.approx(np.mean(predicted == names))
    assert np.trace(scores["confusion_matrix"]) == scores["correct"]
    assert scores["accuracy"] > 0.9
    with pytest.raises(NNBackendError, match="wrong label set.*purple"):
        model.evaluate(X[:3], ["purple", "red", "red"])


def test_regression_predicts_values_and_r2(backend: Backend) -> None:
    X, y = load_dataset("sine")
    model = Model((16,), backend=backend).fit(X, y, learning_rate=0.05, epochs=30,
                                              batch_size=32, optimizer="adam")
    assert model.task == "regression" and model.classes is None
    assert model.predict(X).shape == (X.shape[0],)
    scores = model.evaluate(X, y)
    assert set(scores) == {"mse", "r2", "cost"}
    assert scores["r2"] > 0.5
    with pytest.raises(NNBackendError, match="predict_proba is for classifiers"):
        model.predict_proba(X)


def test_save_load_round_trip_keeps_everything(backend64: Backend, tmp_path: Path) -> None:
    X, y = load_dataset("moons")
    model = Model((5,), backend=backend64).fit(X, y * 10 + 1, standardize=True,
                                               iterations=200, validation_fraction=0.2)
    path = model.save(tmp_path / "m.npz")
    loaded = Model.load(path, backend=backend64)
    assert loaded.class_list == [1, 11]
    assert loaded.history == model.history and loaded.run["layers"] == [5]
    assert loaded.standardization == model.standardization
    np.testing.assert_array_equal(loaded.predict(X), model.predict(X))
    np.testing.assert_allclose(loaded.predict_proba(X), model.predict_proba(X), rtol=0,
                               atol=0)


def test_fit_from_a_data_set_name_and_refusals(tmp_path: Path) -> None:
    model = Model(device="cpu").fit("flower", iterations=10)
    assert model.n_features == 2 and model.describe() == "2-4-1, tanh hidden, binary"
    with pytest.raises(NNBackendError, match="no network yet"):
        Model(device="cpu").predict(np.zeros((1, 2)))
    with pytest.raises(NNBackendError, match="takes 2"):
        model.predict(np.zeros((1, 3)))
    with pytest.raises(NNBackendError, match="fit needs labels y"):
        Model(device="cpu").fit(np.zeros((4, 2)))
    with pytest.raises(NNBackendError, match="^init_scale must be >= 0, got -1.0$"):
        Model(init_scale=-1.0, device="cpu")
    with pytest.raises(NNBackendError, match="^unknown hidden_activation 'swish'"):
        Model(hidden_activation="swish", device="cpu")
    with pytest.raises(NNBackendError, match="^layers must be positive integers"):
        Model((4, 0), device="cpu")
    with pytest.raises(NNBackendError, match="the data has 3 features"):
        model.fit(np.zeros((4, 3)), [0, 1, 0, 1], iterations=1)


def test_bytes_are_the_model_file(backend64: Backend, tmp_path: Path) -> None:
    """One serialisation path: to_bytes is what save writes, and is checked on reading."""
    X, y = load_dataset("flower")
    model = Model(backend=backend64).fit(X, y, iterations=50)
    data = model.to_bytes()
    assert data == model.save(tmp_path / "m.npz").read_bytes()
    again = Model.from_bytes(data, backend=backend64)
    np.testing.assert_array_equal(again.predict(X), model.predict(X))
    with pytest.raises(NNBackendError, match="corrupted or truncated|not an nnbackend"):
        Model.from_bytes(data[:-10], backend=backend64)
