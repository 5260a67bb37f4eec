"""The benchmark's nnbackend runner on a non-default device, as ``--device cuda`` runs it.

No GPU is needed: array-api-strict's ``device1`` refuses arrays left on the wrong device and
implicit host conversions, the mistakes that would break the CuPy run of
``scripts/bench.py``. The runner goes through the same public API either way.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest

from nnbackend import resolve_backend

pytest.importorskip("array_api_strict")
SCRIPTS = Path(__file__).resolve().parent.parent / "scripts"
FAMILIES = {f.strip() for f in os.environ.get("NNBACKEND_TEST_BACKENDS", "").split(",")
            if f.strip()}

pytestmark = pytest.mark.skipif(bool(FAMILIES) and "strict" not in FAMILIES,
                                reason="runs in the array-api-strict session")


@pytest.fixture(scope="module")
def workloads(request: pytest.FixtureRequest) -> dict:
    sys.path.insert(0, str(SCRIPTS))
    request.addfinalizer(lambda: sys.path.remove(str(SCRIPTS)))
    from _bench_workloads import build_workloads

    return {w.name: w for w in build_workloads(["planar", "wide", "deep"], 0.01, 1)}


@pytest.mark.parametrize("name", ["planar", "wide", "deep"])
def test_the_nnbackend_runner_keeps_to_its_device(workloads: dict, name: str) -> None:
    from _bench_impls import NNBackendRunner

    work = workloads[name]
    backend = resolve_backend("device1", "array-api-strict", work.dtype)
    runner = NNBackendRunner(work, backend)
    runner.setup()
    runner.fit()
    runner.sync()
    proba = runner.proba(work.data.X)
    assert isinstance(proba, np.ndarray) and np.all(np.isfinite(proba))
    assert proba.shape[0] == work.data.X.shape[0]
    costs = runner.recorded_costs()
    assert costs and all(np.isfinite(costs))
    if name == "planar":  # ten records of the notes' run: it learns
        assert len(costs) == 10 and costs[-1] < costs[0]


def test_the_gpu_sweep_runs_its_runners_on_a_device(workloads: dict) -> None:
    """``--device cuda``'s sweep256 (1,024 models, with GPU targets), shrunk to a smoke
    test and run on array-api-strict's ``device1`` in place of the GPU."""
    from _bench_many import SinglesRunner, SweepRunner, sweep_workloads
    from _bench_many_report import agreement, many_targets, measure_many, print_many_table

    full = sweep_workloads(1.0, None, on_gpu=True)
    assert [len(w.models()) for w in full] == [1024, 1024]
    assert [w.dtype for w in full] == ["float64", "float32"]
    work = sweep_workloads(0.01, 1, on_gpu=True, quick=True)[0]
    backend = resolve_backend("device1", "array-api-strict", work.dtype)
    runners = [SweepRunner(work, backend), SinglesRunner(work, backend, only_one=True)]
    rows = measure_many(work, runners, lambda _: None)
    assert [len(r.costs) for r in rows] == [16, 1]
    assert all(np.isfinite(r.costs).all() for r in rows)
    agree = agreement(work, rows)
    assert agree["one model"] <= 1e-9
    targets = {t.text: t for t in many_targets(work, rows, agree, on_gpu=True)}
    target = targets["16 models per step <= 1.5x one model's step (one model)"]
    # The whole stack's step over one model's step, from the same run.
    assert target.measured == pytest.approx(rows[0].median / rows[0].steps
                                            / (rows[1].median / rows[1].steps))
    lines: list[str] = []
    print_many_table(rows, lines.append)
    assert "array-api-strict on device1" in lines[1] and "1 stack(s) of 16" in lines[-1]
