"""``nnbackend devices`` and the terminal progress bar."""

from __future__ import annotations

import io
import json
import sys
import types

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.cli.progress import ProgressBar

from .helpers import without_torch_cuda


def fake_cupy_with_one_gpu(monkeypatch):
    props = {"name": b"NVIDIA Test GPU", "totalGlobalMem": 80 * 2**30}
    runtime = types.SimpleNamespace(getDeviceCount=lambda: 1,
                                    getDeviceProperties=lambda index: props)
    fake = types.ModuleType("cupy")
    fake.__version__ = "13.9.9"
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    monkeypatch.setitem(sys.modules, "cupy", fake)


def test_devices_without_cuda(monkeypatch):
    monkeypatch.setitem(sys.modules, "cupy", None)
    without_torch_cuda(monkeypatch)
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    assert "numpy" in result.stdout and "CUDA devices: none" in result.stdout
    assert "cupy              not installed (pip install cupy-cuda12x" in result.stdout
    assert ("--device auto picks: numpy on cpu, float64 (PyTorch found no NVIDIA driver and "
            "CuPy is not installed") in result.stdout


def test_devices_says_how_to_install_every_missing_library(monkeypatch):
    # A library counts as missing when it cannot be imported: a None entry in sys.modules.
    for module in ("cupy", "torch", "array_api_strict", "jax"):
        monkeypatch.setitem(sys.modules, module, None)
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.stdout.splitlines()[1:6]}
    assert lines["jax"].endswith("not installed (pip install 'jax[cpu]' (NVIDIA GPUs: "
                                 "'jax[cuda13]'; from nnbackend's checkout, its extras "
                                 "'.[jax]' and '.[jax-cuda13]'))")
    assert lines["torch"].endswith("not installed (pip install torch)")
    assert lines["array-api-strict"].endswith("not installed (pip install array-api-strict)")
    assert "(pip install cupy-cuda12x" in lines["cupy"]


def test_devices_says_what_float64_does_to_jax():
    pytest.importorskip("jax")
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.split()[:1] == ["jax"]]
    assert "runs on cpu, cuda" in line and "float64 turns JAX's jax_enable_x64 on" in line


def test_devices_lists_gpus_and_auto_picks_cuda(monkeypatch):
    fake_cupy_with_one_gpu(monkeypatch)
    without_torch_cuda(monkeypatch)
    result = CliRunner().invoke(cli, ["devices", "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout)
    assert payload["libraries"]["cupy"] == "13.9.9"
    assert payload["cuda_devices"] == [{"device": "cuda:0", "name": "NVIDIA Test GPU",
                                        "memory_gib": 80.0}]
    assert payload["auto"]["backend"] == "cupy on cuda:0, float32"


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_on_a_terminal_only():
    assert ProgressBar.wanted(quiet=False, stream=FakeTerminal())
    assert not ProgressBar.wanted(quiet=True, stream=FakeTerminal())
    assert not ProgressBar.wanted(quiet=False, stream=io.StringIO())

    screen = FakeTerminal()
    bar = ProgressBar(total=10, unit="iterations", stream=screen)
    trainer = types.SimpleNamespace(state=types.SimpleNamespace(step=10))
    bar.on_record(trainer, {"iteration": 0, "cost": 0.6931})
    bar.on_step(trainer)  # the last step always draws
    text = screen.getvalue()
    assert "[########################] 10/10 iterations  cost 0.6931" in text
    assert "it/s" in text
    bar.on_end(trainer, None)  # the run's end erases it
    assert screen.getvalue().endswith("\r\x1b[K")


def test_pipes_and_json_get_no_progress_bar():
    result = CliRunner().invoke(cli, ["train", "--iterations", "2000", "--json"])
    assert result.exit_code == 0
    assert "\r" not in result.stdout and "\r" not in result.stderr
    json.loads(result.stdout.splitlines()[-1])


def test_quiet_keeps_only_the_summary():
    result = CliRunner().invoke(cli, ["train", "--iterations", "2000", "--quiet"])
    assert result.exit_code == 0
    assert "Cost after" not in result.stdout
    assert "Train accuracy:" in result.stdout
