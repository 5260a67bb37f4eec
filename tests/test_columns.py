"""Features matched by column NAME: a model trained on a CSV (or a data frame) stores its
feature and target columns; later data with names is reordered to them, its target column
dropped, and a renamed, missing or unknown column refused in one line. Data without names
(and models without stored names) keep matching by position."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from nnbackend import Model
from nnbackend.data.columns import Columns, select_columns
from nnbackend.errors import NNBackendError
from nnbackend.persistence.models import header_problem, model_to_bytes, read_model

from .model_files import assert_one_line_error, invoke, write_csv


def xy(m: int = 240) -> tuple[np.ndarray, np.ndarray]:
    """Two features on very different scales, the label depending on both."""
    rng = np.random.RandomState(0)
    X = np.c_[rng.randn(m), 10 + 5 * rng.randn(m)]
    return X, (X[:, 0] + 0.2 * (X[:, 1] - 10) > 0).astype(np.int64)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("columns")
    X, y = xy()
    x1, x2 = X[:, 0], X[:, 1]
    written = {
        "train": write_csv(root / "train.csv", ["x1", "x2", "label"], [x1, x2, y]),
        "permuted": write_csv(root / "permuted.csv", ["x2", "x1", "label"], [x2, x1, y]),
        "first": write_csv(root / "first.csv", ["label", "x1", "x2"], [y, x1, x2]),
        "features": write_csv(root / "features.csv", ["x2", "x1"], [x2, x1]),
        "renamed": write_csv(root / "renamed.csv", ["x1", "x_2", "label"], [x1, x2, y]),
        "missing": write_csv(root / "missing.csv", ["x1", "label"], [x1, y]),
        "species": write_csv(root / "species.csv", ["x2", "x1", "species"], [x2, x1, y]),
    }
    np.savez(root / "arrays.npz", X=X, y=y)
    written["arrays"] = root / "arrays.npz"
    for name, data, target in (("m", "train", None), ("t", "first", "label"),
                               ("a", "arrays", None)):
        result = invoke("train", "--data", written[data], "--standardize", "--iterations",
                        "300", "--quiet", "--save", root / f"{name}.npz",
                        *(["--target", target] if target else []))
        assert result.exit_code == 0, result.output
        written[name] = root / f"{name}.npz"
    return written


def accuracy(model: Path, data: Path, *extra: str) -> float:
    result = invoke("evaluate", "--model", model, "--data", data, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout.splitlines()[-1])["accuracy"]


def predictions(model: Path, data: Path, *extra: str) -> list[str]:
    result = invoke("predict", "--model", model, "--data", data, *extra)
    assert result.exit_code == 0, result.output
    return result.stdout.splitlines()


def test_the_model_file_stores_its_columns(files):
    header, _, _ = read_model(files["m"])
    assert (header["feature_names"], header["target"]) == (["x1", "x2"], "label")
    assert Model.load(files["t"], device="cpu").columns == Columns(("x1", "x2"), "label")


def test_a_permuted_header_is_reordered_by_name(files):
    base = accuracy(files["m"], files["train"])
    assert base > 0.9
    assert accuracy(files["m"], files["permuted"]) == base
    assert predictions(files["m"], files["features"]) == predictions(files["m"],
                                                                     files["train"])


def test_the_target_column_is_dropped_wherever_it_is(files):
    """Trained with --target on the first column: predict without --target reads
    [x1, x2], not [label, x1]."""
    expected = predictions(files["t"], files["first"], "--target", "label")
    assert predictions(files["t"], files["first"]) == expected
    assert predictions(files["t"], files["train"]) == expected
    assert accuracy(files["t"], files["first"]) == accuracy(files["t"], files["permuted"])


@pytest.mark.parametrize(("data", "fragments"), [
    ("renamed", ["'x2' missing", "'x_2' unknown", "trained on 'x1', 'x2'",
                 "rename the columns"]),
    ("missing", ["has no column 'x2'", "trained on 'x1', 'x2' with the target 'label'"]),
    ("species", ["has column 'species' that the model was not trained on",
                 "name the label column with --target"]),
])
@pytest.mark.parametrize("command", ["predict", "evaluate"])
def test_other_columns_are_one_line(files, command, data, fragments):
    result = invoke(command, "--model", files["m"], "--data", files[data])
    assert_one_line_error(result, *fragments)


def test_a_renamed_target_is_named_with_target(files):
    assert accuracy(files["m"], files["species"], "--target", "species") == accuracy(
        files["m"], files["train"])


def test_data_without_names_keeps_position(files):
    """A model trained on arrays stores no names: a CSV is read by position, as before;
    and a named model reads an .npz (no header) by position."""
    header, _, _ = read_model(files["a"])
    assert "feature_names" not in header and "target" not in header
    assert accuracy(files["a"], files["train"]) == accuracy(files["a"], files["arrays"])
    assert accuracy(files["a"], files["permuted"]) < accuracy(files["a"], files["train"])
    assert accuracy(files["m"], files["arrays"]) == accuracy(files["m"], files["train"])


class Frame:
    """A data frame as far as nnbackend looks: string ``columns`` and ``__array__``."""

    def __init__(self, columns: list[str], values: np.ndarray) -> None:
        self.columns, self.values = columns, values

    def __array__(self, dtype=None, copy=None):
        return self.values if dtype is None else self.values.astype(dtype)


def test_the_python_api_matches_data_frames_by_name_and_arrays_by_position(files):
    X, y = xy()
    model = Model(layers=(4,), device="cpu").fit(str(files["train"]), iterations=200,
                                                 standardize=True)
    assert model.columns == Columns(("x1", "x2"), "label")
    expected = model.predict(X)
    swapped = Frame(["x2", "x1"], X[:, ::-1])
    np.testing.assert_array_equal(model.predict(swapped), expected)
    np.testing.assert_array_equal(model.predict_proba(swapped), model.predict_proba(X))
    assert model.evaluate(swapped, y)["accuracy"] == model.evaluate(X, y)["accuracy"]
    with_label = Frame(["label", "x2", "x1"], np.c_[y, X[:, ::-1]])
    np.testing.assert_array_equal(model.predict(with_label), expected)
    assert not np.array_equal(model.predict_proba(X[:, ::-1]), model.predict_proba(X))
    with pytest.raises(NNBackendError, match=r"the data frame has no column 'x2'"):
        model.predict(Frame(["x1"], X[:, :1]))
    unnamed = Frame([0, 1], X)  # integer labels (pandas' default): by position
    np.testing.assert_array_equal(model.predict(unnamed), expected)
    again = Model.from_bytes(model.to_bytes(), device="cpu")
    assert again.columns == model.columns
    np.testing.assert_array_equal(again.predict(swapped), expected)


def test_a_data_frame_given_to_fit_names_the_columns(files):
    X, y = xy()
    model = Model(layers=(3,), device="cpu").fit(Frame(["a", "b"], X), y, iterations=50)
    assert model.columns == Columns(("a", "b"), None)
    np.testing.assert_array_equal(model.predict(Frame(["b", "a"], X[:, ::-1])),
                                  model.predict(X))


@pytest.mark.parametrize(("names", "target", "problem"), [
    (["x1"], None, "feature_names has 1 names, the network 2 inputs"),
    (["x1", "x1"], None, "are not distinct column names"),
    (["x1", 2], None, "are not distinct column names"),
    (["x1", "x2"], "x1", "is not a column name apart from the features"),
    (["x1", "x2"], 3, "is not a column name apart from the features"),
])
def test_stored_names_are_checked_when_read(files, names, target, problem):
    header, _, _ = read_model(files["m"])
    assert header_problem(header) is None
    assert problem in header_problem({**header, "feature_names": names, "target": target})


def test_select_columns_by_position_and_by_name():
    assert select_columns(["a", "b", "y"], 2, None, None, "t") == ([0, 1], 2)
    assert select_columns(["y", "a", "b"], 2, None, "y", "t") == ([1, 2], 0)
    named = Columns(("a", "b"), "y")
    assert select_columns(["b", "y", "a"], 2, named, None, "t") == ([2, 0], 1)
    assert select_columns(["b", "a"], 2, named, None, "t") == ([1, 0], None)
    many = Columns(tuple(f"c{j}" for j in range(20)), None)
    with pytest.raises(NNBackendError, match=r"t has no column 'c1', .* and 11 more"):
        select_columns(["c0"], 20, many, None, "t")


def test_bytes_without_names_are_the_format_older_versions_write(files):
    model = Model.load(files["a"], device="cpu")
    assert model.columns is None
    assert b"feature_names" not in model_to_bytes(model.network)


def test_plot_reads_its_data_by_name(files, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "b.png"
    result = invoke("plot", "--model", files["m"], "--data", files["permuted"], "--output",
                    out)
    assert result.exit_code == 0, result.output
    assert out.stat().st_size > 0
    assert_one_line_error(invoke("plot", "--model", files["m"], "--data", files["renamed"],
                                 "--output", tmp_path / "c.png"), "'x_2' unknown")
