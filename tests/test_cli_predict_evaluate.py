"""``nnbackend predict``, ``evaluate`` and ``datasets`` as a user drives them."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import sys

import numpy as np
import pytest

from nnbackend.core.backend import cuda_status
from nnbackend.data.datasets import DATASETS, OPTION_FLAGS, load_dataset

from .model_files import (
    NAMES,
    assert_one_line_error,
    build,
    invoke,
    named_blobs,
    three_features,
    two_targets,
    write_csv,
)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """flower (binary), blobs with class names, sine (regression), 3 -> 2 regression."""
    root = tmp_path_factory.mktemp("models")
    return {
        "flower": build(root / "flower.npz", *load_dataset("flower"), (4,), iterations=1000,
                        lr=1.2),
        "named": build(root / "named.npz", *named_blobs(), (5,)),
        "sine": build(root / "sine.npz", *load_dataset("sine"), (8,), iterations=300, lr=0.1),
        "two": build(root / "two.npz", *two_targets(), (6,), iterations=100, lr=0.1,
                     standardize=False),
        "three": build(root / "three.npz", *three_features(), (3,), iterations=50),
    }


def parse(text: str) -> tuple[list[str], list[list[str]]]:
    rows = list(csv.reader(io.StringIO(text)))
    return rows[0], rows[1:]


def last_json(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


# ---- predict ---------------------------------------------------------------------------


def test_predict_builtin_set_to_stdout_matches_the_library(models):
    saved = models["flower"]
    result = invoke("predict", "--model", saved.path, "--data", "flower")
    assert result.exit_code == 0, result.output
    header, rows = parse(result.stdout)
    assert header == ["prediction"] and len(rows) == 400
    X, _ = load_dataset("flower")
    expected = saved.network.predict(saved.rows(X))
    assert [int(r[0]) for r in rows] == saved.classes[expected].tolist()
    assert result.stderr == "Backend: numpy on cpu, float64\n"


def test_predict_proba_binary_has_a_column_per_class(models):
    saved = models["flower"]
    result = invoke("predict", "-m", saved.path, "-d", "flower", "--proba")
    assert result.exit_code == 0, result.output
    header, rows = parse(result.stdout)
    assert header == ["p_0", "p_1"]
    P = np.array(rows, dtype=float)
    np.testing.assert_allclose(P.sum(axis=1), 1.0, rtol=1e-12)
    X, _ = load_dataset("flower")
    np.testing.assert_allclose(P[:, 1], saved.network.predict_proba(saved.rows(X))[:, 0],
                               rtol=1e-12)


def test_predict_features_only_csv_writes_class_names_to_output(models, tmp_path):
    saved = models["named"]
    X, y = named_blobs()
    data = write_csv(tmp_path / "new.csv", ["x1", "x2"], [X[:, 0], X[:, 1]])
    out = tmp_path / "pred.csv"
    result = invoke("predict", "--model", saved.path, "--data", data, "--output", out)
    assert result.exit_code == 0, result.output
    assert result.stdout == ""
    assert "Backend: numpy on cpu, float64" in result.stderr
    assert f"Wrote 300 predictions to {out}" in result.stderr
    header, rows = parse(out.read_text())
    assert header == ["prediction"]
    predicted = np.array([r[0] for r in rows])
    assert set(predicted) <= set(NAMES)
    assert np.mean(predicted == y) > 0.9
    # The same file with its label column gives the same predictions (labels ignored).
    labelled = write_csv(tmp_path / "labelled.csv", ["x1", "x2", "animal"],
                         [X[:, 0], X[:, 1], y])
    again = invoke("predict", "--model", saved.path, "--data", labelled)
    assert parse(again.stdout)[1] == rows


def test_predict_proba_multiclass_columns_are_named_by_class(models):
    result = invoke("predict", "--model", models["named"].path, "--data", "blobs", "--proba")
    assert result.exit_code == 0, result.output
    header, rows = parse(result.stdout)
    assert header == ["p_cat", "p_dog", "p_eel"]
    np.testing.assert_allclose(np.array(rows, dtype=float).sum(axis=1), 1.0, rtol=1e-12)


def test_predict_npz_without_labels(models, tmp_path):
    X, _ = named_blobs()
    np.savez(tmp_path / "features.npz", X=X)
    result = invoke("predict", "--model", models["named"].path, "--data",
                    tmp_path / "features.npz")
    assert result.exit_code == 0, result.output
    assert len(parse(result.stdout)[1]) == 300


@pytest.mark.parametrize(("device", "dtype"), [("device1", "float64"),
                                               ("no_float64", "float32")])
def test_predict_on_a_non_default_strict_device(models, device, dtype):
    pytest.importorskip("array_api_strict")
    saved = models["named"]
    reference = invoke("predict", "--model", saved.path, "--data", "blobs", "--proba")
    result = invoke("predict", "--model", saved.path, "--data", "blobs", "--proba",
                    "--backend", "array-api-strict", "--device", device)
    assert result.exit_code == 0, result.output
    assert result.stderr == f"Backend: array-api-strict on {device}, {dtype}\n"
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(np.array(parse(result.stdout)[1], dtype=float),
                               np.array(parse(reference.stdout)[1], dtype=float), atol=tol)
    labels = invoke("predict", "--model", saved.path, "--data", "blobs",
                    "--backend", "array-api-strict", "--device", device)
    assert labels.exit_code == 0, labels.output
    assert parse(labels.stdout)[1] == parse(invoke("predict", "--model", saved.path,
                                                   "--data", "blobs").stdout)[1]


def test_predict_regression_columns(models):
    one = invoke("predict", "--model", models["sine"].path, "--data", "sine")
    assert one.exit_code == 0, one.output
    header, rows = parse(one.stdout)
    assert header == ["prediction"] and len(rows) == 200
    X, _ = load_dataset("sine")
    np.testing.assert_allclose(np.array(rows, dtype=float)[:, 0],
                               models["sine"].network.predict(models["sine"].rows(X))[:, 0],
                               rtol=1e-12)
    X2, _ = two_targets()
    np.save(models["two"].path.parent / "X2.npy", X2)
    two = invoke("predict", "--model", models["two"].path, "--data",
                 models["two"].path.parent / "X2.npy")
    assert two.exit_code == 0, two.output
    assert parse(two.stdout)[0] == ["prediction_0", "prediction_1"]


def test_predict_proba_on_a_regression_model_is_an_error(models):
    assert_one_line_error(invoke("predict", "--model", models["sine"].path, "--data", "sine",
                                 "--proba"), "--proba applies to classifiers")


@pytest.mark.gpu
def test_predict_on_a_gpu(models):
    status = cuda_status()
    if not status.available:
        pytest.skip(f"no CUDA device: {status.reason}")
    saved = models["named"]
    result = invoke("predict", "--model", saved.path, "--data", "blobs", "--device", "cuda",
                    "--backend", "cupy")
    assert result.exit_code == 0, result.output
    assert result.stderr == "Backend: cupy on cuda:0, float32\n"
    reference = invoke("predict", "--model", saved.path, "--data", "blobs")
    agree = np.mean(np.array(parse(result.stdout)[1]) == np.array(parse(reference.stdout)[1]))
    assert agree > 0.99


# ---- evaluate --------------------------------------------------------------------------


def test_evaluate_classifier_reports_accuracy_cost_and_confusion(models):
    saved = models["flower"]
    result = invoke("evaluate", "--model", saved.path, "--data", "flower")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == "Backend: numpy on cpu, float64"
    assert "Confusion matrix (rows: true class, columns: predicted class):" in lines
    payload = last_json(invoke("evaluate", "--model", saved.path, "--data", "flower", "--json"))
    X, y = load_dataset("flower")
    predicted = saved.network.predict(saved.rows(X))
    assert payload["accuracy"] == pytest.approx(np.mean(predicted == y))
    assert f"Accuracy: {100 * payload['accuracy']:.2f}% ({payload['correct']} of 400)" in lines
    cache = saved.network.forward(saved.rows(X).T)
    expected_cost = float(saved.network.output.cost(cache.Z[-1], y.reshape(1, -1) * 1.0, xp=np))
    assert payload["cost"] == pytest.approx(expected_cost, rel=1e-12)
    assert payload["classes"] == [0, 1]
    cm = np.array(payload["confusion_matrix"])
    assert cm.sum() == 400 and cm[0].sum() == np.sum(y == 0)
    assert cm[1, 1] == np.sum((y == 1) & (predicted == 1))
    assert (payload["backend"], payload["device"], payload["dtype"]) == ("numpy", "cpu",
                                                                          "float64")


def test_evaluate_named_classes_with_target_column_and_json(models, tmp_path):
    X, y = named_blobs()
    data = write_csv(tmp_path / "test.csv", ["x1", "animal", "x2"], [X[:, 0], y, X[:, 1]])
    result = invoke("evaluate", "--model", models["named"].path, "--data", data,
                    "--target", "animal", "--json")
    assert result.exit_code == 0, result.output
    payload = last_json(result)
    assert payload["classes"] == ["cat", "dog", "eel"]
    assert np.array(payload["confusion_matrix"]).sum(axis=1).tolist() == [100, 100, 100]
    assert payload["accuracy"] > 0.9
    assert "true \\ predicted  cat  dog  eel" in result.stderr  # human lines on stderr
    assert len(result.stdout.strip().splitlines()) == 1


def test_evaluate_regression_mse_and_r2(models):
    saved = models["sine"]
    result = invoke("evaluate", "--model", saved.path, "--data", "sine", "--json")
    assert result.exit_code == 0, result.output
    payload = last_json(result)
    X, y = load_dataset("sine")
    pred = saved.network.predict(saved.rows(X))[:, 0]
    mse = np.mean((pred - y) ** 2)
    assert payload["mse"] == pytest.approx(mse, rel=1e-12)
    assert payload["cost"] == pytest.approx(mse / 2, rel=1e-12)  # the loss is 1/(2m) sum
    assert payload["r2"] == pytest.approx(1 - np.sum((pred - y) ** 2)
                                          / np.sum((y - y.mean()) ** 2), rel=1e-12)
    assert "mean over examples and targets" in payload["mse_definition"]
    assert "MSE: " in result.stderr and "R^2: " in result.stderr


def test_evaluate_needs_labels(models, tmp_path):
    X, _ = named_blobs()
    data = write_csv(tmp_path / "features.csv", ["x1", "x2"], [X[:, 0], X[:, 1]])
    assert_one_line_error(invoke("evaluate", "--model", models["named"].path, "--data", data),
                          "evaluate needs labels", "features.csv has none")


# ---- bad input -------------------------------------------------------------------------


def bad_files(models, tmp_path) -> dict:
    """The files each bad-input case needs."""
    good = models["flower"].path.read_bytes()
    truncated = tmp_path / "truncated.npz"
    truncated.write_bytes(good[: len(good) // 2])
    flipped = bytearray(good)
    flipped[len(good) // 2] ^= 0xFF
    corrupted = tmp_path / "corrupted.npz"
    corrupted.write_bytes(bytes(flipped))
    X, y = load_dataset("flower")
    four = write_csv(tmp_path / "four.csv", ["a", "b", "c", "d"],
                     [X[:, 0], X[:, 1], X[:, 0], y])
    unknown = write_csv(tmp_path / "unknown.csv", ["a", "b", "label"],
                        [X[:, 0], X[:, 1], np.where(np.arange(400) < 3, 7, y)])
    return {"truncated": truncated, "corrupted": corrupted, "four": four, "unknown": unknown}


PREDICT_CASES = {
    "missing model": (["--model", "{tmp}/nope.npz", "--data", "flower"],
                      ["model file", "nope.npz not found"]),
    "truncated model": (["--model", "{truncated}", "--data", "flower"], ["truncated.npz"]),
    "corrupted model": (["--model", "{corrupted}", "--data", "flower"], ["corrupted.npz"]),
    "missing data file": (["--model", "{flower}", "--data", "{tmp}/none.csv"],
                          ["data file", "none.csv not found"]),
    "unknown data": (["--model", "{flower}", "--data", "nope"], ["unknown data set or file"]),
    "too many columns": (["--model", "{flower}", "--data", "{four}"],
                         ["has 4 columns, but the model takes 2 features"]),
    "fewer features": (["--model", "{flower}", "--data", "sine"],
                       ["sine data set has 1 feature, but the model takes 2"]),
    "more features": (["--model", "{three}", "--data", "flower"],
                      ["flower data set has 2 features, but the model takes 3"]),
    "missing target column": (["--model", "{flower}", "--data", "{four}", "--target", "z"],
                              ["no column 'z'"]),
    "target for a built-in set": (["--model", "{flower}", "--data", "flower", "--target", "y"],
                                  ["--target applies to CSV files only"]),
    "unknown backend device": (["--model", "{flower}", "--data", "flower", "--device", "tpu"],
                               ["unknown device 'tpu'"]),
}


def fill(args: list[str], models, tmp_path) -> list[str]:
    names = {**bad_files(models, tmp_path), "tmp": tmp_path,
             **{k: v.path for k, v in models.items()}}
    return [a.format(**names) for a in args]


@pytest.mark.parametrize("case", PREDICT_CASES)
def test_predict_bad_input_is_one_line_and_keeps_the_output_file(models, tmp_path, case):
    args, fragments = PREDICT_CASES[case]
    out = tmp_path / "out.csv"
    out.write_bytes(b"prediction\nprevious,run\n")
    result = invoke("predict", *fill(args, models, tmp_path), "--output", out)
    assert_one_line_error(result, *fragments)
    assert out.read_bytes() == b"prediction\nprevious,run\n"


@pytest.mark.parametrize("case", [c for c in PREDICT_CASES if c != "target for a built-in set"])
def test_evaluate_bad_input_is_one_line(models, tmp_path, case):
    args, fragments = PREDICT_CASES[case]
    assert_one_line_error(invoke("evaluate", *fill(args, models, tmp_path)), *fragments)


def test_evaluate_wrong_label_set_names_the_unknown_labels(models, tmp_path):
    args = fill(["--model", "{flower}", "--data", "{unknown}"], models, tmp_path)
    assert_one_line_error(invoke("evaluate", *args), "wrong label set", "label(s) [7]",
                          "its classes are [0, 1]")
    named = invoke("evaluate", "--model", models["named"].path, "--data", "flower")
    assert_one_line_error(named, "wrong label set", "label(s) [0, 1]", "[cat, dog, eel]")


def test_predict_output_in_a_missing_directory(models, tmp_path):
    result = invoke("predict", "--model", models["flower"].path, "--data", "flower",
                    "--output", tmp_path / "no" / "such" / "out.csv")
    assert_one_line_error(result, "the directory", "does not exist")
    assert not (tmp_path / "no").exists()


# ---- datasets and help -----------------------------------------------------------------


def test_datasets_lists_every_set_with_task_and_options():
    result = invoke("datasets")
    assert result.exit_code == 0, result.output
    for name, info in DATASETS.items():
        line = next(x for x in result.stdout.splitlines() if x.split()[:1] == [name])
        words = line.split()
        # The task once, in its column: a description that starts with it drops it there.
        assert words[1] == info.task and words[2] != f"{info.task}:", line
        assert info.description.removeprefix(f"{info.task}: ") in line
        assert ("options: " + (", ".join(OPTION_FLAGS[o] for o in info.accepts) or "none")) in line
    payload = last_json(invoke("datasets", "--json"))
    assert [d["name"] for d in payload["datasets"]] == list(DATASETS)
    assert payload["datasets"][0]["options"] == list(DATASETS["flower"].accepts)


def test_datasets_says_when_scikit_learn_is_missing(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    lines = invoke("datasets").stdout.splitlines()
    iris = next(x for x in lines if x.split()[:1] == ["iris"])
    flower = next(x for x in lines if x.split()[:1] == ["flower"])
    assert "needs scikit-learn" in iris and "needs" not in flower


@pytest.mark.parametrize("command", ["predict", "evaluate", "plot", "datasets"])
def test_help_has_examples(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert "Examples:\n" in result.stdout
    assert f"nnbackend {command}" in result.stdout


# ---- with train --save and generator options --------------------------------------------


def test_a_model_saved_by_train_predicts_evaluates_and_plots(tmp_path):
    model = tmp_path / "moons.npz"
    trained = invoke("train", "--data", "moons", "--noise", "0.2", "--standardize",
                     "--iterations", "400", "--print-every", "100", "--save", model, "-q",
                     "--json")
    assert trained.exit_code == 0, trained.output
    train_accuracy = last_json(trained)["train_accuracy"]
    same = last_json(invoke("evaluate", "--model", model, "--data", "moons", "--noise", "0.2",
                            "--json"))
    assert same["accuracy"] == pytest.approx(train_accuracy)
    fresh = invoke("evaluate", "--model", model, "--data", "moons", "--noise", "0.2",
                   "--data-seed", "7", "--n-samples", "50", "--json")
    assert fresh.exit_code == 0, fresh.output
    assert last_json(fresh)["n_examples"] == 50
    predicted = invoke("predict", "--model", model, "--data", "moons", "--n-samples", "10")
    assert len(parse(predicted.stdout)[1]) == 10
    if importlib.util.find_spec("matplotlib") is not None:
        curve = invoke("plot", "--model", model, "--loss-curve", "--output", tmp_path / "l.png")
        assert curve.exit_code == 0, curve.output


def test_generator_options_are_refused_where_they_do_not_apply(models, tmp_path):
    X, y = named_blobs()
    data = write_csv(tmp_path / "d.csv", ["x1", "x2", "animal"], [X[:, 0], X[:, 1], y])
    assert_one_line_error(invoke("evaluate", "--model", models["named"].path, "--data", data,
                                 "--noise", "0.1", "--data-seed", "1"),
                          "--data-seed, --noise only apply to built-in data sets", "d.csv")
    assert_one_line_error(invoke("predict", "--model", models["flower"].path, "--data",
                                 "flower", "--noise", "0.1"),
                          "the flower data set does not take noise")
