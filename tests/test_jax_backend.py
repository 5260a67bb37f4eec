"""The jax backend's own rules: the install line without JAX, what float64 does to JAX's
process-wide ``jax_enable_x64``, and devices. Runs in every session: the checks that
need JAX skip without it, and each that changes JAX's settings runs in its own process."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.core.backend import resolve_backend
from nnbackend.errors import SettingError

from .conftest import CHECKOUT

HAS_JAX = importlib.util.find_spec("jax") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="JAX is not installed")


def python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    """``code`` in a fresh interpreter (JAX's settings are per process)."""
    environ = {k: v for k, v in os.environ.items() if k != "JAX_ENABLE_X64"}
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env={**environ, **env}, cwd=CHECKOUT, timeout=120, check=False)


def test_without_jax_one_line_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "jax", None)
    with pytest.raises(SettingError, match=r"the jax backend needs JAX .*pip install "
                                           r"'jax\[cpu\]' .*its extras '\.\[jax\]'"):
        resolve_backend("cpu", "jax")
    result = CliRunner().invoke(cli, ["train", "--backend", "jax", "--iterations", "1"])
    assert result.exit_code == 2
    (line,) = result.output.strip().splitlines()
    assert line.startswith("Error: the jax backend needs JAX") and "--backend numpy" in line


X64 = ("import jax; from nnbackend import resolve_backend; b = resolve_backend('cpu', 'jax', "
       "{dtype!r}); print(jax.config.jax_enable_x64, b.dtype_name, repr(b.setup_note))")


@needs_jax
def test_float64_turns_x64_on_and_says_so_float32_leaves_it() -> None:
    on = python(X64.format(dtype="float64"))
    assert on.stdout.split(maxsplit=2) == ["True", "float64",
                                           "'jax_enable_x64 turned on for float64'\n"]
    off = python(X64.format(dtype="float32"))
    assert off.stdout.split() == ["False", "float32", "''"]
    already = python("import jax; jax.config.update('jax_enable_x64', True); "
                     + X64.format(dtype="float64").split("; ", 1)[1])
    assert already.stdout.split() == ["True", "float64", "''"]  # nothing changed: no note


@needs_jax
def test_x64_turned_off_on_purpose_is_an_error_not_a_silent_change() -> None:
    done = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--backend", "jax",
                           "--iterations", "1"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, "JAX_ENABLE_X64": "0"}, cwd=CHECKOUT,
                          check=False)
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    assert line == ("Error: float64 on jax needs jax_enable_x64, which JAX_ENABLE_X64=0 turns "
                    "off; unset it, or use --dtype float32")
    float32 = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--backend", "jax",
                              "--dtype", "float32", "--iterations", "1"], capture_output=True,
                             text=True, timeout=120, env={**os.environ, "JAX_ENABLE_X64": "0"},
                             cwd=CHECKOUT, check=False)
    assert float32.returncode == 0, float32.stderr
    assert "Backend: jax on cpu, float32\n" in float32.stdout


@needs_jax
def test_train_announces_jax_and_reproduces_the_course() -> None:
    done = python("import sys; from nnbackend.cli import main; sys.argv = ['nnbackend', "
                  "'train', '--backend', 'jax', '--iterations', '1001']; main()")
    assert done.returncode == 0, done.stderr
    assert ("Backend: jax on cpu, float64 (jax_enable_x64 turned on for float64)"
            in done.stdout)
    assert "Cost after iteration 0: 0.693162" in done.stdout
    assert "Cost after iteration 1000: 0.258625" in done.stdout


@needs_jax
def test_jax_devices_are_checked() -> None:
    import jax

    if any(d.platform == "gpu" for d in jax.devices()):
        pytest.skip("this machine has a GPU JAX can use")
    with pytest.raises(SettingError, match=r"cuda:0 needs a CUDA GPU that JAX can use, but "
                                           r"it sees none; pip install 'jax\[cuda13\]' "
                                           r"\(from nnbackend's checkout"):
        resolve_backend("cuda", "jax")
    assert resolve_backend("auto", "jax", "float32").device_label == "cpu"
    with pytest.raises(SettingError, match="compiles each step with XLA instead"):
        from nnbackend.training.trainer import use_cuda_graphs

        use_cuda_graphs("on", resolve_backend("cpu", "jax", "float32"))
