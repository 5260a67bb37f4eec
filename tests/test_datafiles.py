"""Reading the user's data files: CSV, NPZ and NPY, and every way they can be wrong."""

from __future__ import annotations

import zipfile

import numpy as np
import pytest

from nnbackend.data.files import npy_labels_path, read_data_file
from nnbackend.errors import NNBackendError


def one_line_error(match: str):
    """``pytest.raises`` for an NNBackendError whose message is one line matching ``match``."""
    return pytest.raises(NNBackendError, match=match)


def check_one_line(info: pytest.ExceptionInfo) -> None:
    assert "\n" not in str(info.value)


def write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


# ---- CSV -----------------------------------------------------------------------------


def test_csv_last_column_is_the_default_target(tmp_path):
    spec = write(tmp_path / "d.csv", "a,b,label\n1,2.5,0\n-3,4e1,1\n\n5, 6 ,1\n")
    X, y = read_data_file(spec)
    np.testing.assert_array_equal(X, [[1.0, 2.5], [-3.0, 40.0], [5.0, 6.0]])
    assert X.dtype == np.float64
    assert y.tolist() == [0, 1, 1] and y.dtype == np.int64


def test_csv_named_target_with_class_names_and_bom(tmp_path):
    spec = write(tmp_path / "d.csv", "\ufeffspecies,len,width\ncat,1,2\ndog,3,4\ncat,5,6\n")
    X, y = read_data_file(spec, "species")
    np.testing.assert_array_equal(X, [[1, 2], [3, 4], [5, 6]])
    assert y.tolist() == ["cat", "dog", "cat"] and y.dtype.kind == "U"


def test_csv_real_valued_target_stays_float(tmp_path):
    _, y = read_data_file(write(tmp_path / "d.csv", "x,y\n1,0.5\n2,1.25\n"))
    assert y.dtype == np.float64 and y.tolist() == [0.5, 1.25]


def test_csv_quoted_fields(tmp_path):
    X, y = read_data_file(write(tmp_path / "d.csv", 'x,"the, label"\n"1.5","a, b"\n2,c\n'),
                          "the, label")
    assert X[:, 0].tolist() == [1.5, 2.0] and y.tolist() == ["a, b", "c"]


@pytest.mark.parametrize(("text", "target", "match"), [
    ("", None, r"d\.csv is empty; it needs a header row"),
    ("\n\n", None, r"d\.csv is empty"),
    ("a,b\n", None, r"d\.csv has a header but no data rows; the data is empty$"),
    ("a,b\n1,2\n3\n", None, r"malformed CSV .*d\.csv: line 3 has 1 fields but the header "
                            r"has 2; fix that line$"),
    ("a,b\n1,2\n3,4,5\n", None, r"line 3 has 3 fields"),
    ("a,color,y\n1,red,0\n", None, r"feature column 'color' in .*d\.csv is not numeric "
                                   r"\('red' on line 2\); encode it as numbers or drop"),
    ("a,b,y\n1,2,0\n1,,1\n", None, r"feature column 'b' .* not numeric \(an empty cell on "
                                   r"line 3\)"),
    ("a,b,y\n1,2,0\n3,nan,1\n", None, r"feature column 'b' in .*d\.csv has nan on line 3; "
                                      r"clean or impute"),
    ("a,b,y\n1,inf,0\n", None, r"feature column 'b' .* has inf on line 2"),
    ("a,b,y\n1,2,0\n", "label", r"no column 'label' in .*d\.csv; its columns are: a, b, y$"),
    ("y\n1\n", None, r"has only the column 'y'; it needs at least one feature column"),
    ("a,a,y\n1,2,0\n", None, r"column 'a' appears twice in the header"),
    ("a,y\n1,0\n2,\n", None, r"target column 'y' in .*d\.csv is empty on line 3"),
    ("a,y\n1,0\n2,nan\n", None, r"target column 'y' .* has NaN or inf on line 3"),
    ('a,y\n1,"0\n', None, r"malformed CSV .*d\.csv \(line 2: unexpected end of data\); "
                        r"fix the quoting$"),
    ('a,y\n1,"0"x\n', None, r"malformed CSV .*d\.csv \(line 2: .*\); fix the quoting$"),
])
def test_csv_errors_name_the_file_and_the_fix(tmp_path, text, target, match):
    spec = write(tmp_path / "d.csv", text)
    with one_line_error(match) as info:
        read_data_file(spec, target)
    check_one_line(info)


