"""Every example in every command's ``--help`` runs, and does something sensible.

The examples are read from the help text itself (continuation lines joined, comments
dropped) and run in a folder prepared with the files they name. Long runs keep their
options; what is checked is the outcome a user would look at: exit code 0 and a useful
model (accuracy, R^2), or, for CUDA examples on a machine without a GPU, the one-line
error that says so.
"""

from __future__ import annotations

import csv
import importlib.util
import json
import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.core.backend import cuda_status
from nnbackend.data.datasets import load_dataset


def help_examples(command: str) -> list[list[str]]:
    """The example command lines of ``nnbackend COMMAND --help``, as argument lists."""
    text = CliRunner().invoke(cli, [command, "--help"]).output
    block = text.split("Examples:", 1)[1].split("\nOptions:", 1)[0] if "Examples:" in text else ""
    joined = re.sub(r"\\\n\s*", " ", block)
    examples = []
    for line in joined.splitlines():
        line = line.split("#", 1)[0].strip()
        if "nnbackend " in line:
            examples.append(shlex.split(line))
    return examples


def write_csv(path: Path, X: np.ndarray, y: np.ndarray | None, target: str = "label",
              names: list[str] | None = None) -> None:
    names = names or [f"x{j + 1}" for j in range(X.shape[1])]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(names + ([target] if y is not None else []))
        for i, row in enumerate(X):
            writer.writerow([repr(float(v)) for v in row] + ([y[i]] if y is not None else []))


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The files the examples name: models, data files, a labelled CSV."""
    root = tmp_path_factory.mktemp("examples")
    runner = CliRunner()
    for name, args in {"flower": ["--iterations", "3000"],
                       "iris": ["--data", "iris", "--standardize", "--epochs", "200",
                                "--batch-size", "16", "--optimizer", "adam", "--lr", "0.01"],
                       "moons": ["--data", "moons", "--epochs", "200", "--batch-size", "32",
                                 "--optimizer", "adam", "--lr", "0.01", "--layers", "8"],
                       "sine": ["--data", "sine", "--layers", "16", "--epochs", "300",
                                "--batch-size", "32", "--optimizer", "adam", "--lr", "0.01"],
                       }.items():
        result = runner.invoke(cli, ["train", *args, "--save", str(root / f"{name}.npz"),
                                     "--quiet"])
        assert result.exit_code == 0, result.output
    X, y = load_dataset("flower")
    write_csv(root / "data.csv", X, y)
    iris_X, iris_y = load_dataset("iris")
    write_csv(root / "new_flowers.csv", iris_X, None)
    write_csv(root / "test.csv", iris_X, iris_y, target="species")
    np.save(root / "X_test.npy", iris_X)
    return root


def accuracy_of(output: str) -> float | None:
    found = re.search(r"(?:Train a|A)ccuracy: ([\d.]+)%", output)
    return None if found is None else float(found.group(1)) / 100


def needs_cuda(args: list[str]) -> bool:
    return any(a.startswith("cuda") for a in args)


COMMANDS = ["train", "sweep", "predict", "evaluate", "plot", "gradcheck", "datasets", "export"]


@pytest.mark.slow
@pytest.mark.parametrize("command", COMMANDS)
def test_every_help_example_runs_and_is_useful(command: str, workdir: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    examples = help_examples(command)
    assert examples, f"nnbackend {command} --help has no examples"
    monkeypatch.chdir(workdir)
    for args in examples:
        if args[0] == "mpirun":
            continue  # a launcher: tests/test_cli_distributed.py runs this one for real
        assert args[0] == "nnbackend", args
        if args[1] == "export" and importlib.util.find_spec("onnx") is None:
            pytest.skip("onnx is not installed (pip install onnx)")
        if args[1] == "plot" and "--data" in args:
            # plot's boundary example draws a two-feature model over test.csv
            write_csv(workdir / "test.csv", *load_dataset("moons"))
        result = CliRunner().invoke(cli, args[1:])
        shown = " ".join(args)
        if needs_cuda(args) and not cuda_status().available:
            # Where CUDA (or the backend's library) is missing: its one-line error.
            assert result.exit_code == 2, shown
            assert result.stderr.startswith("Error: ") and result.stderr.count("\n") == 1
            assert "CUDA" in result.stderr or "needs PyTorch" in result.stderr, result.stderr
            continue
        assert result.exit_code == 0, f"{shown}\n{result.output}"
        accuracy = accuracy_of(result.output)
        if accuracy is not None:
            assert accuracy >= 0.8, f"{shown}: accuracy {accuracy}"
        if "--json" in args:
            json.loads(result.stdout.splitlines()[-1])
        if args[1] == "evaluate" and "R^2:" in result.output:
            r2 = float(result.output.split("R^2:")[1].split()[0])
            assert r2 > 0.5, f"{shown}: R^2 {r2}"
    if command == "evaluate":  # restore what plot's example replaced, for later runs
        iris_X, iris_y = load_dataset("iris")
        write_csv(workdir / "test.csv", iris_X, iris_y, target="species")


@pytest.mark.parametrize("command", sorted(cli.commands))  # type: ignore[attr-defined]
def test_help_that_shows_mpirun_says_what_root_needs(command: str) -> None:
    # Open MPI refuses to start as root (containers, CI) until told; say it where the
    # command is shown, as the README and docs do.
    text = " ".join(CliRunner().invoke(cli, [command, "--help"]).output.split())
    if "mpirun" in text:
        assert "OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1" in text, command
