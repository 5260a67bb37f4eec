"""nox sessions: the same pytest suite on each backend, plus lint and typing.

    nox                              # every CPU backend (numpy, strict, torch) and lint
    nox -s "tests(backend='cupy')"   # on a machine with an NVIDIA GPU
    nox -s lint typing               # ruff and import-linter's layers; mypy

Each tests session installs what its backend needs, then checks that the backend it asked
for is really the one that runs (so nothing silently falls back to the CPU), then runs
pytest with NNBACKEND_TEST_BACKENDS set, which makes tests/conftest.py parametrise the suite
over that backend only and fail if its library is missing.
"""

from __future__ import annotations

import shutil
import subprocess

import nox

nox.options.sessions = [
    "tests(backend='numpy')",
    "tests(backend='strict')",
    "tests(backend='torch')",
    "lint",
]
nox.options.error_on_missing_interpreters = True

# backend family -> (extra packages, device, backend name for resolve_backend)
BACKENDS = {
    "numpy": ([], "cpu", "numpy"),
    "strict": ([], "device1", "array-api-strict"),
    # torch 2.13.0 is the CPU build that installs from this project's machines' disk.
    "torch": (["torch==2.13.0"], "cpu", "torch"),
    "cupy": (["cupy-cuda12x>=13"], "cuda", "cupy"),
}

CHECK_ACTIVE = """
import sys
from nnbackend import resolve_backend
device, name = sys.argv[1], sys.argv[2]
backend = resolve_backend(device=device, backend=name)
assert backend.name == name, f"asked for {name}, got {backend.name}"
print(f"active backend: {backend.describe()}")
"""


def nvidia_gpu_present() -> bool:
    """True when nvidia-smi lists at least one GPU."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False
    listing = subprocess.run([smi, "-L"], capture_output=True, text=True, check=False)
    return listing.returncode == 0 and "GPU" in listing.stdout


@nox.session
@nox.parametrize("backend", list(BACKENDS))
def tests(session: nox.Session, backend: str) -> None:
    """Run the test suite on one backend family."""
    packages, device, name = BACKENDS[backend]
    if backend == "cupy" and not nvidia_gpu_present():
        session.skip("no CUDA device here (nvidia-smi lists no GPU); run it on a GPU machine")
    session.install("-e", ".[test]", *packages)
    session.run("python", "-c", CHECK_ACTIVE, device, name)
    session.run("pytest", *session.posargs, env={"NNBACKEND_TEST_BACKENDS": backend})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the package, tests, scripts and this file; import-linter on the layers."""
    session.install("ruff", "import-linter>=2.1", "-e", ".")
    session.run("ruff", "check", "nnbackend", "tests", "scripts", "noxfile.py")
    session.run("lint-imports")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy on the package."""
    session.install("-e", ".", "mypy")
    session.run("mypy", "nnbackend")
