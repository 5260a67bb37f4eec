"""``--backend auto`` on CUDA: the fastest path installed, by the measured order.

No GPU is needed: the functions that say whether CuPy and PyTorch can use a CUDA device
are replaced by test doubles, and so are the two CUDA backend constructors (a NumPy
backend under the picked name), so the pick, its reason line, ``nnbackend devices`` and
the errors are checked for each combination of installed libraries.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from nnbackend.core import backend as backends
from nnbackend.core import cuda_order
from nnbackend.core.backend import CudaStatus, resolve_backend
from nnbackend.errors import SettingError

DOCS = Path(__file__).resolve().parent.parent / "docs"
ORDER = ("by the order measured 2026-11-26 on an NVIDIA H200: torch+graphs 69 us > cupy "
         "446 us per flower step")
CPU_ONLY_TORCH = "PyTorch 2.0.0+cpu is a CPU-only build"
NO_CUPY = "CuPy is not installed (No module named 'cupy')"


@pytest.fixture
def installed(monkeypatch):
    """``installed(torch=..., cupy=...)``: which CUDA paths can run here, as doubles.

    The constructors record the GPU index asked for and return a NumPy backend renamed
    after the library, so a CLI run trains for real on the CPU.
    """
    made = []

    def install(*, torch: bool, cupy: bool) -> list:
        monkeypatch.setattr(backends, "torch_cuda_status", lambda: CudaStatus(
            True, 1, "PyTorch sees 1 CUDA device(s)") if torch else CudaStatus(
            False, 0, CPU_ONLY_TORCH))
        monkeypatch.setattr(backends, "cuda_status", lambda: CudaStatus(
            True, 1, "CuPy sees 1 CUDA device(s)") if cupy else CudaStatus(False, 0, NO_CUPY))

        def stand_in(name):
            def make(*args):
                made.append((name, *args))
                return dataclasses.replace(backends._numpy_backend(args[-1]), name=name)
            return make

        monkeypatch.setattr(backends, "_cupy_backend", stand_in("cupy"))
        monkeypatch.setattr(backends, "_torch_backend", stand_in("torch"))
        return made

    return install


@pytest.mark.parametrize("device", ["cuda", "auto", "cuda:0"])
def test_torch_with_graphs_comes_first_where_both_are_installed(installed, device):
    made = installed(torch=True, cupy=True)
    backend = resolve_backend(device, "auto")
    assert backend.name == "torch" and made == [("torch", "cuda", 0, None)]
    assert backend.auto_reason == f"fastest CUDA path installed, {ORDER}"


def test_only_cupy_is_picked_and_the_reason_names_the_faster_path(installed):
    made = installed(torch=False, cupy=True)
    backend = resolve_backend("cuda:0", "auto", "float64")
    assert backend.name == "cupy" and made == [("cupy", 0, "float64")]
    assert backend.auto_reason == (
        f"fastest CUDA path installed, {ORDER}; torch+graphs would be faster, but "
        f"{CPU_ONLY_TORCH}: install a CUDA build of PyTorch (pip install torch)")


def test_only_torch_is_picked(installed):
    installed(torch=True, cupy=False)
    backend = resolve_backend("cuda", "auto")
    assert backend.name == "torch"
    assert backend.auto_reason == f"fastest CUDA path installed, {ORDER}"


def test_neither_is_one_error_naming_both_installs(installed):
    made = installed(torch=False, cupy=False)
    with pytest.raises(SettingError) as info:
        resolve_backend("cuda", "auto")
    assert info.value.spelled(lambda name: f"--{name}") == (
        f"--device cuda needs a CUDA GPU, but {CPU_ONLY_TORCH} and {NO_CUPY}; install a "
        "CUDA build of PyTorch (pip install torch) or CuPy (pip install cupy-cuda12x, or "
        "cupy-cuda13x for CUDA 13) on a machine with an NVIDIA driver, or use --device cpu")
    assert str(info.value).startswith("device cuda needs")  # Python's spelling
    assert made == []  # and no silent CPU run
    auto = resolve_backend("auto", "auto")
    assert (auto.name, auto.device_label, auto.auto_reason) == ("numpy", "cpu", "")


def test_named_backends_and_the_cpu_are_not_reordered(installed):
    made = installed(torch=True, cupy=True)
    assert resolve_backend("cuda", "cupy").auto_reason == ""
    assert made == [("cupy", 0, None)]
    cpu = resolve_backend("cpu", "auto")
    assert (cpu.name, cpu.auto_reason) == ("numpy", "")
    assert len(made) == 1


def test_the_first_faster_path_spares_asking_the_slower_one(installed, monkeypatch):
    installed(torch=True, cupy=True)

    def never():
        raise AssertionError("CuPy was asked although PyTorch, faster, can run")

    monkeypatch.setattr(backends, "cuda_status", never)
    assert resolve_backend("cuda").name == "torch"


def test_the_order_comes_from_the_measured_figures(installed, monkeypatch):
    """Swap the measured times and the pick follows: no backend is ranked in code."""
    installed(torch=True, cupy=True)
    swapped = dataclasses.replace(cuda_order.MEASURED, date="2030-01-01", paths=(
        cuda_order.CudaPath("cupy", "cupy+graphs", 50.0, 300.0),
        cuda_order.CudaPath("torch", "torch+graphs", 69.0, 393.0)))
    monkeypatch.setattr(cuda_order, "MEASURED", swapped)
    backend = resolve_backend("cuda")
    assert backend.name == "cupy"
    assert "2030-01-01" in backend.auto_reason
    assert "cupy+graphs 50 us > torch+graphs 69 us" in backend.auto_reason


def test_the_order_holds_the_figures_of_the_dated_table():
    """The figures are docs/devices.md's: nnbackend's CuPy eager and PyTorch + graphs rows."""
    text = (DOCS / "devices.md").read_text()
    measured = cuda_order.MEASURED
    assert f"One run of it on {measured.date}: {measured.machine}" in text
    rows = {"cupy": "nnbackend, CuPy eager", "torch+graphs": r"\**nnbackend, PyTorch \+ CUDA "
            r"graphs\**"}
    for path in measured.paths:
        found = [float(m.replace("*", "")) for m in re.findall(
            rf"\| {rows[path.label]} \| (\**\d+\**) \|", text)]
        assert found[0] == path.flower_us and found[2] == path.deep_us, (path, found)


def first_line(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["train", "--iterations", "2", *args])
    return result.exit_code, result.stdout.splitlines()[0] if result.stdout else "", \
        result.stderr


@pytest.mark.parametrize(("torch", "cupy", "picked"), [
    (True, True, "torch"), (False, True, "cupy"), (True, False, "torch")])
def test_train_says_what_auto_picked_and_why_on_its_first_line(installed, torch, cupy,
                                                                picked):
    installed(torch=torch, cupy=cupy)
    code, line, _ = first_line("--device", "cuda", "--dtype", "float32")
    assert code == 0
    assert line.startswith(f"Backend: {picked} on cpu, float32 (auto: fastest CUDA path "
                           f"installed, {ORDER}")
    assert line.endswith(")")


def test_train_without_any_cuda_path_is_one_line_naming_both_installs(installed):
    installed(torch=False, cupy=False)
    result = CliRunner().invoke(cli, ["train", "--device", "cuda", "--iterations", "2"])
    assert result.exit_code == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: --device cuda")
    assert "pip install torch" in result.stderr and "pip install cupy-cuda12x" in result.stderr
    code, line, _ = first_line()  # --device auto: the CPU, as before
    assert (code, line) == (0, "Backend: numpy on cpu, float64")


@pytest.mark.parametrize(("torch", "cupy", "auto"), [
    (True, True, "torch on cuda:0, float32"), (False, True, "cupy on cuda:0, float32"),
    (True, False, "torch on cuda:0, float32"), (False, False, "numpy on cpu, float64")])
def test_devices_shows_the_order_and_what_can_run(installed, monkeypatch, torch, cupy, auto):
    installed(torch=torch, cupy=cupy)
    # (a CuPy double that says it sees a GPU has no device properties to list)
    monkeypatch.setattr(sys.modules["nnbackend.cli.devices"], "cuda_devices", lambda: [])
    result = CliRunner().invoke(cli, ["devices"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    start = lines.index("CUDA backends, fastest first (measured 2026-11-26 on an NVIDIA "
                        "H200; us per training step, flower / deep):")
    usable = {True: "usable", False: "not usable"}
    torch_says = "PyTorch sees 1 CUDA device(s)" if torch else CPU_ONLY_TORCH
    cupy_says = "CuPy sees 1 CUDA device(s)" if cupy else NO_CUPY
    assert lines[start + 1] == f"  1. torch+graphs      69 /    393  {usable[torch]}: {torch_says}"
    assert lines[start + 2] == f"  2. cupy             446 /  2,560  {usable[cupy]}: {cupy_says}"
    assert lines[start + 3].startswith(f"--device auto picks: {auto} (")
    payload = json.loads(CliRunner().invoke(cli, ["devices", "--json"]).stdout)
    assert [(p["path"], p["available"]) for p in payload["cuda_order"]["paths"]] == [
        ("torch+graphs", torch), ("cupy", cupy)]
    assert payload["auto"]["backend"] == auto


def test_pytorch_is_asked_only_where_it_can_be_installed_and_a_driver_loads(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)
    assert backends.torch_cuda_status() == CudaStatus(False, 0, "PyTorch is not installed")
    monkeypatch.undo()
    if importlib.util.find_spec("torch") is None:
        pytest.skip("torch not installed")
    monkeypatch.setattr(backends, "_nvidia_driver_loads", lambda: False)
    assert backends.torch_cuda_status().reason == "PyTorch found no NVIDIA driver"
    import torch

    if torch.version.cuda is None:  # this CPU-only build, told apart once a driver loads
        monkeypatch.setattr(backends, "_nvidia_driver_loads", lambda: True)
        assert backends.torch_cuda_status() == CudaStatus(
            False, 0, f"PyTorch {torch.__version__} is a CPU-only build")


@pytest.mark.skipif(backends._nvidia_driver_loads(), reason="an NVIDIA driver loads here")
def test_auto_on_a_machine_without_a_driver_never_imports_torch():
    """``import torch`` costs seconds: a CPU machine's default run must not pay it."""
    code = ("import sys; from nnbackend import resolve_backend; "
            "print(resolve_backend('auto').name, 'torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=False, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["numpy", "False"]


def test_the_docs_show_the_line_a_graphed_torch_pick_prints(installed):
    installed(torch=True, cupy=True)
    reason = resolve_backend("cuda").auto_reason
    line = (f"Backend: torch on cuda:0, float32 (auto: {reason}; each step replayed as a "
            "CUDA graph)")
    assert f"\n{line}\n" in (DOCS / "devices.md").read_text()


def test_auto_gives_each_rank_its_gpu_where_only_pytorch_sees_one(installed) -> None:
    """Under a launcher, ``--device auto`` is one GPU per rank wherever the auto pick finds a
    CUDA path, PyTorch's included (not only where CuPy sees a device)."""
    from nnbackend.distributed.inprocess import run_ranks
    from nnbackend.distributed.launch import rank_device

    installed(torch=True, cupy=False)
    assert run_ranks(2, lambda comm: rank_device("auto", comm)) == ["cuda:0", "cuda:1"]
    installed(torch=False, cupy=False)
    assert run_ranks(2, lambda comm: rank_device("auto", comm)) == ["auto", "auto"]
