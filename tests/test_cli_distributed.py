"""``nnbackend train --distributed mpi`` under a real ``mpirun -n 2``: the README's command
gives the one-process model, rank 0 alone prints and writes, and a checkpoint resumes only
under its own rank count. Skipped (with the reason) where MPI is missing; ``nox -s mpi``
requires it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend.cli import cli
from tests.test_distributed import mpi_missing


def mpirun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
           "NNBACKEND_DEVICE": "cpu"}
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, "-m", "nnbackend", "train", "--distributed", "mpi", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


@pytest.fixture
def need_mpi() -> None:
    missing = mpi_missing()
    if missing is not None:
        if os.environ.get("NNBACKEND_REQUIRE_MPI"):
            pytest.fail(missing)
        pytest.skip(missing)


def test_mpirun_train_gives_the_one_process_model(need_mpi: None, tmp_path: Path) -> None:
    args = ["--data", "moons", "--epochs", "20", "--batch-size", "32", "--optimizer", "adam",
            "--lr", "0.01", "--validation-fraction", "0.2"]
    done = mpirun(*args, "--save", "mpi.npz", "--checkpoint", "ck.npz", cwd=tmp_path)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("Backend: ") == 1  # rank 0 alone prints
    assert "data-parallel over 2 rank(s)" in done.stdout
    single = CliRunner().invoke(cli, ["train", *args, "--save", str(tmp_path / "one.npz")])
    assert single.exit_code == 0, single.output
    with np.load(tmp_path / "mpi.npz") as a, np.load(tmp_path / "one.npz") as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_allclose(a[key], b[key], rtol=0, atol=1e-12)
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "ck.npz", "mpi.npz", "one.npz"]
    alone = CliRunner().invoke(cli, ["train", "--resume", str(tmp_path / "ck.npz"),
                                     "--epochs", "30"])
    assert alone.exit_code == 2
    assert "was written by a run of 2 rank(s); resume it with the same count" in alone.stderr


def test_an_error_on_the_ranks_ends_the_job(need_mpi: None, tmp_path: Path) -> None:
    done = mpirun("--data", "missing.csv", cwd=tmp_path)
    assert done.returncode != 0
    assert "missing.csv" in done.stderr and "Traceback" not in done.stderr
