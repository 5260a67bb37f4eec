"""``scripts/gpu_check.py`` and ``scripts/gpu_probes.py`` on a machine without a GPU.

What needs a GPU runs on one; here: the comparisons, the summary, the messages, and the
probes' own code through their CPU smoke mode.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"


@pytest.fixture(scope="module")
def gpu_check():
    sys.path.insert(0, str(SCRIPTS))
    try:
        import gpu_check as module

        yield module
    finally:
        sys.path.remove(str(SCRIPTS))


def history(*costs: tuple[int, float]) -> dict:
    return {"history": [{"iteration": i, "cost": c} for i, c in costs]}


def test_costs_are_compared_up_to_an_iteration(gpu_check):
    a = history((0, 0.5), (1000, 0.3), (7000, 0.2))
    b = history((0, 0.5), (1000, 0.3 + 2e-12), (7000, 0.1))
    diff, count = gpu_check.compare_costs(a, b, 6000)
    assert count == 2 and diff == pytest.approx(2e-12)
    with pytest.raises(ValueError, match="different iterations"):
        gpu_check.compare_costs(a, history((0, 0.5), (500, 0.3), (7000, 0.2)), 6000)


def test_pytests_closing_line_is_found(gpu_check):
    out = "....F\n=== short test summary info ===\n=== 1 failed, 4 passed in 2.0s ===\n"
    assert gpu_check.pytest_summary(out) == "1 failed, 4 passed in 2.0s"
    collected = ("tests/test_x.py::test_bad_data_fails_with_one_line[an error]\n\n"
                 "347/2733 tests collected (2386 deselected) in 5.68s\n")
    assert gpu_check.pytest_summary(collected) == (
        "347/2733 tests collected (2386 deselected) in 5.68s")


def listing(torch: bool, cupy: bool, auto: str) -> dict:
    """``nnbackend devices --json`` on a one-GPU machine (the parts the check reads)."""
    return {"cuda_devices": [{"device": "cuda:0", "name": "NVIDIA H100", "memory_gib": 79.2}],
            "cuda_order": {"paths": [{"backend": "torch", "path": "torch+graphs",
                                      "available": torch},
                                     {"backend": "cupy", "path": "cupy", "available": cupy}]},
            "auto": {"backend": auto, "reason": "..."}}


class FakeChecker:
    """Answers ``devices --json``, the auto run and the ``cuda:1`` run as a GPU would."""

    def __init__(self, devices: dict, first_line: str) -> None:
        self.devices, self.first_line = devices, first_line

    def command(self, name, args, limit, extra_env=None):
        if "devices" in args:
            return subprocess.CompletedProcess(args, 0, json.dumps(self.devices), "")
        if "cuda:1" in args:
            return subprocess.CompletedProcess(args, 2, "", "Error: there is no cuda:1; ...\n")
        return subprocess.CompletedProcess(args, 0, self.first_line + "\nData: ...\n", "")


AUTO_LINE = ("Backend: torch on cuda:0, float32 (auto: fastest CUDA path installed, by the "
             "order measured 2026-11-26 on an NVIDIA H200: torch+graphs 69 us > cupy 446 us "
             "per flower step; each step replayed as a CUDA graph)")


@pytest.mark.parametrize(("torch", "cupy", "auto", "first", "status"), [
    (True, True, "torch on cuda:0, float32", AUTO_LINE, "passed"),
    (False, True, "cupy on cuda:0, float32",
     "Backend: cupy on cuda:0, float32 (auto: fastest CUDA path installed, by the order "
     "measured ...)", "passed"),
    # the order says torch, but CuPy was picked (as before the order existed)
    (True, True, "cupy on cuda:0, float32", "Backend: cupy on cuda:0, float32", "failed"),
    # the right pick, but the first line does not say why
    (True, True, "torch on cuda:0, float32", "Backend: torch on cuda:0, float32", "failed"),
])
def test_the_devices_step_checks_the_auto_pick_by_the_order(gpu_check, tmp_path, torch,
                                                           cupy, auto, first, status):
    step = gpu_check.Step("devices")
    gpu_check.check_devices(FakeChecker(listing(torch, cupy, auto), first), step, 30.0,
                            gpu_check.GPU)
    assert step.status == status, step.detail
    assert step.data["auto_first_line"] == first
    text = gpu_check.markdown({"date": "d", "python": "3", "numpy": "2", "cupy": "14",
                               "torch": "2", "array_api_compat": "1"}, [step])
    assert f"- `--backend auto` picked (expected {'torch' if torch else 'cupy'} by the " \
           f"measured order): `{first}`" in text


def test_missing_wheels_are_named_with_the_download_command(gpu_check, tmp_path,
                                                            monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name.startswith("array_api") else real(name, *a))
    problem = gpu_check.ensure_dependencies(tmp_path, tmp_path, {})
    assert problem is not None and "no wheel is in" in problem
    assert "pip download --no-deps --only-binary=:all:" in problem
    assert "array-api-compat array-api-strict" in problem


def test_the_summary_holds_every_table(gpu_check):
    info = {"date": "2026-11-26T00:00:00+00:00", "python": "3.12", "numpy": "2", "cupy": "14",
            "torch": "2.11", "array_api_compat": "1.16", "nvidia_smi": ["H200, 580, 143771 MiB"],
            "cuda_runtime": 13020, "cuda_driver": 13000}
    steps = [gpu_check.Step("tests", "passed", 80.0, "700 passed"),
             gpu_check.Step("steps", "passed", 50.0, "ok", {"planar": {"rows": [
                 {"variant": "nnbackend torch + CUDA graphs", "us_per_step": 40.0,
                  "over_torch_autograd": 0.05, "kernels_per_step": 25.0,
                  "gpu_us_per_step": 30.0, "waits_per_step": 0.0}]}}),
             gpu_check.Step("bench", "passed", 90.0, "ok", {"table": [
                 {"workload": "planar", "key": "nnbackend", "label": "nnbackend (cupy)",
                  "median_s": 3.0, "nnbackend_over_peer": None, "cost": 0.2,
                  "accuracy": 0.9}]})]
    text = gpu_check.markdown(info, steps)
    assert "H200, 580, 143771 MiB" in text and "| tests | passed | 80.0 | 700 passed |" in text
    assert "| planar | nnbackend torch + CUDA graphs | 40.0 | 0.05 | 25.0 | 30.0 | 0.0 |" in text
    assert "| planar | nnbackend (cupy) | 3.000 | - |" in text


def test_without_a_gpu_the_check_stops_with_one_line(tmp_path):
    if importlib.util.find_spec("cupy") is not None:
        pytest.skip("CuPy is installed: this machine may have a GPU")
    done = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "--out",
                           str(tmp_path)], capture_output=True, text=True, check=False)
    assert done.returncode == 2
    assert done.stderr.startswith("gpu_check.py: error: no CUDA device: ")
    assert done.stderr.count("\n") == 1


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_the_probes_run_in_their_cpu_smoke_mode():
    done = subprocess.run([sys.executable, str(SCRIPTS / "gpu_probes.py"), "streaming",
                           "--device", "cpu", "--scale", "0.01", "--repeats", "1"],
                          capture_output=True, text=True, check=False, cwd=SCRIPTS)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout.splitlines()[-1])
    assert doc["numpy"]["same_cost"] and doc["torch"]["same_cost"]
    assert doc["numpy"]["host_speed_over_device"] > 0


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_the_sweep_step_runs_the_stack_probe_on_the_cpu(gpu_check, tmp_path):
    """The sweep step in its dry run: the stack probe on PyTorch and NumPy (CPU), its
    stacked models equal to their single runs, its figures in the step's line."""
    env = {**os.environ, "PYTHONPATH": str(SCRIPTS.parent)}
    step = gpu_check.Step("sweep")
    gpu_check.check_sweep(gpu_check.Checker(tmp_path, 120.0, env), step, 120.0, 1,
                          gpu_check.DRY_RUN)
    assert step.status == "passed", step.detail
    assert set(step.data) == {"torch", "numpy"}
    for doc in step.data.values():
        assert doc["speed"]["models"] == 16 and doc["speed"]["stack_us_per_step"] > 0
        assert doc["exact"]["max_diff_vs_single_runs"] <= 1e-12
        assert doc["exact"]["max_diff_graph_vs_eager"] is None  # no graphs on a CPU
    assert step.detail.startswith("torch: 16 models per step ")
    assert "8 models vs their single runs" in step.detail


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="torch not installed")
def test_the_dry_run_runs_every_step_on_the_cpu(tmp_path):
    """The whole check against the current code, NumPy standing in for CuPy: what a GPU
    session would run, less the GPU (the rest of the suite is left out: this is it)."""
    done = subprocess.run([sys.executable, str(SCRIPTS / "gpu_check.py"), "--dry-run",
                           "--out", str(tmp_path), "--skip", "tests-rest"],
                          capture_output=True, text=True, check=False, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    summary = json.loads((tmp_path / "summary.json").read_text())
    steps = {step["name"]: step for step in summary["steps"]}
    has_jax = importlib.util.find_spec("jax") is not None
    assert [name for name, step in steps.items() if step["status"] != "passed"] == [
        *([] if has_jax else ["jax"]), "tests-rest"]
    if has_jax:  # JAX's compiled steps give the course's costs, here on the CPU
        assert steps["jax"]["data"]["max_cost_diff"] <= 1e-9
        assert any(row["key"] == "nnbackend-jax" for row in steps["bench"]["data"]["table"])
    else:
        assert "pip install 'jax[cuda13]'" in steps["jax"]["detail"]
    assert " tests collected (" in steps["tests"]["detail"]  # the GPU tests, selected
    assert steps["devices"]["data"]["expected_pick"] in ("numpy", "torch", "cupy")
    assert steps["devices"]["data"]["auto_first_line"].startswith("Backend: ")
    assert set(steps["steps"]["data"]) == {"planar", "wide", "deep"}
    assert set(steps["sweep"]["data"]) == {"torch", "numpy"}
    assert {row["workload"] for row in steps["bench"]["data"]["table"]} == {
        "planar", "wide", "deep"}
    text = (tmp_path / "summary.md").read_text()
    assert text.startswith("# nnbackend dry run on the CPU (figures mean nothing)")
