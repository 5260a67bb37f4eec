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
