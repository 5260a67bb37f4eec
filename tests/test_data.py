"""Built-in data and the host-side checks of user data."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.data.datasets import flower, load_dataset
from nnbackend.data.encoding import check_features, encode_targets, infer_task
from nnbackend.errors import NNBackendError


def test_flower_is_the_notes_data_set():
    X, y = flower()
    assert X.shape == (400, 2) and y.shape == (400,)
    assert X.sum() == pytest.approx(10.087983277442, abs=1e-11)
    assert y[:200].tolist() == [0] * 200 and y[200:].tolist() == [1] * 200
    np.testing.assert_array_equal(load_dataset("flower")[0], X)


def test_unknown_data_set_lists_the_built_in_ones():
    with pytest.raises(NNBackendError, match="unknown data set 'no-such-set'.*flower"):
        load_dataset("no-such-set")


@pytest.mark.parametrize(("y", "task"), [
    (np.array([0, 1, 1, 0]), "binary"),
    (np.array(["cat", "dog", "cat"]), "binary"),
    (np.array([0.0, 1.0, 2.0, 1.0]), "multiclass"),
    (np.array([0.5, 1.2, 3.3]), "regression"),
    (np.zeros((4, 2)), "regression"),
])
def test_task_inference(y, task):
    assert infer_task(y) == task


def test_encodings():
    binary = encode_targets(np.array(["no", "yes", "yes"]))
    assert binary.Y.tolist() == [[0.0, 1.0, 1.0]] and binary.classes.tolist() == ["no", "yes"]
    multi = encode_targets(np.array([2, 0, 1, 2]))
    assert multi.Y.shape == (3, 4)
    np.testing.assert_array_equal(multi.Y.argmax(axis=0), [2, 0, 1, 2])
    reg = encode_targets(np.array([[0.5, 1.0], [1.5, 2.0], [2.5, 3.0]]))
    assert reg.task == "regression" and reg.Y.shape == (2, 3) and reg.n_outputs == 2


@pytest.mark.parametrize(("y", "task", "match"), [
    (np.array([0, 1, 2]), "binary", "exactly two classes, found 3; use task multiclass"),
    (np.linspace(0, 1, 50), "binary", "would make 50 classes of 50 examples.*use task "
                                      "regression"),
    (np.array([0.5, 1.5, 2.25]), "binary", "found 3; use task regression"),
    (np.linspace(0, 1, 50), "multiclass", "looks? real-valued; use task regression"),
    (np.array([1, 1, 1]), None, "at least two classes"),
    (np.array([0.5, np.nan]), "regression", "NaN or inf"),
    (np.array([0.0, np.nan, 1.0]), "binary", "NaN or inf"),
    (np.array(["a", "b"]), "regression", "must be numbers"),
    (np.array([0, 1]), "ranking", "unknown task"),
    (np.array([]), None, "non-empty"),
])
def test_labels_that_do_not_fit(y, task, match):
    with pytest.raises(NNBackendError, match=match):
        encode_targets(y, task)


@pytest.mark.parametrize(("X", "match"), [
    (np.array([1.0, 2.0]), "2-D"),
    (np.zeros((0, 3)), "empty"),
    (np.array([[1.0, np.inf], [0.0, 1.0]]), "NaN or inf \\(first in row 0\\)"),
    (np.array([["a", "b"]]), "must be numbers"),
])
def test_bad_features(X, match):
    with pytest.raises(NNBackendError, match=match):
        check_features(X)
