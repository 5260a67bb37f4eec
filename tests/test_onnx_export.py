"""ONNX export: ONNX Runtime's outputs equal the model's own, on every task and activation."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest

from nnbackend import Model, load_dataset
from nnbackend.core.activations import HIDDEN_ACTIVATIONS
from nnbackend.data.datasets import DATASETS
from nnbackend.errors import NNBackendError

from .model_files import invoke

MISSING = [name for name in ("onnx", "onnxruntime") if importlib.util.find_spec(name) is None]
needs_onnx = pytest.mark.skipif(
    bool(MISSING), reason=f"{' and '.join(MISSING)} not installed (pip install "
                          "onnx onnxruntime)")

#: float32 graph against the float64 model: the issue's bar for probabilities/predictions.
ATOL = 1e-5


def run_onnx(proto_or_path, X: np.ndarray, dtype: str = "float32") -> dict[str, np.ndarray]:
    """Run a model (proto or file) in ONNX Runtime on host features; outputs by name."""
    import onnxruntime

    source = (proto_or_path.SerializeToString() if hasattr(proto_or_path, "SerializeToString")
              else str(proto_or_path))
    session = onnxruntime.InferenceSession(source, providers=["CPUExecutionProvider"])
    names = [output.name for output in session.get_outputs()]
    values = session.run(names, {"X": np.asarray(X, dtype=dtype)})
    return dict(zip(names, values, strict=True))


def assert_same_outputs(model: Model, outputs: dict[str, np.ndarray], X: np.ndarray,
                        atol: float = ATOL) -> None:
    """ONNX Runtime's outputs equal ``model.predict_proba`` / ``predict`` to ``atol``, and
    the labels exactly wherever the model's two likeliest classes are more than ``2 *
    atol`` apart (a graph of that precision cannot settle closer calls the same way)."""
    if model.task == "regression":
        assert set(outputs) == {"predictions"}
        expected = model.predict(X)
        assert outputs["predictions"].shape == expected.shape
        np.testing.assert_allclose(outputs["predictions"], expected, rtol=0, atol=atol)
        return
    assert set(outputs) == {"label", "probabilities"}
    P = model.predict_proba(X)
    np.testing.assert_allclose(outputs["probabilities"], P, rtol=0, atol=atol)
    top_two = np.sort(P, axis=1)[:, -2:]
    clear = top_two[:, 1] - top_two[:, 0] > 2 * atol
    assert clear.mean() > 0.95, "too few clear calls for the comparison to mean anything"
    np.testing.assert_array_equal(outputs["label"][clear], model.predict(X)[clear])
    # Everywhere, the graph's label is the class of its own largest probability.
    np.testing.assert_array_equal(outputs["label"],
                                  model.classes[outputs["probabilities"].argmax(axis=1)])


def build_checked(model: Model, dtype: str = "float32"):
    import onnx

    from nnbackend.model.onnx_export import build_onnx

    proto = build_onnx(model, dtype)
    onnx.checker.check_model(proto, full_check=True)
    return proto


@needs_onnx
@pytest.mark.parametrize("name", list(DATASETS))
def test_every_built_in_set_runs_in_onnx_runtime_as_in_nnbackend(name, tmp_path):
    # Standardised, two hidden layers, trained long enough (xavier: out of the flat start)
    # that the probabilities are far from ties.
    X, y = load_dataset(name)
    model = Model((8, 4), init="xavier", device="cpu").fit(X, y, standardize=True,
                                                            iterations=300)
    path = model.to_onnx(tmp_path / f"{name}.onnx")
    build_checked(model)
    assert_same_outputs(model, run_onnx(path, X), X)
    # In double precision the graph agrees to the last digits, every label included.
    double = run_onnx(model.to_onnx(tmp_path / f"{name}64.onnx", "float64"), X, "float64")
    assert_same_outputs(model, double, X, atol=1e-12)
    if model.task != "regression":
        np.testing.assert_array_equal(double["label"], model.predict(X))


@needs_onnx
@pytest.mark.parametrize("activation", list(HIDDEN_ACTIVATIONS))
def test_every_hidden_activation_exports(activation):
    # Multiclass, so that no output squashing hides a wrong hidden layer; raw features
    # spread wide enough to reach the activations' curved and flat parts.
    X, y = load_dataset("blobs")
    model = Model((6, 5), hidden_activation=activation, init="xavier", device="cpu").fit(
        X, y, iterations=200, learning_rate=0.1)
    assert_same_outputs(model, run_onnx(build_checked(model), X), X)


@needs_onnx
def test_a_model_from_each_backend_exports(backend):
    X, y = load_dataset("moons")
    model = Model((5,), hidden_activation="gelu", backend=backend).fit(X, y, iterations=200)
    assert_same_outputs(model, run_onnx(build_checked(model), X), X)


@needs_onnx
@pytest.mark.parametrize("labels", [["setosa", "versicolor", "virginica"], [-3, 10, 7],
                                    [0.5, 1.5, 2.5]], ids=["str", "int", "float"])
def test_class_labels_come_back_as_the_model_knows_them(labels):
    X, y = load_dataset("iris")
    named = np.asarray(labels)[y]
    model = Model((4,), device="cpu").fit(X, named, task="multiclass", standardize=True,
                                          iterations=300)
    outputs = run_onnx(build_checked(model), X)
    assert_same_outputs(model, outputs, X)
    assert set(outputs["label"].tolist()) <= set(labels)


@needs_onnx
def test_binary_probabilities_are_two_columns_and_several_targets_stay_columns():
    X, y = load_dataset("flower")
    binary = Model((4,), device="cpu").fit(X, y, iterations=300)
    assert run_onnx(build_checked(binary), X)["probabilities"].shape == (X.shape[0], 2)

    rng = np.random.default_rng(0)
    features = rng.normal(size=(50, 3))
    targets = np.stack([features @ [1.0, -2.0, 0.5], np.sin(features[:, 0])], axis=1)
    regression = Model((6,), device="cpu").fit(features, targets, task="regression",
                                               standardize=True, iterations=200)
    outputs = run_onnx(build_checked(regression), features)
    assert outputs["predictions"].shape == (50, 2)
    assert_same_outputs(regression, outputs, features)


@needs_onnx
def test_the_file_says_what_it_holds(tmp_path):
    import onnx

    model = Model((3,), device="cpu").fit("iris", standardize=True, iterations=50)
    proto = onnx.load(str(model.to_onnx(tmp_path / "iris.onnx")))
    props = {p.key: p.value for p in proto.metadata_props}
    assert props["task"] == "multiclass" and props["classes"] == "[0, 1, 2]"
    assert props["standardized"] == "true"
    assert [i.name for i in proto.graph.input] == ["X"]
    assert proto.ir_version <= onnx.IR_VERSION


@needs_onnx
def test_cli_export_writes_a_file_that_predicts_like_the_model(tmp_path):
    saved, exported = tmp_path / "wine.npz", tmp_path / "wine.onnx"
    trained = invoke("train", "--data", "wine", "--standardize", "--iterations", "300",
                     "--save", saved)
    assert trained.exit_code == 0, trained.output
    result = invoke("export", "--model", saved, "--output", exported)
    assert result.exit_code == 0, result.output
    assert "outputs label (batch,) int64, probabilities (batch, 3) float32" in result.output
    X, _ = load_dataset("wine")
    assert_same_outputs(Model.load(saved, device="cpu"), run_onnx(exported, X), X)


@needs_onnx
def test_a_failed_export_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch):
    from nnbackend.model import onnx_export

    target = tmp_path / "m.onnx"
    target.write_bytes(b"old")
    model = Model((3,), device="cpu").fit("flower", iterations=10)

    def broken(fh):
        fh.write(b"half")
        raise OSError(28, "No space left on device")

    real = onnx_export.atomic_write
    monkeypatch.setattr(onnx_export, "atomic_write", lambda path, write: real(path, broken))
    with pytest.raises(NNBackendError, match="cannot write .*No space left"):
        model.to_onnx(target)
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["m.onnx"]


def test_without_onnx_the_error_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # import onnx now raises ImportError
    model = Model((3,), device="cpu").fit("flower", iterations=10)
    with pytest.raises(NNBackendError, match=r"pip install onnx$"):
        model.to_onnx(tmp_path / "m.onnx")
    saved = model.save(tmp_path / "m.npz")
    result = invoke("export", "--model", saved, "--output", tmp_path / "m.onnx")
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        "Error: ONNX export needs the onnx package; install it with pip install onnx"]
    assert not (tmp_path / "m.onnx").exists()


def test_an_unfitted_model_or_unknown_dtype_is_refused_in_one_line(tmp_path):
    with pytest.raises(NNBackendError, match="no network yet"):
        Model(device="cpu").to_onnx(tmp_path / "m.onnx")
    model = Model((3,), device="cpu").fit("flower", iterations=10)
    with pytest.raises(NNBackendError, match="unknown ONNX dtype 'float16'; choose one of "
                                             "float32, float64"):
        model.to_onnx(tmp_path / "m.onnx", "float16")
    assert list(tmp_path.iterdir()) == []