def test_csv_that_is_not_text(tmp_path):
    path = tmp_path / "d.csv"
    path.write_bytes(b"a,b\n\xff\xfe\x00,1\n")
    with one_line_error(r"cannot read .*d\.csv as CSV: byte \d+ is not UTF-8 text; save it "
                        r"as UTF-8 CSV$"):
        read_data_file(str(path))


# ---- NPZ and NPY ---------------------------------------------------------------------


def test_npz_round_trip(tmp_path):
    X = np.arange(12.0).reshape(6, 2)
    y = np.array([0, 1, 0, 1, 1, 0])
    np.savez(tmp_path / "d.npz", X=X, y=y)
    X2, y2 = read_data_file(str(tmp_path / "d.npz"))
    np.testing.assert_array_equal(X2, X)
    np.testing.assert_array_equal(y2, y)
    # Integer features become float64; a (m, 1) label column becomes (m,).
    np.savez(tmp_path / "i.npz", X=X.astype(np.int32), y=y.reshape(-1, 1))
    X3, y3 = read_data_file(str(tmp_path / "i.npz"))
    assert X3.dtype == np.float64 and y3.shape == (6,)


@pytest.mark.parametrize(("features", "labels"), [("X.npy", "y.npy"),
                                                  ("X_train.npy", "y_train.npy"),
                                                  ("feats.npy", "feats_y.npy")])
def test_npy_sibling_labels_convention(tmp_path, features, labels):
    X = np.random.default_rng(0).normal(size=(5, 3))
    y = np.array(["a", "b", "a", "b", "b"])
    np.save(tmp_path / features, X)
    np.save(tmp_path / labels, y)
    assert npy_labels_path(tmp_path / features) == tmp_path / labels
    X2, y2 = read_data_file(str(tmp_path / features))
    np.testing.assert_array_equal(X2, X)
    assert y2.tolist() == y.tolist()


def test_npy_explicit_pair(tmp_path):
    np.save(tmp_path / "a.npy", np.ones((4, 2)))
    np.save(tmp_path / "b.npy", np.arange(4))
    X, y = read_data_file(f"{tmp_path / 'a.npy'}, {tmp_path / 'b.npy'}")
    assert X.shape == (4, 2) and y.tolist() == [0, 1, 2, 3]


def test_npz_with_pickled_objects_is_refused(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.array([[1.0, {"a": 1}]], dtype=object), y=np.array([0]))
    with one_line_error(r"array X in .*d\.npz holds Python objects, which nnbackend never "
                        r"unpickles; save plain numeric arrays"):
        read_data_file(str(tmp_path / "d.npz"))


def test_npy_with_pickled_objects_is_refused(tmp_path):
    np.save(tmp_path / "X.npy", np.array([[1, "a"]], dtype=object))
    np.save(tmp_path / "y.npy", np.array([0]))
    with one_line_error(r"X\.npy holds Python objects, which nnbackend never unpickles"):
        read_data_file(str(tmp_path / "X.npy"))


def test_a_pickle_named_npz_is_not_unpickled(tmp_path):
    import pickle

    path = tmp_path / "d.npz"
    path.write_bytes(pickle.dumps({"X": [[1.0]], "y": [0]}))
    with one_line_error(r"d\.npz is not a NumPy \.npy/\.npz file \(nnbackend never "
                        r"unpickles\); save it with numpy\.savez"):
        read_data_file(str(path))


