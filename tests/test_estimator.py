"""NNClassifier / NNRegressor: scikit-learn conventions, and arrays in = arrays out.

scikit-learn is optional: the tests that need it skip without it. Its array-API checks
run only when ``SCIPY_ARRAY_API=1`` is set before SciPy is imported (they skip otherwise):

    SCIPY_ARRAY_API=1 python -m pytest tests/test_estimator.py
"""

from __future__ import annotations

import inspect
import pickle
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace, device

from nnbackend.core.backend import Backend, cuda_status
from nnbackend.data.datasets import flower
from nnbackend.errors import NNBackendError
from nnbackend.estimator import DataConversionWarning, NNClassifier, NNRegressor, NotFittedError

from .helpers import assert_on_backend, tolerance

#: Short runs keep scikit-learn's ~75 checks per estimator to a few seconds.
FAST: dict[str, Any] = {"iterations": 200, "device": "cpu"}

#: scikit-learn checks these estimators fail on purpose: check name -> reason.
EXPECTED_FAILED_CHECKS = {
    "check_array_api_same_namespace": (
        "by design, predict accepts any array library and returns its outputs in the "
        "library and on the device of the X it is given, instead of requiring the "
        "namespace used in fit"
    ),
}

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def flower_data() -> tuple[np.ndarray, np.ndarray]:
    """The notes' flower: X (400, 2) float64, y (400,) int64 labels 0/1."""
    return flower()


