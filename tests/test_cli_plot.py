"""``nnbackend plot``: decision boundaries and loss curves from model files."""

from __future__ import annotations

import struct
import sys

import numpy as np
import pytest

from nnbackend.data.datasets import load_dataset
from nnbackend.persistence.models import load_model

from .model_files import (
    NUMPY64,
    assert_one_line_error,
    build,
    invoke,
    named_blobs,
    three_features,
    write_csv,
)

PREVIOUS = b"\x89PNG previous figure"


def one_feature() -> tuple[np.ndarray, np.ndarray]:
    """A binary problem with 1 feature (no decision-boundary plot possible)."""
    X = three_features()[0][:, :1]
    return X, (X[:, 0] > 0).astype(np.int64)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("plot-models")
    return {
        "flower": build(root / "flower.npz", *load_dataset("flower"), (4,), iterations=200),
        "named": build(root / "named.npz", *named_blobs(), (5,), iterations=100),
        "three": build(root / "three.npz", *three_features(), (3,), iterations=20),
        "one": build(root / "one.npz", *one_feature(), (3,), iterations=20),
        "sine": build(root / "sine.npz", *load_dataset("sine"), (4,), iterations=20, lr=0.1),
        "no-history": build(root / "bare.npz", *load_dataset("flower"), (4,), iterations=10,
                            history=False),
    }


@pytest.fixture
def previous(tmp_path):
    """An existing figure file that a failing run must leave byte-identical."""
    path = tmp_path / "figure.png"
    path.write_bytes(PREVIOUS)
    return path


