"""Labels are all numbers or all text: ``1``, ``1.0`` and ``one`` are not three classes.
In a CSV ``1`` and ``1.0`` are the same number, so one class; a column mixing numbers and
text is refused in one line naming both and their lines, as are such arrays in Python."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.data.encoding import encode_targets
from nnbackend.data.files import read_data_file
from nnbackend.errors import NNBackendError

from .model_files import assert_one_line_error, invoke


def write(tmp_path, labels: list[str]) -> str:
    rows = "".join(f"{i},{label}\n" for i, label in enumerate(labels))
    path = tmp_path / "d.csv"
    path.write_text("x,label\n" + rows)
    return str(path)


def test_one_and_one_point_zero_are_one_class(tmp_path):
    _, y = read_data_file(write(tmp_path, ["1", "1.0", "2", "2.00", "1"]))
    assert y.dtype == np.int64 and y.tolist() == [1, 1, 2, 2, 1]
    assert encode_targets(y).classes.tolist() == [1, 2]


def test_numbers_and_text_in_a_csv_are_one_line(tmp_path):
    spec = write(tmp_path, ["1", "1.0", "one", "2"])
    with pytest.raises(NNBackendError, match=r"target column 'label' in .*d\.csv mixes "
                       r"numbers and text \(1 on line 2, 'one' on line 4\).*every label as "
                       r"a number or every label as a name$"):
        read_data_file(spec)
    result = invoke("train", "--data", spec, "--iterations", "1")
    assert_one_line_error(result, "mixes numbers and text")


def test_text_labels_stay_text(tmp_path):
    _, y = read_data_file(write(tmp_path, ["cat", "dog", "cat"]))
    assert y.tolist() == ["cat", "dog", "cat"]


@pytest.mark.parametrize(("labels", "match"), [
    (np.array(["1", "1.0", "one"]), r"labels mix numbers and text \('1', 'one'\)"),
    (np.array([1, "one", 2], dtype=object), r"labels mix text and other values \('one', 1\)"),
    (np.array(["1", "1.0", "2"]), r"labels '1' and '1\.0' are the same number written two "
                                  r"ways"),
])
def test_mixed_label_arrays_are_refused(labels, match):
    with pytest.raises(NNBackendError, match=match):
        encode_targets(labels)


def test_plain_label_arrays_are_unchanged():
    assert encode_targets(np.array(["b", "a", "b"])).classes.tolist() == ["a", "b"]
    assert encode_targets(np.array(["1", "2", "1"])).classes.tolist() == ["1", "2"]
    assert encode_targets(np.array(["x", "y"], dtype=object)).classes.tolist() == ["x", "y"]
    assert encode_targets(np.array([0, 1, 1])).classes.tolist() == [0, 1]
