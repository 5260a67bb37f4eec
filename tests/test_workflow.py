"""The whole workflow as a user drives it: CSV in, model out, predict, evaluate, plot, resume.

Also the bad inputs of that workflow at ``train``: each is one line on stderr, exit code 2,
no traceback, and the user's existing model file is left byte for byte as it was.
"""

from __future__ import annotations

import csv
import json
import struct
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.data.datasets import load_dataset


def run(*args: str):
    return CliRunner().invoke(cli, [str(a) for a in args])


def write_csv(path: Path, X: np.ndarray, labels: list[str] | None,
              header: tuple[str, ...] = ("x1", "x2", "label")) -> Path:
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header if labels is not None else header[:-1])
        for i, row in enumerate(X):
            writer.writerow([*map(repr, row.tolist())] + ([labels[i]] if labels else []))
    return path


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    return struct.unpack(">II", data[16:24])


@pytest.fixture
def moons_csv(tmp_path):
    X, y = load_dataset("moons", seed=4, n_samples=300, noise=0.15)
    names = ["left" if v == 0 else "right" for v in y]
    return write_csv(tmp_path / "moons.csv", X, names), X, names


def last_json(result) -> dict:
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("as_json", [False, True], ids=["text", "json"])
def test_train_save_predict_evaluate_plot_resume(tmp_path, moons_csv, as_json):
    pytest.importorskip("matplotlib")
    data, X, names = moons_csv
    flag = ["--json"] if as_json else []
    model, checkpoint = tmp_path / "model.npz", tmp_path / "run.npz"

    trained = run("train", "--data", data, "--target", "label", "--standardize", "--layers", "8",
                  "--init", "xavier", "--optimizer", "adam", "--lr", "0.05", "--batch-size",
                  "32", "--epochs", "40", "--print-every", "10", "--save", model,
                  "--checkpoint", checkpoint, "--checkpoint-every", "100", *flag)
    assert trained.exit_code == 0, trained.output
    if as_json:
        summary = last_json(trained)
        assert summary["model"] == str(model) and summary["checkpoint"] == str(checkpoint)
        train_accuracy = summary["train_accuracy"]
    else:
        assert f"Model saved to {model}" in trained.stdout
        train_accuracy = float(trained.stdout.split("Train accuracy: ")[1].split("%")[0]) / 100
    assert train_accuracy > 0.9

    features = write_csv(tmp_path / "features.csv", X, None)
    out = tmp_path / "predictions.csv"
    predicted = run("predict", "--model", model, "--data", features, "--output", out)
    assert predicted.exit_code == 0, predicted.output
    rows = list(csv.DictReader(open(out)))
    assert len(rows) == len(names) and set(rows[0]) == {"prediction"}
    hits = np.mean([r["prediction"] == truth for r, truth in zip(rows, names, strict=True)])
    assert hits == pytest.approx(train_accuracy, abs=1e-9)

    evaluated = run("evaluate", "--model", model, "--data", data, "--target", "label", *flag)
    assert evaluated.exit_code == 0, evaluated.output
    if as_json:
        report = last_json(evaluated)
        assert report["accuracy"] == pytest.approx(train_accuracy, abs=1e-9)
    else:
        assert "confusion" in evaluated.stdout.lower()

    boundary = tmp_path / "boundary.png"
    plotted = run("plot", "--model", model, "--data", data, "--target", "label", "--output",
                  boundary, "--width", "800", "--height", "600")
    assert plotted.exit_code == 0, plotted.output
    assert png_size(boundary) == (800, 600)
    curve = tmp_path / "loss.png"
    assert run("plot", "--model", model, "--loss-curve", "--output", curve).exit_code == 0
    assert png_size(curve) == (640, 480)

    # The checkpoint's run has ended: resuming it says so and changes nothing.
    resumed_model = tmp_path / "resumed.npz"
    before = Path(checkpoint).read_bytes()
    resumed = run("train", "--resume", checkpoint, "--save", resumed_model, *flag)
    assert resumed.exit_code == 0, resumed.output
    assert "has already completed all 400 steps; nothing to do" in resumed.output
    assert not resumed_model.exists() and Path(checkpoint).read_bytes() == before


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], str]]:
    """name -> (train arguments, expected fragment of the one-line error)."""
    X = np.array([[0.0, 1.0], [1.0, 0.0], [0.5, 0.5], [0.2, 0.9]])
    labels = ["a", "b", "a", "b"]
    unreadable = tmp_path / "unreadable.csv"
    unreadable.write_bytes(b"\xff\xfe\x00garbage\x00\x00,\n\x00")
    words = tmp_path / "words.csv"
    words.write_text("x1,x2,label\n1.0,one,a\n2.0,2.0,b\n")
    nan = write_csv(tmp_path / "nan.csv", np.array([[0.0, np.nan], [1.0, 2.0]]), ["a", "b"])
    inf = write_csv(tmp_path / "inf.csv", np.array([[0.0, np.inf], [1.0, 2.0]]), ["a", "b"])
    empty = tmp_path / "empty.csv"
    empty.write_text("x1,x2,label\n")
    good = write_csv(tmp_path / "good.csv", X, labels)
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, X=np.array([{"a": 1}], dtype=object), y=np.array([1]))
    three = write_csv(tmp_path / "three.csv", np.vstack([X, X[:2]]),
                      ["a", "b", "c", "a", "b", "c"])
    return {
        "missing file": (["--data", tmp_path / "nope.csv"], "not found"),
        "unreadable csv": (["--data", unreadable], str(unreadable)),
        "non-numeric feature": (["--data", words], "'x2'"),
        "nan feature": (["--data", nan], "nan"),
        "inf feature": (["--data", inf], "inf"),
        "unknown target column": (["--data", good, "--target", "klass"], "klass"),
        "empty data": (["--data", empty], "empty"),
        "pickled npz": (["--data", pickled], "pickle"),
        "wrong label set for the task": (["--data", three, "--task", "binary"],
                                         "exactly two classes, found 3"),
        "save in a missing directory": (["--data", good, "--save",
                                         tmp_path / "no-such-dir" / "m.npz"], "no-such-dir"),
    }


@pytest.mark.parametrize("case", [
    "missing file", "unreadable csv", "non-numeric feature", "nan feature", "inf feature",
    "unknown target column", "empty data", "pickled npz", "wrong label set for the task",
    "save in a missing directory"])
def test_bad_input_at_train_is_one_line_and_overwrites_nothing(tmp_path, case):
    args, fragment = bad_inputs(tmp_path)[case]
    model = tmp_path / "model.npz"
    model.write_bytes(b"the user's previous model")
    save = [] if "--save" in args else ["--save", model]
    result = run("train", "--iterations", "50", *args, *save)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert fragment.lower() in result.stderr.lower(), result.stderr
    assert "Traceback" not in result.stderr
    assert model.read_bytes() == b"the user's previous model"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_corrupted_and_truncated_models_are_refused(tmp_path):
    model = tmp_path / "model.npz"
    assert run("train", "--iterations", "20", "--save", model, "--quiet").exit_code == 0
    good = model.read_bytes()
    for name, damaged in (("truncated", good[: len(good) // 2]),
                          ("corrupted", good[:200] + bytes(b ^ 0x55 for b in good[200:260])
                           + good[260:])):
        path = tmp_path / f"{name}.npz"
        path.write_bytes(damaged)
        result = run("predict", "--model", path, "--data", "flower")
        assert result.exit_code == 2, (name, result.output)
        assert result.stderr.count("\n") == 1 and str(path) in result.stderr
