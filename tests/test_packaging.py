"""Packaging: the version on the command line, the type-hint marker, user-facing pins.

Building and installing the wheel takes a network and a minute: ``nox -s package`` does it
(sdist + wheel, ``twine check``, a fresh environment that trains from the wheel).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner

import nnbackend
from nnbackend._version import __version__
from nnbackend.cli import cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    return tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))


def test_version_option_prints_the_package_version():
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0, result.output
    assert result.output == f"nnbackend, version {__version__}\n"
    assert nnbackend.__version__ == __version__


def test_py_typed_marker_is_shipped_as_package_data(pyproject):
    package_dir = Path(nnbackend.__file__).parent
    assert (package_dir / "py.typed").is_file()
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["nnbackend"]


def test_extras_give_users_lower_bounds_not_exact_pins(pyproject):
    # An exact pin in an extra forces that build on every user (a GPU user wants their CUDA
    # build of PyTorch); the project's own pins belong in constraints/ci.txt.
    extras = pyproject["project"]["optional-dependencies"]
    requirements = pyproject["project"]["dependencies"] + [r for rs in extras.values() for r in rs]
    pinned = [r for r in requirements if "==" in r]
    assert pinned == [], pinned
    assert any(r.startswith("torch>=") for r in extras["torch"])


def test_ci_constraints_pin_the_torch_build_nox_installs():
    # Any torch other than the CPU build on this project's machines downloads several GB.
    lines = (ROOT / "constraints" / "ci.txt").read_text(encoding="utf-8").splitlines()
    pins = [line for line in lines if line.strip() and not line.startswith("#")]
    assert "torch==2.13.0" in pins
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    # Every session's install passes the constraints; none names a torch version itself.
    installs = re.findall(r"session\.install\(([^)]*)\)", noxfile)
    assert installs and all(call.startswith("*CONSTRAINTS") for call in installs), installs
    assert "torch==" not in noxfile