def png_size(path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def test_decision_boundary_png_has_the_asked_size(models, tmp_path):
    pytest.importorskip("matplotlib")
    X, y = named_blobs()
    data = write_csv(tmp_path / "animals.csv", ["x1", "x2", "animal"], [X[:, 0], X[:, 1], y])
    out = tmp_path / "boundary.png"
    result = invoke("plot", "--model", models["named"].path, "--data", data, "--output", out,
                    "--width", 320, "--height", 240)
    assert result.exit_code == 0, result.output
    assert png_size(out) == (320, 240)
    assert result.stdout == f"Wrote {out} (320 x 240 pixels)\n"
    assert result.stderr == "Backend: numpy on cpu, float64\n"


def test_decision_boundary_legend_names_the_models_classes(models, tmp_path):
    pytest.importorskip("matplotlib")
    X, y = named_blobs()
    data = write_csv(tmp_path / "animals.csv", ["x1", "x2", "animal"], [X[:, 0], X[:, 1], y])
    out = tmp_path / "boundary.svg"
    result = invoke("plot", "--model", models["named"].path, "--data", data, "--output", out)
    assert result.exit_code == 0, result.output
    svg = out.read_text()
    # matplotlib's SVG writer notes each text it draws as a comment.
    for text in ("class", "cat", "dog", "eel"):
        assert f"<!-- {text} -->" in svg, text


def test_loss_curve_plots_the_whole_stored_history(models, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    import nnbackend.cli.plot as plot_command

    plotted = []
    real = plot_command.plot_loss_curve

    def spy(history, *args, **kwargs):
        plotted.append(list(history))
        return real(history, *args, **kwargs)

    monkeypatch.setattr(plot_command, "plot_loss_curve", spy)
    result = invoke("plot", "--model", models["flower"].path, "--loss-curve", "--output",
                    tmp_path / "loss.png")
    assert result.exit_code == 0, result.output
    stored = load_model(models["flower"].path, NUMPY64)[1]["extra"]["history"]
    assert len(stored) > 1 and plotted == [stored]


def test_decision_boundary_on_a_strict_device(models, tmp_path):
    pytest.importorskip("matplotlib")
    pytest.importorskip("array_api_strict")
    out = tmp_path / "boundary.svg"
    result = invoke("plot", "--model", models["flower"].path, "--data", "flower", "--output",
                    out, "--backend", "array-api-strict", "--device", "device1")
    assert result.exit_code == 0, result.output
    assert out.read_text().lstrip().startswith("<?xml")
    assert "array-api-strict on device1" in result.stderr


def test_loss_curve_default_size(models, tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "loss.png"
    result = invoke("plot", "--model", models["flower"].path, "--loss-curve", "--output", out,
                    "--log-scale")
    assert result.exit_code == 0, result.output
    assert png_size(out) == (640, 480)


@pytest.mark.parametrize(("model", "args", "fragments"), [
    ("three", ["--data", "{data3}"], ["2-feature models only", "three.npz takes 3 features"]),
    ("one", ["--data", "{data1}"], ["2-feature models only", "one.npz takes 1 feature;"]),
    ("sine", ["--data", "sine"], ["needs a classifier", "regression model"]),
    ("no-history", ["--loss-curve"], ["no training history to plot"]),
    ("flower", [], ["give --data DATA", "or --loss-curve"]),
    ("flower", ["--data", "flower", "--loss-curve"], ["takes no --data"]),
    ("flower", ["--loss-curve", "--data-seed", "2"], ["takes no --data (nor its options)"]),
    ("flower", ["--data", "flower", "--log-scale"], ["--log-scale applies to --loss-curve"]),
    ("flower", ["--data", "{features_only}"], ["has none; give data with a label column"]),
    ("named", ["--data", "flower"], ["wrong label set", "[0, 1]"]),
    ("flower", ["--data", "sine"], ["sine data set has 1 feature, but the model takes 2"]),
    ("flower", ["--data", "flower", "--width", "10"], ["--width"]),
])
def test_plot_errors_are_one_line_and_keep_the_file(models, tmp_path, previous, model, args,
                                                    fragments):
    X3, y3 = three_features()
    np.savez(tmp_path / "three.npz", X=X3, y=y3)
    np.savez(tmp_path / "one.npz", X=one_feature()[0], y=one_feature()[1])
    np.savez(tmp_path / "flower_x.npz", X=load_dataset("flower")[0])
    names = {"data3": tmp_path / "three.npz", "data1": tmp_path / "one.npz",
             "features_only": tmp_path / "flower_x.npz"}
    args = [a.format(**names) for a in args]
    result = invoke("plot", "--model", models[model].path, *args, "--output", previous)
    assert_one_line_error(result, *fragments)
    assert previous.read_bytes() == PREVIOUS


def test_plot_output_problems(models, tmp_path):
    missing_dir = invoke("plot", "--model", models["flower"].path, "--loss-curve",
                         "--output", tmp_path / "nope" / "loss.png")
    assert_one_line_error(missing_dir, "the directory", "does not exist")
    suffix = invoke("plot", "--model", models["flower"].path, "--loss-curve", "--output",
                    tmp_path / "loss.txt")
    assert_one_line_error(suffix, "cannot save a plot as loss.txt")
    assert not (tmp_path / "loss.txt").exists()


@pytest.mark.parametrize("args", [["--loss-curve"], ["--data", "flower"]])
def test_missing_matplotlib_names_the_plot_extra(models, previous, monkeypatch, args):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    result = invoke("plot", "--model", models["flower"].path, *args, "--output", previous)
    assert_one_line_error(result, "plotting needs matplotlib", "pip install matplotlib")
    assert previous.read_bytes() == PREVIOUS


@pytest.mark.parametrize("length", [["--epochs", "40", "--batch-size", "32"],
                                    ["--iterations", "300"]])
def test_print_every_does_not_thin_the_loss_curve(tmp_path, length):
    """Printing every 10 epochs (or 100 iterations) still records 40 (30) points."""
    from click.testing import CliRunner

    from nnbackend.cli import cli

    model = tmp_path / "m.npz"
    every = "10" if "--epochs" in length else "100"
    result = CliRunner().invoke(cli, ["train", "--data", "moons", *length, "--print-every",
                                      every, "--save", str(model)])
    assert result.exit_code == 0, result.output
    assert sum(line.startswith("Cost after") for line in result.output.splitlines()) < 5
    history = load_model(model, NUMPY64)[1]["extra"]["history"]
    assert len(history) == (40 if "--epochs" in length else 30)
