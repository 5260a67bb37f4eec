"""Smoke test of ``scripts/bench.py``: it runs at a tiny size and prints its tables.

Not a performance test: the benchmark's numbers never decide pass or fail here, only
that the script runs end to end and that its table and JSON keep their shape. It runs
in the numpy, torch and jax nox sessions (the torch and jax ones exercise their peers;
the numpy one, where they are absent, their "skipped" notes) and is left out of the
others.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from nnbackend import cuda_status

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "bench.py"
FAMILIES = {f.strip() for f in os.environ.get("NNBACKEND_TEST_BACKENDS", "").split(",")
            if f.strip()}

pytestmark = pytest.mark.skipif(
    bool(FAMILIES) and not FAMILIES & {"numpy", "torch", "jax"},
    reason="the benchmark smoke test runs in the numpy, torch and jax sessions only")


def run_bench(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``python scripts/bench.py ARGS`` (this checkout's nnbackend: tests/conftest.py)."""
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True,
                          text=True, timeout=timeout, check=False, cwd=ROOT)


@pytest.fixture(scope="module")
def quick_run() -> tuple[str, dict]:
    """One ``--quick`` run of every workload: its table (stderr) and JSON (stdout)."""
    # One thread: on a busy 2-core machine, spinning BLAS/OpenMP pools crawl.
    done = run_bench("--quick", "--quiet", "--threads", "1", "--json", "-", "--workloads",
                     "planar,wide,deep,gemm")
    assert done.returncode == 0, done.stderr
    return done.stderr, json.loads(done.stdout)


@pytest.fixture(scope="module")
def many_run() -> tuple[str, dict]:
    """One ``--quick`` run of the many-model workloads (study, sweep256) with every peer."""
    done = run_bench("--quick", "--quiet", "--threads", "1", "--json", "-", "--workloads",
                     "study,sweep256", timeout=600)
    assert done.returncode == 0, done.stderr
    return done.stderr, json.loads(done.stdout)


def test_prints_header_tables_and_targets(quick_run: tuple[str, dict]) -> None:
    out, _ = quick_run  # with --json -, the table goes to stderr
    assert out.startswith("nnbackend benchmark, ")
    for heading in ("planar: 400 x 2 float64, 2-4-1 tanh/sigmoid",
                    "wide: 600 x 784 (+100 test) float32, 784-256-10 relu/softmax",
                    "deep: 600 x 784 (+100 test) float32, 784-512-256-128-10",
                    "gemm floor: the wide workload's matrix products per epoch"):
        assert heading in out
    assert "median s" in out and "nnb/peer" in out and "final cost" in out
    assert "notes (plain NumPy loop)" in out
    assert "targets:" in out and "issue" not in out
    assert "cost agreement, nnbackend vs notes" in out
    assert out.rstrip().splitlines()[-1].startswith("targets: ")


def test_json_has_every_workload_row_and_target(quick_run: tuple[str, dict]) -> None:
    _, doc = quick_run
    assert set(doc["workloads"]) == {"planar", "wide", "deep"}
    assert doc["environment"]["versions"]["nnbackend"]
    assert doc["settings"]["threads"] == 1
    for name, work in doc["workloads"].items():
        rows = work["rows"]
        assert rows[0]["key"] == "nnbackend" and rows[0]["nnbackend_over_peer"] is None
        assert len(rows) >= 2 or work["skipped"], name  # at least one peer, or a note
        for row in rows:
            assert len(row["times"]) == 1 and row["median_s"] > 0
            assert 0.0 <= row["accuracy"] <= 1.0 and row["cost"] > 0
            if row["key"] != "nnbackend":
                assert row["nnbackend_over_peer"] > 0
        for target in work["targets"]:
            assert target["passed"] in (True, False, None)
    planar = doc["workloads"]["planar"]
    # Same initialisation, same math: nnbackend reproduces the notes' costs.
    assert planar["cost_agreement"]["max_abs_diff"] < 1e-9
    gemm = doc["gemm"]
    assert gemm["floor_s_per_epoch"] > 0 and gemm["nnbackend_over_floor"] > 0
    assert {p["product"].split(" (")[0] for p in gemm["products"]} == {
        "W1 @ A0", "W2 @ A1", "dZ2 @ A1.T", "W2.T @ dZ2", "dZ1 @ A0.T"}


@pytest.mark.skipif(cuda_status().available, reason="this machine has a CUDA device")
def test_cuda_without_a_gpu_is_a_one_line_error() -> None:
    done = run_bench("--device", "cuda", "--quick")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1
    assert "needs a CUDA GPU" in done.stderr