def test_npz_missing_an_array(tmp_path):
    np.savez(tmp_path / "d.npz", features=np.ones((2, 2)), y=np.array([0, 1]))
    with one_line_error(r"d\.npz has no array X \(it has: features, y\); save it with "
                        r"numpy\.savez\(path, X=X, y=y\)$"):
        read_data_file(str(tmp_path / "d.npz"))


def test_truncated_npz(tmp_path):
    np.savez(tmp_path / "full.npz", X=np.ones((50, 4)), y=np.zeros(50))
    data = (tmp_path / "full.npz").read_bytes()
    (tmp_path / "d.npz").write_bytes(data[: len(data) // 2])
    with one_line_error(r"cannot read .*d\.npz: the file is corrupted or truncated"):
        read_data_file(str(tmp_path / "d.npz"))


def test_corrupted_member_of_npz(tmp_path):
    np.savez(tmp_path / "d.npz", X=np.ones((50, 4)), y=np.zeros(50))
    with zipfile.ZipFile(tmp_path / "d.npz") as archive:
        info = archive.getinfo("X.npy")
    data = bytearray((tmp_path / "d.npz").read_bytes())
    data[info.header_offset + 30 + len(info.filename) + 200] ^= 0xFF  # inside X's bytes
    (tmp_path / "d.npz").write_bytes(bytes(data))
    with one_line_error(r"cannot read array X in .*d\.npz: the file is corrupted"):
        read_data_file(str(tmp_path / "d.npz"))


@pytest.mark.parametrize(("X", "y", "match"), [
    (np.ones((3, 2)), np.zeros(4), r"X has 3 rows but y has 4; they must have one label"),
    (np.zeros((0, 2)), np.zeros(0), r"features X in .* are empty \(shape \(0, 2\)\)"),
    (np.array([[1.0, np.nan], [0.0, 0.0]]), np.zeros(2),
     r"features X in .* contain nan at row 0, column 1; clean or impute"),
    (np.ones(3), np.zeros(3), r"must be 2-D .*for one feature save X\.reshape\(-1, 1\)"),
    (np.array([["a", "b"]]), np.zeros(1), r"features X in .* must be numbers, got dtype <U1"),
    (np.ones((2, 2)), np.zeros((2, 2, 2)), r"labels y in .* must be a 1-D array"),
])
def test_array_content_errors(tmp_path, X, y, match):
    np.savez(tmp_path / "d.npz", X=X, y=y)
    with one_line_error(match) as info:
        read_data_file(str(tmp_path / "d.npz"))
    check_one_line(info)


def test_npy_without_labels_file(tmp_path):
    np.save(tmp_path / "X.npy", np.ones((2, 2)))
    with one_line_error(r"labels file .*y\.npy not found for .*X\.npy; put the labels there "
                        r"or pass FEATURES\.npy,LABELS\.npy$"):
        read_data_file(str(tmp_path / "X.npy"))


def test_npz_given_as_npy(tmp_path):
    np.savez(tmp_path / "full.npz", X=np.ones((2, 2)), y=np.zeros(2))
    (tmp_path / "X.npy").write_bytes((tmp_path / "full.npz").read_bytes())
    np.save(tmp_path / "y.npy", np.zeros(2))
    with one_line_error(r"X\.npy is an \.npz archive, not a single \.npy array; rename it"):
        read_data_file(str(tmp_path / "X.npy"))


def test_missing_file_and_unknown_extension(tmp_path):
    with one_line_error(r"^data file .*nothere\.csv not found; check the path$"):
        read_data_file(str(tmp_path / "nothere.csv"))
    write(tmp_path / "d.txt", "a,b\n1,2\n")
    with one_line_error(r"^unsupported data file type '\.txt' for .*d\.txt; use \.csv, \.npz, "
                        r"\.npy or a built-in data set name$"):
        read_data_file(str(tmp_path / "d.txt"))
    with one_line_error(r"data path .* is not a file"):
        read_data_file(str(tmp_path))
