"""nox sessions: the same pytest suite on each backend, plus lint, typing and packaging.

    nox                              # every CPU backend (numpy, strict, torch, jax), mpi, lint,
                                     # typing
    nox -s "tests(backend='cupy')"   # on a machine with an NVIDIA GPU
    nox -s lint typing               # ruff, import-linter's layers, the CI workflow; mypy
    nox -s package                   # build sdist + wheel, twine check, train from the wheel

Every session installs with ``-c constraints/ci.txt``: the versions this project tests
with (PyTorch's CPU build), where pyproject.toml gives users lower bounds only.

Each tests session installs what its backend needs, then checks that the backend it asked
for is really the one that runs (so nothing silently falls back to the CPU), then runs
pytest with NNBACKEND_TEST_BACKENDS set, which makes tests/conftest.py parametrise the suite
over that backend only and fail if its library is missing.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import nox

nox.options.sessions = [
    "tests(backend='numpy')",
    "tests(backend='strict')",
    "tests(backend='torch')",
    "tests(backend='jax')",
    "mpi",
    "lint",
    "typing",
]
nox.options.error_on_missing_interpreters = True

#: The project's own pins, passed to every install (``pip install -c``).
CONSTRAINTS = ("-c", str(Path(__file__).resolve().parent / "constraints" / "ci.txt"))

# backend family -> (extra packages, device, backend name for resolve_backend)
BACKENDS = {
    "numpy": ([], "cpu", "numpy"),
    "strict": ([], "device1", "array-api-strict"),
    # The version comes from constraints/ci.txt (the CPU build on this project's machines).
    "torch": (["torch"], "cpu", "torch"),
    # JAX's CPU build (jaxlib); the version comes from constraints/ci.txt. Python >= 3.11.
    "jax": (["jax[cpu]"], "cpu", "jax"),
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
    if backend == "jax" and "False" in str(session.run(
            "python", "-c", "import sys; print(sys.version_info >= (3, 11))", silent=True)):
        session.skip("JAX needs Python 3.11 or newer (CI runs this session on 3.12)")
    session.install(*CONSTRAINTS, "-e", ".[test]", *packages)
    session.run("python", "-c", CHECK_ACTIVE, device, name)
    session.run("pytest", *session.posargs, env={"NNBACKEND_TEST_BACKENDS": backend})


@nox.session
def mpi(session: nox.Session) -> None:
    """The data-parallel tests, with a real ``mpirun -n 2`` run (the ``mpi`` extra).

    mpi4py and Open MPI install from the package index; here a missing MPI fails the
    real-MPI test instead of skipping it.
    """
    session.install(*CONSTRAINTS, "-e", ".[test,mpi]")
    # The bad-option sweep runs here too, with mpi4py installed (--distributed).
    session.run("pytest", "tests/test_distributed.py", "tests/test_cli_distributed.py",
                "tests/test_bad_options.py", "tests/test_mpi_stops.py", *session.posargs,
                env={"NNBACKEND_REQUIRE_MPI": "1", "OMPI_ALLOW_RUN_AS_ROOT": "1",
                     "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"})


@nox.session
def lint(session: nox.Session) -> None:
    """ruff on the package, tests, scripts and this file; import-linter on the layers;
    the CI workflow against GitHub's schema and zizmor's security audits.

    Both workflow checks run offline: check-jsonschema ships the workflow schema, and
    zizmor's offline mode skips only the audits that ask GitHub's API (the actions are
    pinned by commit, which it checks without network).
    """
    session.install(*CONSTRAINTS, "ruff", "import-linter>=2.1", "check-jsonschema>=0.29",
                    "zizmor>=1.7", "-e", ".")
    session.run("ruff", "check", "nnbackend", "tests", "scripts", "noxfile.py")
    session.run("lint-imports")
    session.run("check-jsonschema", "--builtin-schema", "vendor.github-workflows",
                ".github/workflows/tests.yml")
    session.run("zizmor", "--offline", ".github/workflows")


@nox.session
def typing(session: nox.Session) -> None:
    """mypy on the package."""
    session.install(*CONSTRAINTS, "-e", ".", "mypy")
    session.run("mypy", "nnbackend")


CHECK_WHEEL = """
import sys, zipfile
names = zipfile.ZipFile(sys.argv[1]).namelist()
assert "nnbackend/py.typed" in names, "the wheel lacks nnbackend/py.typed"
print(f"{sys.argv[1]}: {len(names)} files, py.typed included")
"""


@nox.session
def package(session: nox.Session) -> None:
    """Build the sdist and wheel, check them, and train once from the installed wheel.

    The wheel goes into a virtual environment of its own, run from outside the checkout,
    so that nothing is imported from the source tree. Not a default session: building
    fetches setuptools from the package index.
    """
    session.install(*CONSTRAINTS, "build", "twine")
    tmp = Path(session.create_tmp()).resolve()  # absolute: the last steps run from inside it
    dist = tmp / "dist"
    shutil.rmtree(dist, ignore_errors=True)
    session.run("python", "-m", "build", "--outdir", str(dist))
    built = sorted(str(path) for path in dist.iterdir())
    session.run("twine", "check", "--strict", *built)
    (wheel,) = (path for path in built if path.endswith(".whl"))
    session.run("python", "-c", CHECK_WHEEL, wheel)

    fresh = tmp / "fresh-venv"
    shutil.rmtree(fresh, ignore_errors=True)
    session.run("python", "-m", "venv", str(fresh))
    bin_dir = fresh / ("Scripts" if sys.platform == "win32" else "bin")
    session.run(str(bin_dir / "python"), "-m", "pip", "install", *CONSTRAINTS, wheel,
                external=True)
    with session.chdir(tmp):  # away from the checkout, so only the wheel can be imported
        session.run(str(bin_dir / "nnbackend"), "--version", external=True)
        session.run(str(bin_dir / "nnbackend"), "train", "--iterations", "10",
                    external=True)