def test_unknown_workload_is_a_usage_error() -> None:
    done = run_bench("--workloads", "planar,huge")
    assert done.returncode == 2
    assert "unknown huge" in done.stderr


HAS_TORCH = importlib.util.find_spec("torch") is not None


def test_quick_run_has_nnbackend_on_torch_or_says_why(quick_run: tuple[str, dict]) -> None:
    out, doc = quick_run
    for name in ("planar", "wide", "deep"):
        work = doc["workloads"][name]
        keys = [row["key"] for row in work["rows"]]
        if HAS_TORCH:
            assert "nnbackend-torch" in keys and "torch" in keys, name
            assert "torch-copy" not in keys  # an extra row, only when asked for
            assert set(work["nnbackend_torch_over"]) == {"torch"}
        else:
            assert any(note.startswith("nnbackend-torch: PyTorch is not installed")
                       for note in work["skipped"]), name
    wide_targets = {t["text"].split(" (")[0]: t for t in doc["workloads"]["wide"]["targets"]}
    target = wide_targets["nnbackend-torch <= 0.8x torch"]
    assert target["limit"] == 0.8
    assert (target["measured"] is not None) == HAS_TORCH
    if HAS_TORCH:
        assert "nnbackend-torch / torch " in out
        row = next(r for r in doc["workloads"]["wide"]["rows"] if r["key"] == "nnbackend-torch")
        assert "torch on cpu, float32" in row["label"]


HAS_JAX = importlib.util.find_spec("jax") is not None


def test_quick_run_has_nnbackend_on_jax_or_says_why(quick_run: tuple[str, dict]) -> None:
    """A JAX row on every workload (the same model as the first row's, up to rounding),
    and the planar target of JAX against the first row; or a note naming the extra."""
    _, doc = quick_run
    for name in ("planar", "wide", "deep"):
        work = doc["workloads"][name]
        rows = {row["key"]: row for row in work["rows"]}
        if not HAS_JAX:
            assert any(note.startswith("nnbackend-jax: JAX is not installed (pip install "
                                       "'nnbackend[jax]')") for note in work["skipped"])
            continue
        jax_row = rows["nnbackend-jax"]
        assert "jax on cpu" in jax_row["label"] and "steps compiled by XLA" in jax_row["label"]
        assert jax_row["cost"] == pytest.approx(rows["nnbackend"]["cost"], rel=1e-3), name
    targets = {t["text"].split(" (")[0]: t for t in doc["workloads"]["planar"]["targets"]}
    assert (targets["nnbackend-jax <= 0.8x nnbackend"]["measured"] is not None) == HAS_JAX


@pytest.mark.skipif(not HAS_TORCH, reason="PyTorch is not installed")
def test_torch_rows_gather_batches_and_agree_with_nnbackend() -> None:
    done = run_bench("--quick", "--quiet", "--threads", "1", "--workloads", "planar,wide",
                     "--peers", "torch,torch-copy,nnbackend-torch", "--json", "-")
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    wide = doc["workloads"]["wide"]
    rows = {row["key"]: row for row in wide["rows"]}
    assert list(rows) == ["nnbackend", "torch", "torch-copy", "nnbackend-torch"]
    assert "permuted copy per epoch" in rows["torch-copy"]["label"]
    assert "permuted copy" not in rows["torch"]["label"]
    # Same initial parameters, same per-epoch permutation, same batches: the same model
    # up to float32 rounding, whichever way the batches are gathered.
    for key in ("torch", "torch-copy", "nnbackend-torch"):
        assert abs(rows[key]["cost"] - rows["nnbackend"]["cost"]) < 1e-4, key
        assert rows[key]["test_accuracy"] == pytest.approx(rows["nnbackend"]["test_accuracy"],
                                                           abs=0.011), key
    assert set(wide["nnbackend_torch_over"]) == {"torch", "torch-copy"}
    expected = rows["nnbackend-torch"]["median_s"] / rows["torch"]["median_s"]
    assert wide["nnbackend_torch_over"]["torch"] == pytest.approx(expected)
    assert "nnbackend-torch / torch-copy" in done.stderr
    # The full-batch workload has no batches to gather: torch-copy is skipped with a note.
    planar = doc["workloads"]["planar"]
    assert [row["key"] for row in planar["rows"]] == ["nnbackend", "torch", "nnbackend-torch"]
    assert any(note.startswith("torch-copy: a full-batch workload") for note in
               planar["skipped"])


