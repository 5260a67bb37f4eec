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

ROOT = Path(__file__).resolve().parent.parent
#: The ranks import this checkout, not whatever copy is installed.
ENV = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
       "NNBACKEND_DEVICE": "cpu",
       "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def mpirun(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = ENV
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, "-m", "nnbackend", "train", "--distributed", "mpi", *args]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300, check=False)


def require_mpi() -> None:
    """Skip (with the reason) where MPI is missing; fail instead where the session requires
    it (``NNBACKEND_REQUIRE_MPI``, set by ``nox -s mpi``)."""
    missing = mpi_missing()
    if missing is not None:
        if os.environ.get("NNBACKEND_REQUIRE_MPI"):
            pytest.fail(missing)
        pytest.skip(missing)


@pytest.fixture
def need_mpi() -> None:
    require_mpi()


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


def test_a_killed_rank_ends_the_job_and_its_checkpoint_resumes(need_mpi: None,
                                                              tmp_path: Path) -> None:
    """SIGKILL one rank mid-run: mpirun ends the job with a message, the last checkpoint
    resumes under mpirun -n 2, and the result equals an uninterrupted run bit for bit."""
    import signal
    import time

    env = ENV
    launch = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
              sys.executable, "-m", "nnbackend", "train", "--distributed", "mpi"]
    killed = subprocess.Popen([*launch, "--iterations", "20000", "--checkpoint-every", "500",
                               "--quiet", "--checkpoint", "ck.npz", "--save", "m.npz"],
                              cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not (tmp_path / "ck.npz").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    # The ranks: the launcher's children (never another nnbackend run on this machine).
    ranks = subprocess.run(["pgrep", "-P", str(killed.pid)],
                           capture_output=True, text=True, check=False).stdout.split()
    assert ranks, "no rank process found"
    os.kill(int(ranks[-1]), signal.SIGKILL)
    _, err = killed.communicate(timeout=120)
    if killed.returncode == 0:
        pytest.skip("the run finished before the kill arrived (a very fast machine)")
    assert "signal 9" in err or "Killed" in err or "killed" in err, err[-2000:]
    assert not (tmp_path / "m.npz").exists()
    resumed = subprocess.run([*launch, "--resume", "ck.npz", "--quiet"], cwd=tmp_path,
                             env=env, capture_output=True, text=True, timeout=300,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    straight = mpirun("--iterations", "20000", "--quiet", "--save", "s.npz", cwd=tmp_path)
    assert straight.returncode == 0, straight.stderr[-2000:]
    with np.load(tmp_path / "m.npz") as a, np.load(tmp_path / "s.npz") as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[key], b[key])


def test_mpirun_sweep_shares_the_stacks_out_and_rank_0_writes(need_mpi: None,
                                                              tmp_path: Path) -> None:
    """Each rank trains whole stacks; rank 0 alone prints and writes: the rows and the
    best model equal one process's exactly."""
    args = ["--layers", "1,2,3,20", "--seed", "1,2", "--iterations", "300",
            "--validation-fraction", "0.25"]
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, "-m", "nnbackend", "sweep", "--distributed", "mpi", *args,
               "--results", "mpi.json", "--save-best", "mpi.npz"]
    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stdout.count("Backend: ") == 1 and done.stdout.count("best first by") == 1
    assert "shared out over 2 ranks; rank 0 trains" in done.stdout
    single = CliRunner().invoke(cli, ["sweep", *args, "--results", str(tmp_path / "one.json"),
                                      "--save-best", str(tmp_path / "one.npz")])
    assert single.exit_code == 0, single.output
    assert (tmp_path / "mpi.json").read_text() == (tmp_path / "one.json").read_text()
    with np.load(tmp_path / "mpi.npz") as a, np.load(tmp_path / "one.npz") as b:
        for key in ("W1", "b1", "W2", "b2"):
            np.testing.assert_array_equal(a[key], b[key])
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(".")) == [
        "mpi.json", "mpi.npz", "one.json", "one.npz"]


def test_mpirun_sweep_ranks_that_disagree_exit_2_together(need_mpi: None,
                                                          tmp_path: Path) -> None:
    """A rank whose data differ (here: another --data-seed through the environment) is
    found before any training: rank 0 says so in one line, every rank exits 2."""
    script = ("import os, sys; from nnbackend.cli import cli; rank = int(os.environ["
              "'OMPI_COMM_WORLD_RANK']); sys.argv = ['nnbackend', 'sweep', '--distributed', "
              "'mpi', '--layers', '1,2', '--iterations', '20', '--data', 'moons', "
              "'--data-seed', str(rank)]; cli()")
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, "-c", script]
    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 2, done.stdout[-2000:] + done.stderr[-2000:]
    assert done.stderr.count("Error: the ranks disagree: rank 1's training data differs "
                             "from rank 0's") == 1, done.stderr
    assert "Traceback" not in done.stderr


def test_mpirun_sweep_error_on_the_ranks_ends_the_job(need_mpi: None, tmp_path: Path) -> None:
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, "-m", "nnbackend", "sweep", "--distributed", "mpi",
               "--data", "missing.csv", "--lr", "0.5,1.2"]
    done = subprocess.run(command, cwd=tmp_path, env=ENV, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode != 0
    assert "missing.csv" in done.stderr and "Traceback" not in done.stderr


def test_mpirun_sweep_signalled_keeps_one_checkpoint_that_resumes_alone(
        need_mpi: None, tmp_path: Path) -> None:
    """SIGTERM to both ranks of a sweep under mpirun: each stops its stack after the step,
    rank 0 writes one checkpoint with both ranks' stacks and prints the resume line; the
    sweep resumed in one process writes the uninterrupted sweep's results and best model."""
    import signal
    import time

    args = ["--layers", "2,30x30", "--seed", "1,2", "--iterations", "8000", "--quiet",
            "--results", "rows.csv", "--save-best", "best.npz"]
    straight = tmp_path / "straight"
    straight.mkdir()
    single = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", *args],
                            cwd=straight, env=ENV, capture_output=True, text=True,
                            timeout=600, check=False)
    assert single.returncode == 0, single.stderr
    launch = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
              sys.executable, "-m", "nnbackend", "sweep", "--distributed", "mpi"]
    victim = subprocess.Popen([*launch, *args, "--checkpoint", "s.npz"], cwd=tmp_path,
                              env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)
    deadline = time.monotonic() + 300
    while not (tmp_path / "s.npz").exists() and victim.poll() is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    ranks = subprocess.run(["pgrep", "-P", str(victim.pid)],
                           capture_output=True, text=True, check=False).stdout.split()
    assert len(ranks) == 2, ranks
    for pid in ranks:
        os.kill(int(pid), signal.SIGTERM)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 128 + signal.SIGTERM, out[-2000:] + err[-2000:]
    assert "Traceback" not in err
    assert ("Checkpoint: s.npz (resume with: mpirun -n 2 nnbackend sweep --distributed mpi "
            "--resume s.npz)") in out
    assert not (tmp_path / "rows.csv").exists()
    resumed = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--resume", "s.npz"],
                             cwd=tmp_path, env=ENV, capture_output=True, text=True,
                             timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert (tmp_path / "rows.csv").read_text() == (straight / "rows.csv").read_text()
    with np.load(tmp_path / "best.npz") as a, np.load(straight / "best.npz") as b:
        for key in ("W1", "b1", "W2", "b2", "W3", "b3"):
            if key in b.files:
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
