"""``read_features``: data for an existing model, where the labels are optional."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.data.files import read_data_file, read_features
from nnbackend.errors import NNBackendError


def write(path, text: str) -> str:
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_csv_with_exactly_n_columns_is_all_features(tmp_path):
    X, y = read_features(write(tmp_path / "d.csv", "a,b\n1,2\n3,4.5\n"), 2)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4.5]])
    assert y is None


def test_csv_with_one_feature_column(tmp_path):
    X, y = read_features(write(tmp_path / "d.csv", "x\n1\n2\n"), 1)
    assert X.shape == (2, 1) and y is None


def test_csv_with_one_more_column_splits_off_the_last_as_labels(tmp_path):
    spec = write(tmp_path / "d.csv", "a,b,label\n1,2,cat\n3,4,dog\n")
    X, y = read_features(spec, 2)
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == ["cat", "dog"]
    expected = read_data_file(spec)
    np.testing.assert_array_equal(X, expected[0])
    assert y.tolist() == expected[1].tolist()


def test_csv_named_target(tmp_path):
    X, y = read_features(write(tmp_path / "d.csv", "label,a,b\n0,1,2\n1,3,4\n"), 2, "label")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4]])
    assert y.tolist() == [0, 1] and y.dtype == np.int64


@pytest.mark.parametrize(("text", "n", "target", "match"), [
    ("a,b,c,d\n1,2,3,4\n", 2, None, r"d\.csv has 4 columns, but the model takes 2 features"),
    ("a\n1\n", 2, None, r"d\.csv has 1 columns, but the model takes 2 features"),
    ("a,b,c\n1,2,3\n", 3, "c", r"has 2 feature columns besides the target 'c', but the "
                               r"model takes 3 features"),
    ("a,b\n1,2\n", 1, "z", r"no column 'z' in .*d\.csv; its columns are: a, b"),
    ("a,a\n1,2\n", 2, None, r"column 'a' appears twice"),
    ("a,b\n1,x\n", 2, None, r"feature column 'b' .* is not numeric"),
])
def test_csv_problems_are_one_line(tmp_path, text, n, target, match):
    with pytest.raises(NNBackendError, match=match) as info:
        read_features(write(tmp_path / "d.csv", text), n, target)
    assert "\n" not in str(info.value)


def test_npz_with_and_without_labels(tmp_path):
    X = np.arange(6.0).reshape(3, 2)
    np.savez(tmp_path / "a.npz", X=X)
    got, y = read_features(str(tmp_path / "a.npz"), 2)
    np.testing.assert_array_equal(got, X)
    assert y is None
    np.savez(tmp_path / "b.npz", X=X, y=np.array([0, 1, 0]))
    assert read_features(str(tmp_path / "b.npz"), 2)[1].tolist() == [0, 1, 0]
    np.savez(tmp_path / "c.npz", features=X)
    with pytest.raises(NNBackendError, match=r"has no array X \(it has: features\)"):
        read_features(str(tmp_path / "c.npz"), 2)
    with pytest.raises(NNBackendError, match=r"target \(--target\) applies to CSV files only"):
        read_features(str(tmp_path / "a.npz"), 2, "y")


def test_npy_labels_come_from_a_sibling_file_when_there_is_one(tmp_path):
    X = np.ones((4, 3))
    np.save(tmp_path / "X.npy", X)
    assert read_features(str(tmp_path / "X.npy"), 3)[1] is None
    np.save(tmp_path / "y.npy", np.array([1, 0, 1, 0]))
    assert read_features(str(tmp_path / "X.npy"), 3)[1].tolist() == [1, 0, 1, 0]
    pair = f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}"
    assert read_features(pair, 3)[0].shape == (4, 3)


@pytest.mark.parametrize("name", ["a.npz", "X.npy", "pair"])
def test_array_files_with_the_wrong_feature_count(tmp_path, name):
    np.savez(tmp_path / "a.npz", X=np.ones((4, 3)))
    np.save(tmp_path / "X.npy", np.ones((4, 3)))
    np.save(tmp_path / "y.npy", np.zeros(4))
    spec = (f"{tmp_path / 'X.npy'},{tmp_path / 'y.npy'}" if name == "pair"
            else str(tmp_path / name))
    with pytest.raises(NNBackendError, match=r"has 3 features, but the model takes 2; use "
                                             r"data with the model's training columns$"):
        read_features(spec, 2)


def test_missing_and_unknown_files(tmp_path):
    with pytest.raises(NNBackendError, match=r"data file .*none\.csv not found"):
        read_features(str(tmp_path / "none.csv"), 2)
    with pytest.raises(NNBackendError, match=r"unsupported data file type '\.txt'"):
        read_features(write(tmp_path / "d.txt", "a,b\n"), 2)