def test_help_names_every_peer_and_the_default() -> None:
    done = run_bench("--help")
    assert done.returncode == 0
    text, packed = " ".join(done.stdout.split()), "".join(done.stdout.split())
    assert "notes,sklearn,torch,torch-copy,nnbackend-torch,nnbackend-jax" in packed
    assert "index_select" in text and "permuted copy of the whole data set" in text
    assert "(default:notes,sklearn,torch,nnbackend-torch,nnbackend-jax,vmap,gridsearch)" in packed


def test_help_names_the_many_model_workloads_and_their_peers() -> None:
    done = run_bench("--help")
    assert done.returncode == 0
    text, packed = " ".join(done.stdout.split()), "".join(done.stdout.split())
    assert "study,sweep256(default:all)" in packed and "us/model/step" in text
    assert "torch.func.vmap" in text and "GridSearchCV" in text
    assert ",vmap,gridsearch)" in packed  # run by default, named in the default list


def test_unknown_peer_is_a_usage_error() -> None:
    done = run_bench("--peers", "torch,jax")
    assert done.returncode == 2
    assert "unknown jax" in done.stderr and "torch-copy" in done.stderr


HAS_SKLEARN = importlib.util.find_spec("sklearn") is not None


def test_study_is_one_sweep_against_the_seven_single_runs(many_run: tuple[str, dict]) -> None:
    out, doc = many_run
    assert ("study (float64): 7 models (7 hidden sizes) of 2-1/2/3/4/5/20/50-1 tanh/sigmoid "
            "on 400 x 2 float64, gradient descent lr 1.2, full batch, 50 iterations") in out
    study = doc["workloads"]["study"]
    rows = {row["key"]: row for row in study["rows"]}
    assert list(rows)[:2] == ["nnbackend", "single runs"]
    sweep, singles = rows["nnbackend"], rows["single runs"]
    assert sweep["models"] == singles["models"] == 7 and sweep["steps"] == 50
    assert sum(sweep["stacks"]) == 7  # however the grouping cut the sizes
    # The sweep's models are the single runs' models: the same final costs.
    assert sweep["costs"] == pytest.approx(singles["costs"], abs=1e-12)
    assert study["cost_agreement"]["single runs"] <= 1e-9
    assert singles["nnbackend_over_row"] == pytest.approx(
        sweep["us_per_model_step"] / singles["us_per_model_step"])
    texts = [t["text"] for t in study["targets"]]
    assert any(t.startswith("one sweep <= 0.8x the single runs") for t in texts)
    assert any(t.startswith("one sweep never slower") for t in texts)


def test_sweep256_has_both_dtypes_its_one_model_and_the_peers(
        many_run: tuple[str, dict]) -> None:
    out, doc = many_run
    for key, dtype in (("sweep256", "float64"), ("sweep256-float32", "float32")):
        work = doc["workloads"][key]
        assert work["dtype"] == dtype
        rows = {row["key"]: row for row in work["rows"]}
        assert rows["nnbackend"]["models"] == 16 and rows["one model"]["models"] == 1
        for row in rows.values():
            assert len(row["times"]) == 1 and row["median_s"] > 0
            assert all(0.0 <= a <= 1.0 for a in row["accuracies"])
            assert all(c > 0 for c in row["costs"])
        # The stack's seed-1 lr-1.2 model is the one model's run.
        assert work["cost_agreement"]["one model"] <= 1e-9
        texts = [t["text"] for t in work["targets"]]
        assert "per model per step <= 0.65x one model's step (one model)" in texts
        if HAS_TORCH:
            assert "vmap" in rows and "nnbackend-torch" in rows
            # Same initial weights, same steps: vmap trains the same models.
            assert work["cost_agreement"]["vmap"] < (1e-12 if dtype == "float64" else 1e-5)
            assert "nnbackend no slower than vmap (<= 1.0x)" in texts
        else:
            assert any(n.startswith("vmap: PyTorch is not installed") for n in work["skipped"])
    float64 = {row["key"]: row for row in doc["workloads"]["sweep256"]["rows"]}
    if HAS_SKLEARN:
        grid = float64["gridsearch"]
        assert "GridSearchCV(MLPClassifier), n_jobs=-1" in grid["label"]
        assert grid["models"] == 16 and len(grid["costs"]) == 16
    assert "gridsearch" not in {r["key"] for r in doc["workloads"]["sweep256-float32"]["rows"]}
    assert "us/model/step" in out and "best/median/worst" in out
