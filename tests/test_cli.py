"""The command line as a user drives it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.core.backend import cuda_status

from .helpers import without_torch_cuda


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_default_run_is_the_notes_flower_run():
    result = run("train")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Backend: ") and "float64" in lines[0]
    costs = [line for line in lines if line.startswith("Cost after iteration ")]
    assert [int(re.search(r"iteration (\d+):", c).group(1)) for c in costs] == list(
        range(0, 10000, 1000))
    assert costs[0] == "Cost after iteration 0: 0.693162"
    accuracy = float(re.search(r"Train accuracy: ([\d.]+)%", result.stdout).group(1))
    assert accuracy >= 90.0


def test_json_is_the_last_line_and_complete():
    result = run("train", "--iterations", "300", "--print-every", "100", "--json",
                 "--backend", "array-api-strict")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.strip().splitlines()[-1])
    assert payload["backend"] == "array-api-strict"
    assert payload["device"] == "cpu" and payload["dtype"] == "float64"
    assert [h["iteration"] for h in payload["history"]] == list(range(0, 300, 10))
    assert [line for line in result.stderr.splitlines() if line.startswith("Cost after")] == [
        f"Cost after iteration {i}: {h['cost']:.6f}"
        for i, h in zip((0, 100, 200), payload["history"][::10], strict=True)]  # every 100th
    assert all(isinstance(h["cost"], float) for h in payload["history"])
    assert 0.0 <= payload["train_accuracy"] <= 1.0
    assert "Cost after iteration 0" in result.stderr  # human lines moved off stdout


def test_deep_network_options():
    result = run("train", "--layers", "20,7,5", "--hidden-activation", "relu", "--init", "he",
                 "--lr", "0.3", "--iterations", "200", "--print-every", "100", "--seed", "1",
                 "--dtype", "float32")
    assert result.exit_code == 0, result.output
    assert "layers 2-20-7-5-1, relu hidden, sigmoid output" in result.stdout
    assert "float32" in result.stdout


def test_cuda_without_a_gpu_is_a_one_line_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    without_torch_cuda(monkeypatch)
    result = run("train", "--device", "cuda")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("Error: --device cuda needs a CUDA GPU")
    assert "pip install cupy-cuda12x" in result.stderr
    assert "--device cpu" in result.stderr


@pytest.mark.parametrize(("args", "match"), [
    (["--hidden-activation", "swish"], "'swish' is not one of"),
    (["--init", "bogus"], "'bogus' is not one of"),
    (["--layers", "4,x"], "not a comma-separated list of positive integers"),
    (["--layers", "0"], "not a comma-separated list of positive integers"),
    (["--lr", "0"], "--lr"),
    (["--lr", "-1"], "--lr"),
    (["--iterations", "0"], "--iterations"),
    (["--print-every", "0"], "--print-every"),
    (["--device", "tpu"], "unknown device 'tpu'"),
    (["--backend", "mxnet"], "'mxnet' is not one of"),
    (["--data", "nope"], "unknown data set or file 'nope'"),
    (["--dtype", "float16"], "'float16' is not one of"),
    (["--no-such-option"], "No such option"),
])
def test_bad_input_is_one_line_exit_2(args, match):
    result = run("train", *args)
    assert result.exit_code == 2, result.output
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("Error: ")
    assert match in result.stderr
    assert "Traceback" not in result.stderr


def test_help_teaches():
    result = run("train", "--help")
    assert result.exit_code == 0
    for option in ("--layers", "--hidden-activation", "--init", "--lr", "--iterations", "--seed",
                   "--device", "--backend", "--dtype", "--print-every", "--json", "Examples"):
        assert option in result.stdout


def test_python_dash_m_runs_the_cli():
    done = subprocess.run(
        [sys.executable, "-m", "nnbackend", "train", "--iterations", "50", "--print-every",
         "25", "--json"], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1])["history"][1]["iteration"] == 25


@pytest.mark.gpu
def test_cuda_run_on_a_gpu():
    status = cuda_status()
    if not status.available:
        pytest.skip(f"no CUDA device: {status.reason}")
    result = run("train", "--device", "cuda", "--backend", "cupy", "--iterations", "200",
                 "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[-1])
    assert (payload["backend"], payload["device"], payload["dtype"]) == (
        "cupy", "cuda:0", "float32")


def test_the_device_default_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("NNBACKEND_DEVICE", "cuda:7")
    monkeypatch.setitem(sys.modules, "cupy", None)
    without_torch_cuda(monkeypatch)
    result = run("train", "--iterations", "1")
    assert result.exit_code == 2 and "--device cuda needs a CUDA GPU" in result.stderr
    assert "NNBACKEND_DEVICE" in run("train", "--help").stdout
    monkeypatch.setenv("NNBACKEND_DEVICE", "auto")
    result = run("train", "--iterations", "1", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout.splitlines()[-1])["device"] == "cpu"
