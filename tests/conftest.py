"""Backend parameters for the whole suite.

``NNBACKEND_TEST_BACKENDS`` (set by the nox sessions) names the backend families to test,
comma-separated: ``numpy``, ``strict``, ``torch``, ``jax``, ``cupy``. Unset, every family is tried:
those whose library is missing are left out (torch) or skipped with a reason (cupy without
a CUDA device). When the variable names a family explicitly and its library cannot be
used, the run stops with an error instead of silently testing something else.

array-api-strict runs on NON-default devices (``device1``, ``no_float64``): it refuses to
combine arrays from different devices, the mistake that breaks on CuPy. A strict failure
is treated as a CuPy bug.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

import nnbackend
from nnbackend.core.backend import Backend, cuda_status, resolve_backend

FAMILIES = ("numpy", "strict", "torch", "jax", "cupy")
ENV = "NNBACKEND_TEST_BACKENDS"


@dataclass(frozen=True)
class BackendCase:
    """One backend configuration of the suite: ``resolve_backend`` arguments + marks."""

    id: str
    family: str
    device: str
    backend: str
    dtype: str


CASES = (
    BackendCase("numpy-float64", "numpy", "cpu", "numpy", "float64"),
    BackendCase("numpy-float32", "numpy", "cpu", "numpy", "float32"),
    BackendCase("strict-device1-float64", "strict", "device1", "array-api-strict", "float64"),
    BackendCase("strict-no_float64-float32", "strict", "no_float64", "array-api-strict",
                "float32"),
    BackendCase("torch-cpu-float64", "torch", "cpu", "torch", "float64"),
    BackendCase("torch-cpu-float32", "torch", "cpu", "torch", "float32"),
    # JAX on its CPU: immutable arrays, each training step compiled by XLA (float64
    # turns jax_enable_x64 on for the process; float32 arrays stay float32 under it).
    BackendCase("jax-cpu-float64", "jax", "cpu", "jax", "float64"),
    BackendCase("jax-cpu-float32", "jax", "cpu", "jax", "float32"),
    BackendCase("cupy-float32", "cupy", "cuda", "cupy", "float32"),
    # float64 on the GPU: compared with NumPy float64 as tightly as the CPU backends.
    BackendCase("cupy-float64", "cupy", "cuda", "cupy", "float64"),
)

_MODULES = {"numpy": "numpy", "strict": "array_api_strict", "torch": "torch", "jax": "jax",
            "cupy": "cupy"}


def _requested_families() -> tuple[tuple[str, ...], bool]:
    raw = os.environ.get(ENV, "").strip()
    if not raw:
        return FAMILIES, False
    families = tuple(f.strip() for f in raw.split(",") if f.strip())
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise pytest.UsageError(f"{ENV}: unknown backend(s) {sorted(unknown)}; use {FAMILIES}")
    return families, True


def _backend_params() -> list:
    families, explicit = _requested_families()
    params = []
    for case in CASES:
        if case.family not in families:
            continue
        installed = importlib.util.find_spec(_MODULES[case.family]) is not None
        if case.family == "cupy":
            status = cuda_status()
            marks = [pytest.mark.gpu]
            if not status.available:
                marks.append(pytest.mark.skip(reason=f"no CUDA device: {status.reason}"))
            params.append(pytest.param(case, marks=marks, id=case.id))
            continue
        if not installed:
            if explicit:
                raise pytest.UsageError(
                    f"{ENV} asks for {case.family!r} but {_MODULES[case.family]} is not "
                    "installed here; install it or leave the family out"
                )
            continue
        params.append(pytest.param(case, id=case.id))
    return params


def pytest_configure(config: pytest.Config) -> None:
    if importlib.util.find_spec("array_api_strict") is not None:
        import array_api_strict

        # Pin the standard version the code is written against (2024.12: Python scalars
        # as operands of maximum, where, ...).
        array_api_strict.set_array_api_strict_flags(api_version="2024.12")


def pytest_report_header(config: pytest.Config) -> str:
    families, explicit = _requested_families()
    return (f"nnbackend {nnbackend.__version__}: backend families "
            f"{', '.join(families)} ({'from ' + ENV if explicit else 'default'})")


BACKEND_PARAMS = _backend_params()
#: The repository root: the nnbackend every test, and every subprocess, runs.
CHECKOUT = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True, scope="session")
def cpu_default_device_and_this_checkout() -> Iterator[None]:
    """The command line's ``--device`` defaults to ``cpu`` in every test, and subprocesses
    import this checkout's nnbackend.

    Its real default, ``auto``, means CUDA on a GPU machine, and the suite's expected
    figures (the notes' float64 costs, "Backend: numpy on cpu") are the CPU's: the suite
    must pass unchanged where there is a GPU. Tests of ``auto`` pass it explicitly.
    Session-wide, so that module-wide fixtures (reference runs in subprocesses) see it
    too; a test's own ``monkeypatch.setenv`` still overrides it for that test.
    """
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("NNBACKEND_DEVICE", "cpu")
        # Subprocesses (``python -m nnbackend ...``) import this checkout, not whatever
        # copy of nnbackend happens to be installed.
        patch.setenv("PYTHONPATH", os.pathsep.join(
            filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")])))
        yield


@pytest.fixture(params=BACKEND_PARAMS)
def backend(request: pytest.FixtureRequest) -> Backend:
    """Every backend configuration of the suite, one test run each."""
    case: BackendCase = request.param
    return resolve_backend(device=case.device, backend=case.backend, dtype=case.dtype)


@pytest.fixture(params=[p for p in BACKEND_PARAMS if p.values[0].dtype == "float64"])
def backend64(request: pytest.FixtureRequest) -> Backend:
    """The float64 configurations, for checks at float64 precision."""
    case: BackendCase = request.param
    return resolve_backend(device=case.device, backend=case.backend, dtype=case.dtype)


@pytest.fixture(scope="session")
def reference() -> Backend:
    """NumPy float64: the reference every backend is compared with."""
    return resolve_backend(device="cpu", backend="numpy", dtype="float64")