def regression_data(n: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A smooth target of two features, about unit scale."""
    rng = np.random.RandomState(0)
    X = rng.uniform(-2, 2, size=(n, 2))
    y = np.sin(X[:, 0]) + 0.5 * X[:, 1]
    return X, y


def to_numpy(x: Any) -> np.ndarray:
    """A host copy of an array of any library (for comparisons only)."""
    if isinstance(x, np.ndarray):
        return x
    if hasattr(x, "detach"):  # torch
        return x.detach().cpu().numpy()
    if hasattr(x, "get"):  # cupy
        return x.get()
    cpu = array_namespace(x).__array_namespace_info__().default_device()
    return np.asarray(x.to_device(cpu))


# ----------------------------------------------------------------------------------------
# scikit-learn's own estimator checks

def _parametrize_with_checks() -> Any:
    """scikit-learn's check parametrizer for both estimators, or None without
    scikit-learn >= 1.6 (the first with ``expected_failed_checks``)."""
    try:
        from sklearn.utils.estimator_checks import parametrize_with_checks
    except ImportError:  # scikit-learn is optional
        return None
    options = inspect.signature(parametrize_with_checks).parameters
    if "expected_failed_checks" not in options:
        return None
    strict = {"xfail_strict": True} if "xfail_strict" in options else {}  # >= 1.8
    with warnings.catch_warnings():
        # "does not inherit from BaseEstimator": on purpose, sklearn stays optional.
        warnings.simplefilter("ignore", UserWarning)
        return parametrize_with_checks(
            [NNClassifier(**FAST), NNRegressor(**FAST)],
            expected_failed_checks=lambda estimator: EXPECTED_FAILED_CHECKS,
            **strict,
        )


_checks = _parametrize_with_checks()

if _checks is not None:

    @_checks
    @pytest.mark.filterwarnings("ignore::UserWarning")
    def test_sklearn_estimator_checks(estimator: Any, check: Any) -> None:
        check(estimator)

else:

    def test_sklearn_estimator_checks() -> None:
        pytest.skip("scikit-learn >= 1.6 is not installed")


def test_pipeline_and_cross_val_score_on_flower(flower_data: Any) -> None:
    pytest.importorskip("sklearn")
    from sklearn.model_selection import StratifiedKFold, cross_val_score
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler

    X, y = flower_data
    pipe = Pipeline([("scale", StandardScaler()),
                     ("nn", NNClassifier(iterations=1500, device="cpu"))])
    folds = StratifiedKFold(n_splits=4, shuffle=True, random_state=0)
    scores = cross_val_score(pipe, X, y, cv=folds)
    assert scores.mean() > 0.8, scores


def test_grid_search_clones_and_sets_params(flower_data: Any) -> None:
    pytest.importorskip("sklearn")
    from sklearn.base import clone, is_classifier, is_regressor
    from sklearn.model_selection import GridSearchCV

    X, y = flower_data
    search = GridSearchCV(NNClassifier(**FAST), {"hidden_layer_sizes": [(2,), (4,)]}, cv=3)
    search.fit(X, y)
    assert search.best_params_["hidden_layer_sizes"] in [(2,), (4,)]
    twin = clone(NNClassifier(hidden_layer_sizes=(8, 3), learning_rate=0.5))
    assert twin.get_params()["hidden_layer_sizes"] == (8, 3)
    assert is_classifier(NNClassifier()) and is_regressor(NNRegressor())


def test_scores_match_sklearn_metrics(flower_data: Any) -> None:
    pytest.importorskip("sklearn")
    from sklearn.metrics import accuracy_score, r2_score

    X, y = flower_data
    weights = np.linspace(0.5, 2.0, X.shape[0])
    clf = NNClassifier(**FAST).fit(X, y)
    assert clf.score(X, y) == pytest.approx(accuracy_score(y, clf.predict(X)))
    assert clf.score(X, y, weights) == pytest.approx(
        accuracy_score(y, clf.predict(X), sample_weight=weights))
    Xr, yr = regression_data()
    Y2 = np.stack([yr, 2 * yr], axis=1)
    reg = NNRegressor(**FAST).fit(Xr, Y2)
    assert reg.score(Xr, Y2) == pytest.approx(r2_score(Y2, reg.predict(Xr)))
    w = weights[: Xr.shape[0]]
    assert reg.score(Xr, Y2, w) == pytest.approx(
        r2_score(Y2, reg.predict(Xr), sample_weight=w))


# ----------------------------------------------------------------------------------------
# Conventions that hold without scikit-learn


def test_works_without_sklearn() -> None:
    """With scikit-learn unimportable: import, fit, predict, pickle, errors all work."""
    code = """
import sys
sys.modules["sklearn"] = None  # any import of sklearn now raises ImportError
import pickle
import nnbackend.estimator as est
from nnbackend.data.datasets import flower
X, y = flower()
try:
    est.NNClassifier().predict(X)
except est.NotFittedError as exc:
    assert isinstance(exc, ValueError) and isinstance(exc, AttributeError)
clf = est.NNClassifier(iterations=50, device="cpu").fit(X, y)
again = pickle.loads(pickle.dumps(clf))
assert (again.predict(X) == clf.predict(X)).all()
print("ok", clf.score(X, y))
"""
    # (PYTHONPATH, set by tests/conftest.py, makes the child import this checkout.)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ok")


def test_not_fitted_error(flower_data: Any) -> None:
    X, _ = flower_data
    for estimator in (NNClassifier(), NNRegressor()):
        with pytest.raises(NotFittedError, match="not fitted yet; call fit") as info:
            estimator.predict(X)
        assert isinstance(info.value, ValueError) and isinstance(info.value, AttributeError)
        assert isinstance(info.value, NNBackendError)
        if "sklearn.exceptions" in sys.modules:
            from sklearn.exceptions import NotFittedError as SklearnNotFittedError

            assert isinstance(info.value, SklearnNotFittedError)
    with pytest.raises(NotFittedError):
        NNClassifier().predict_proba(X)
    assert not hasattr(NNClassifier(), "classes_")


def test_feature_count_mismatch_names_both_counts(flower_data: Any) -> None:
    X, y = flower_data
    clf = NNClassifier(**FAST).fit(X, y)
    wider = np.hstack([X, X[:, :1]])
    for method in (clf.predict, clf.predict_proba):
        with pytest.raises(ValueError, match="X has 3 features, but NNClassifier is "
                                             "expecting 2 features as input"):
            method(wider)


@pytest.mark.parametrize("names", [["no", "yes"], ["cat", "dog", "emu"]])
def test_string_labels_round_trip(flower_data: Any, names: list[str]) -> None:
    X, y = flower_data
    if len(names) == 3:
        y = np.where(X[:, 0] > 1.0, 2, y)  # a third class: the right-hand petals
    labels = np.asarray(names)[y]
    clf = NNClassifier(**FAST).fit(X, labels.tolist())
    np.testing.assert_array_equal(clf.classes_, np.asarray(sorted(names)))
    predicted = clf.predict(X)
    assert predicted.dtype.kind == "U" and set(predicted) <= set(names)
    proba = clf.predict_proba(X)
    assert proba.shape == (X.shape[0], len(names))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_array_equal(clf.classes_[np.argmax(proba, axis=1)], predicted)
    assert clf.score(X, labels) > 0.6


def test_binary_proba_columns_are_one_minus_p_and_p(flower_data: Any) -> None:
    X, y = flower_data
    clf = NNClassifier(**FAST).fit(X, y)
    proba = clf.predict_proba(X)
    p = clf.network_.predict_proba(clf.backend_.asarray(X))[:, 0]
    np.testing.assert_allclose(proba[:, 1], p)
    np.testing.assert_allclose(proba[:, 0], 1.0 - p)
    assert clf.n_outputs_ == 1 and clf.n_iter_ == 200 and clf.n_features_in_ == 2


def test_defaults_reproduce_the_notes_run(flower_data: Any) -> None:
    """lr 1.2, tanh 4 hidden units, small init, seed 3: the notes' flower network."""
    X, y = flower_data
    clf = NNClassifier(iterations=1001, device="cpu").fit(X, y)
    assert clf.network_.layer_sizes == (2, 4, 1)
    assert [r["iteration"] for r in clf.history_] == [0, 1000]
    assert clf.loss_curve_[0] == pytest.approx(0.693, abs=1e-3)  # log 2 from tiny weights
    assert clf.loss_curve_[1] < 0.4
    assert clf.score(X, y) > 0.85


def test_column_vector_y(flower_data: Any) -> None:
    X, y = flower_data
    flat = NNClassifier(**FAST).fit(X, y)
    with pytest.warns(DataConversionWarning, match="column-vector y"):
        column = NNClassifier(**FAST).fit(X, y[:, None])
    np.testing.assert_array_equal(flat.predict(X), column.predict(X))
    Xr, yr = regression_data()
    reg = NNRegressor(**FAST).fit(Xr, yr[:, None])  # regression: 2-D y, 2-D predictions
    assert reg.predict(Xr).shape == (Xr.shape[0], 1)
    assert NNRegressor(**FAST).fit(Xr, yr).predict(Xr).shape == (Xr.shape[0],)


def test_regressor_learns_a_smooth_target() -> None:
    X, y = regression_data()
    reg = NNRegressor(iterations=2000, device="cpu").fit(X, y)
    assert reg.score(X, y) > 0.9
    two = NNRegressor(**FAST).fit(X, np.stack([y, -y], axis=1))
    assert two.predict(X).shape == (X.shape[0], 2) and two.n_outputs_ == 2


def test_get_params_set_params_and_repr() -> None:
    clf = NNClassifier(hidden_layer_sizes=(8, 3), iterations=50)
    params = clf.get_params()
    assert params["hidden_layer_sizes"] == (8, 3) and params["learning_rate"] == 1.2
    assert NNRegressor().get_params()["learning_rate"] == 0.1
    assert clf.set_params(learning_rate=0.5, dtype="float32") is clf
    assert clf.learning_rate == 0.5
    assert repr(clf) == ("NNClassifier(hidden_layer_sizes=(8, 3), learning_rate=0.5, "
                         "iterations=50, dtype='float32')")
    with pytest.raises(NNBackendError, match="has no setting 'lr'; did you mean learning_rate"):
        clf.set_params(lr=0.1)
    # Stored unmodified, checked only in fit (scikit-learn's convention).
    odd = NNClassifier(hidden_layer_sizes="big", learning_rate=-1)
    assert odd.hidden_layer_sizes == "big"


@pytest.mark.parametrize("estimator", [NNClassifier, NNRegressor])
def test_an_unknown_constructor_keyword_names_the_estimator(estimator: type) -> None:
    # Python's own TypeError, as for every scikit-learn estimator: naming the class the
    # user called, not the class that holds the parameters.
    with pytest.raises(TypeError, match=rf"^{estimator.__name__}\.__init__\(\) got an "
                                        "unexpected keyword argument 'lr'$"):
        estimator(lr=0.1)


@pytest.mark.parametrize(("params", "message"), [
    ({"hidden_layer_sizes": (4, 0)}, "hidden_layer_sizes must be a tuple of positive"),
    ({"hidden_layer_sizes": "big"}, "hidden_layer_sizes must be a tuple of positive"),
    ({"batch_size": 0}, "^batch_size must be >= 1, got 0$"),
    ({"iterations": 10, "epochs": 2}, "^give iterations or epochs, not both$"),
    ({"patience": 3}, "patience only applies with validation_fraction; drop it, or set "
                      "validation_fraction"),
    ({"validation_fraction": 1.5}, "^validation_fraction must be in \\(0, 1\\)"),
    ({"learning_rate": "fast"}, "learning_rate must be a finite number"),
    ({"keep_prob": 0.0}, "^keep_prob must be in \\(0, 1\\]"),
    ({"activation": "swish"}, "unknown activation 'swish'"),
    ({"optimizer": "sgd"}, "unknown optimizer 'sgd'"),
    ({"random_state": "seed"}, "random_state must be an integer"),
    ({"backend": "mxnet"}, "unknown backend 'mxnet'"),
])
def test_bad_parameters_fail_in_fit_with_one_line(flower_data: Any, params: dict,
                                                  message: str) -> None:
    X, y = flower_data
    with pytest.raises(NNBackendError, match=message) as info:
        NNClassifier(**{**FAST, **params}).fit(X, y)
    assert "\n" not in str(info.value) and "--" not in str(info.value)


@pytest.mark.parametrize(("X", "y", "message"), [
    (np.ones(5), [0, 1, 0, 1, 0], "Reshape your data"),
    (np.ones((4, 2)), [0, 1, 0], "X has 4 examples but y has 3"),
    (np.ones((4, 2)), None, "requires y to be passed"),
    (np.ones((4, 2)), [0.5, 1.5, 2.5, 3.5], "Unknown label type: continuous"),
    (np.ones((4, 2)), [1, 1, 1, 1], "at least two classes, but y has 1 class"),
    (np.array([[1.0, np.nan], [0.0, 1.0]]), [0, 1], "NaN or inf"),
    (np.ones((2, 2)) + 1j, [0, 1], "Complex data not supported"),
    (np.empty((3, 0)), [0, 1, 0], r"0 feature\(s\)"),
])
def test_bad_data_fails_with_one_line(X: Any, y: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message) as info:
        NNClassifier(**FAST).fit(X, y)
    assert "\n" not in str(info.value)


def test_non_numeric_features_raise_type_error() -> None:
    X = np.ones((4, 2), dtype=object)
    X[0, 0] = {"a": 1}
    with pytest.raises(TypeError, match="features must be numbers"):
        NNClassifier(**FAST).fit(X, [0, 1, 0, 1])
    with pytest.raises(NNBackendError, match="regression targets|targets must be numbers"):
        NNRegressor(**FAST).fit(np.ones((2, 1)), ["a", "b"])


def test_validation_and_early_stopping(flower_data: Any) -> None:
    X, y = flower_data
    clf = NNClassifier(epochs=30, batch_size=64, optimizer="adam", learning_rate=0.01,
                       validation_fraction=0.25, patience=2, device="cpu").fit(X, y)
    assert all("val_cost" in record for record in clf.history_)
    assert clf.n_iter_ <= 30 * 5 and clf.stop_reason_
    assert clf.loss_curve_ == [record["cost"] for record in clf.history_]


def test_same_seed_same_model_and_pickle_round_trip(flower_data: Any) -> None:
    X, y = flower_data
    first = NNClassifier(**FAST).fit(X, y)
    second = NNClassifier(**FAST).fit(X, y)
    np.testing.assert_array_equal(first.predict_proba(X), second.predict_proba(X))
    again = pickle.loads(pickle.dumps(first))
    np.testing.assert_array_equal(again.predict_proba(X), first.predict_proba(X))
    assert again.backend_ == first.backend_


def test_divergence_raises_with_the_fix() -> None:
    X, y = regression_data()
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # and no overflow warnings
        with pytest.raises(NNBackendError, match="training diverged.*lower learning_rate"):
            NNRegressor(learning_rate=50.0, iterations=100, device="cpu").fit(X, 100 * y)


def test_model_fitted_on_a_missing_device_loads_on_the_cpu(flower_data: Any) -> None:
    X, y = flower_data
    clf = NNClassifier(**FAST).fit(X, y)
    state = clf.__getstate__()
    state["_model_state"]["backend"] = {"backend": "cupy", "device": "cuda:7",
                                          "dtype": "float64"}
    if cuda_status().device_count > 7:
        pytest.skip("this machine has a cuda:7")
    moved = NNClassifier.__new__(NNClassifier)
    with pytest.warns(RuntimeWarning, match="fitted on cupy on cuda:7.*loaded on numpy"):
        moved.__setstate__(state)
    np.testing.assert_array_equal(moved.predict_proba(X), clf.predict_proba(X))


# ----------------------------------------------------------------------------------------
# Arrays in, arrays out, on every backend of the suite


def follow(backend: Backend) -> dict[str, Any]:
    """Settings that train on ``backend`` for its inputs: none (the input's library and
    device are followed), except for NumPy, where ``auto`` could pick a GPU."""
    return {"device": "cpu"} if backend.name == "numpy" else {}


def test_classifier_on_backend(backend: Backend, reference: Backend, flower_data: Any) -> None:
    """X from ``backend.asarray``: training runs there, outputs come back there, and the
    predictions agree with the NumPy float64 run."""
    X, y = flower_data
    Xb, yb = backend.asarray(X), backend.asarray(y, dtype="int64")
    clf = NNClassifier(iterations=150, **follow(backend)).fit(Xb, yb)
    assert (clf.backend_.name, clf.backend_.device) == (backend.name, backend.device)
    assert clf.backend_.dtype_name == backend.dtype_name
    proba = clf.predict_proba(Xb)
    assert_on_backend(proba, backend)
    predicted = clf.predict(Xb)
    assert_on_backend(predicted, backend, dtype=backend.xp.int64)

    ref = NNClassifier(iterations=150, device="cpu").fit(X, y)
    assert ref.backend_.describe() == reference.describe()
    ref_proba = ref.predict_proba(X)
    tol = tolerance(backend)
    np.testing.assert_allclose(to_numpy(proba), ref_proba, rtol=tol, atol=tol)
    sure = np.abs(ref_proba[:, 1] - 0.5) > 100 * tol
    np.testing.assert_array_equal(to_numpy(predicted)[sure], ref.predict(X)[sure])
    assert clf.score(Xb, yb) == pytest.approx(ref.score(X, y), abs=0.01)


def test_regressor_on_backend(backend: Backend, reference: Backend) -> None:
    X, y = regression_data()
    Xb, yb = backend.asarray(X), backend.asarray(y)
    reg = NNRegressor(iterations=150, **follow(backend)).fit(Xb, yb)
    predicted = reg.predict(Xb)
    assert_on_backend(predicted, backend)
    assert predicted.shape == (X.shape[0],)
    ref = NNRegressor(iterations=150, device="cpu").fit(X, y)
    tol = tolerance(backend)
    np.testing.assert_allclose(to_numpy(predicted), ref.predict(X), rtol=tol, atol=tol)


def test_explicit_backend_returns_to_the_callers_library(backend: Backend,
                                                          flower_data: Any) -> None:
    """backend='numpy' set: training runs on NumPy, outputs still go back to X's library,
    device and dtype."""
    X, y = flower_data
    Xb = backend.asarray(X)
    clf = NNClassifier(iterations=50, backend="numpy", device="cpu").fit(Xb, y)
    assert clf.backend_.name == "numpy"
    assert_on_backend(clf.predict_proba(Xb), backend)
    assert isinstance(clf.predict(X), np.ndarray)  # NumPy in, NumPy out
    labels = np.asarray(["no", "yes"])[y]
    named = NNClassifier(iterations=50).fit(Xb, labels)
    assert isinstance(named.predict(Xb), np.ndarray)  # string labels stay NumPy


def test_numpy_float32_in_float32_out(flower_data: Any) -> None:
    X, y = flower_data
    clf = NNClassifier(**FAST).fit(X.astype(np.float32), y)
    assert clf.backend_.dtype_name == "float32"
    assert clf.predict_proba(X.astype(np.float32)).dtype == np.float32
    pinned = NNClassifier(**FAST, dtype="float64").fit(X.astype(np.float32), y)
    assert pinned.predict_proba(X).dtype == np.float64


def test_strict_device_survives_pickle(flower_data: Any) -> None:
    xp = pytest.importorskip("array_api_strict")
    X, y = flower_data
    dev = xp.Device("device1")
    Xs = xp.asarray(X, device=dev)
    clf = NNClassifier(iterations=50).fit(Xs, y)
    again = pickle.loads(pickle.dumps(clf))
    assert again.backend_.device == dev and device(again.predict_proba(Xs)) == dev
    np.testing.assert_array_equal(to_numpy(again.predict_proba(Xs)),
                                  to_numpy(clf.predict_proba(Xs)))
