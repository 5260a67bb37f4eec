"""The built-in data sets: generators, scikit-learn's bundled sets, the registry."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nnbackend.data.datasets import DATASETS, load_data, load_dataset
from nnbackend.errors import NNBackendError

GENERATED = ["moons", "circles", "blobs", "gaussian-quantiles", "spiral", "sine"]
SKLEARN = {"iris": ((150, 4), 3), "wine": ((178, 13), 3), "breast-cancer": ((569, 30), 2),
           "digits": ((1797, 64), 10)}


@pytest.mark.parametrize(("name", "shape", "labels"), [
    ("moons", (200, 2), {0, 1}),
    ("circles", (200, 2), {0, 1}),
    ("blobs", (300, 2), {0, 1, 2}),
    ("gaussian-quantiles", (300, 2), {0, 1, 2}),
    ("spiral", (300, 2), {0, 1, 2}),
])
def test_classification_generators_shapes_and_labels(name, shape, labels):
    X, y = load_dataset(name)
    assert X.shape == shape and X.dtype == np.float64 and np.isfinite(X).all()
    assert y.shape == (shape[0],) and y.dtype == np.int64
    assert set(y.tolist()) == labels
    counts = np.bincount(y)
    assert counts.max() - counts.min() <= 1  # balanced classes
    assert DATASETS[name].task == ("binary" if len(labels) == 2 else "multiclass")


def test_sine_is_a_regression_set_of_one_feature():
    X, y = load_dataset("sine", noise=0.0)
    assert X.shape == (200, 1) and y.shape == (200,) and y.dtype == np.float64
    np.testing.assert_allclose(y, np.sin(X[:, 0]), rtol=0, atol=1e-15)
    assert X.min() >= -np.pi and X.max() <= np.pi
    assert DATASETS["sine"].task == "regression"


@pytest.mark.parametrize("name", GENERATED)
def test_same_seed_same_data_other_seed_other_data(name):
    X0, y0 = load_dataset(name, seed=7)
    X1, y1 = load_dataset(name, seed=7)
    np.testing.assert_array_equal(X0, X1)
    np.testing.assert_array_equal(y0, y1)
    X2, _ = load_dataset(name, seed=8)
    assert not np.array_equal(X0, X2)
    # No seed means the fixed default: built-in data is reproducible by default.
    np.testing.assert_array_equal(load_dataset(name)[0], load_dataset(name, seed=0)[0])


@pytest.mark.parametrize("name", ["moons", "circles", "blobs", "spiral", "sine"])
def test_n_samples_and_noise_are_honoured(name):
    clean = load_dataset(name, n_samples=31, noise=0.0)
    assert clean[0].shape[0] == 31 and clean[1].shape == (31,)
    noisy = load_dataset(name, n_samples=31, noise=0.5)
    noisy_part = 1 if name == "sine" else 0  # sine's noise is on y, the others' on X
    assert not np.allclose(clean[noisy_part], noisy[noisy_part])


def test_noise_free_shapes_are_exact():
    X, y = load_dataset("circles", noise=0.0)
    radius = np.hypot(X[:, 0], X[:, 1])
    np.testing.assert_allclose(radius[y == 0], 1.0)
    np.testing.assert_allclose(radius[y == 1], 0.5)
    X, y = load_dataset("moons", noise=0.0)
    np.testing.assert_allclose(np.hypot(X[y == 0, 0], X[y == 0, 1]), 1.0)
    np.testing.assert_allclose(np.hypot(X[y == 1, 0] - 1.0, X[y == 1, 1] - 0.5), 1.0)


def test_gaussian_quantile_classes_are_rings_by_radius():
    X, y = load_dataset("gaussian-quantiles", n_classes=4, n_samples=400)
    radius = np.hypot(X[:, 0], X[:, 1])
    for k in range(3):
        assert radius[y == k].max() <= radius[y == k + 1].min()


@pytest.mark.parametrize("name", ["blobs", "gaussian-quantiles", "spiral"])
def test_n_classes(name):
    X, y = load_dataset(name, n_classes=5, n_samples=101)
    assert X.shape == (101, 2) and set(y.tolist()) == set(range(5))


def test_spiral_is_the_cs231n_spiral():
    X, y = load_dataset("spiral", noise=0.0)
    for j in range(3):
        arm = X[y == j]
        r = np.hypot(arm[:, 0], arm[:, 1])
        order = np.argsort(r)
        np.testing.assert_allclose(r[order], np.linspace(0.0, 1.0, 100), atol=1e-12)
        t = np.arctan2(arm[order, 0], arm[order, 1])[1:]  # x = r sin t, y = r cos t; r0 = 0
        expected = np.linspace(4.0 * j, 4.0 * (j + 1), 100)[1:]
        np.testing.assert_allclose(np.angle(np.exp(1j * (t - expected))), 0.0, atol=1e-9)


def test_flower_keeps_the_notes_data_and_takes_only_n_samples():
    X, y = load_dataset("flower")
    assert X.sum() == pytest.approx(10.087983277442, abs=1e-11)
    assert load_dataset("flower", n_samples=100)[0].shape == (100, 2)
    with pytest.raises(NNBackendError, match=r"flower data set does not take seed"):
        load_dataset("flower", seed=1)


@pytest.mark.parametrize(("name", "options", "match"), [
    ("moons", {"n_classes": 3}, r"^the moons data set does not take n_classes \(--n-classes\) "
                                r"\(it takes seed \(--data-seed\), n_samples \(--n-samples\), "
                                r"noise \(--noise\)\); drop that option$"),
    ("gaussian-quantiles", {"noise": 0.1}, r"does not take noise"),
    ("iris", {"noise": 0.1, "seed": 1}, r"^the iris data set does not take seed \(--data-seed\), "
                                        r"noise \(--noise\) \(it takes no options\)"),
    ("moons", {"n_samples": 1}, r"^moons needs n_samples to be an integer >= 2, got 1$"),
    ("blobs", {"n_samples": 2, "n_classes": 3}, r"blobs needs n_samples .* >= 3"),
    ("spiral", {"n_classes": 1}, r"spiral needs n_classes to be an integer >= 2"),
    ("circles", {"noise": -0.1}, r"circles needs noise to be a number >= 0"),
    ("flower", {"n_samples": 1}, r"flower needs n_samples"),
    ("nope", {}, r"^unknown data set 'nope'; built-in ones are: flower, moons, .*digits$"),
])
def test_option_errors_are_one_line(name, options, match):
    with pytest.raises(NNBackendError, match=match) as info:
        load_dataset(name, **options)
    assert "\n" not in str(info.value)


def test_registry_describes_every_set_in_one_line():
    assert set(GENERATED) | set(SKLEARN) | {"flower"} == set(DATASETS)
    for info in DATASETS.values():
        assert info.description and "\n" not in info.description
        assert info.task in ("binary", "multiclass", "regression")
        assert set(info.accepts) <= {"seed", "n_samples", "noise", "n_classes"}
    assert {name for name, info in DATASETS.items() if info.requires} == set(SKLEARN)


def test_names_accept_underscores_and_case():
    np.testing.assert_array_equal(load_dataset("Gaussian_Quantiles")[0],
                                  load_dataset("gaussian-quantiles")[0])


@pytest.mark.parametrize("name", list(SKLEARN))
def test_scikit_learn_sets(name):
    pytest.importorskip("sklearn")
    X, y = load_dataset(name)
    shape, n_classes = SKLEARN[name]
    assert X.shape == shape and X.dtype == np.float64
    assert y.shape == (shape[0],) and y.dtype == np.int64
    assert set(y.tolist()) == set(range(n_classes))


def test_scikit_learn_sets_without_scikit_learn(monkeypatch):
    # A None entry in sys.modules makes the import fail as if the package were absent.
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(NNBackendError, match=r"^the breast-cancer data set comes with "
                                             r"scikit-learn.*pip install scikit-learn$"):
        load_dataset("breast-cancer")


def test_load_data_reads_files_and_refuses_builtin_options_for_them(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((2, 2)), y=np.zeros(2))
    assert load_data(str(tmp_path / "d.npz"))[0].shape == (2, 2)
    (tmp_path / "d.csv").write_text("a,b\n1,3\n2,4\n")
    X, y = load_data(str(tmp_path / "d.csv"), target="a")
    assert X.tolist() == [[3.0], [4.0]] and y.tolist() == [1, 2]
    with pytest.raises(NNBackendError, match=r"target \(--target\) applies to CSV files only"):
        load_data(str(tmp_path / "d.npz"), target="y")
    with pytest.raises(NNBackendError,
                       match=r"^noise \(--noise\), seed \(--data-seed\) only apply to "
                             r"built-in data sets, not to the"):
        load_data(str(tmp_path / "d.npz"), seed=1, noise=0.1)


def test_load_data_takes_names_and_their_options():
    X, y = load_data("moons", n_samples=50, seed=3)
    np.testing.assert_array_equal(X, load_dataset("moons", n_samples=50, seed=3)[0])
    with pytest.raises(NNBackendError, match=r"target \(--target\) applies to CSV files only"):
        load_data("moons", target="label")
    with pytest.raises(NNBackendError, match=r"^unknown data set or file 'moon'; built-in "
                                             r"ones are: .*; files must end in .csv"):
        load_data("moon")


@pytest.mark.parametrize("name", ["moons", "circles", "blobs", "gaussian-quantiles", "spiral"])
def test_rows_are_shuffled_so_a_tail_split_sees_every_class(name):
    _, y = load_dataset(name)
    assert set(y[-len(y) // 5:].tolist()) == set(y.tolist())
