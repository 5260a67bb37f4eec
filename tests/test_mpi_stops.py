"""Stops under a real ``mpirun -n 2``: whichever rank is signalled, every rank stops after the
same step, the run is kept once and resumes bit for bit; ranks given different settings or
data refuse to start together. Every launch has a timeout: a hang fails the test.

Skipped (with the reason) where MPI is missing; ``nox -s mpi`` requires it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.test_cli_distributed import ENV, need_mpi, require_mpi  # noqa: F401  (need_mpi: below)

pytestmark = pytest.mark.usefixtures("need_mpi")

LAUNCH = ["mpirun", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1"]
TRAIN = [sys.executable, "-m", "nnbackend", "train", "--distributed", "mpi"]
#: Long enough to be signalled mid-way; periodic checkpoints show that training runs.
RUN = ["--iterations", "6000", "--checkpoint-every", "200", "--quiet", "--save", "m.npz",
       "--checkpoint", "ck.npz"]
TIMEOUT = 180


def start(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([*LAUNCH, "-n", "2", *TRAIN, *args], cwd=cwd, env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)


def finish(job: subprocess.Popen[str]) -> tuple[str, str]:
    """The job's output; a job still running after :data:`TIMEOUT` hung: kill it, fail."""
    try:
        return job.communicate(timeout=TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(job.pid, signal.SIGKILL)
        out, err = job.communicate()
        pytest.fail(f"the job hung; stdout {out[-1000:]} stderr {err[-1000:]}")


def ranks_of(job: subprocess.Popen[str], where: Path) -> list[int]:
    """The job's two rank processes (mpirun's children), once training has begun."""
    deadline = time.monotonic() + TIMEOUT
    while not (where / "ck.npz").exists():
        assert job.poll() is None, job.communicate()
        assert time.monotonic() < deadline, "training never began"
        time.sleep(0.01)
    children = subprocess.run(["pgrep", "-P", str(job.pid)], capture_output=True, text=True,
                              check=False).stdout.split()
    assert len(children) == 2, children
    return [int(pid) for pid in children]


def resume(cwd: Path, checkpoint: str) -> dict[str, np.ndarray]:
    job = start("--resume", checkpoint, "--quiet", cwd=cwd)
    _, err = finish(job)
    assert job.returncode == 0, err[-2000:]
    return params(cwd / "m.npz")


def params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as saved:
        return {key: saved[key] for key in ("W1", "b1", "W2", "b2")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    require_mpi()  # module fixtures are set up before the function-scoped need_mpi
    where = tmp_path_factory.mktemp("straight")
    job = start("--iterations", "6000", "--quiet", "--save", "m.npz", cwd=where)
    _, err = finish(job)
    assert job.returncode == 0, err[-2000:]
    return params(where / "m.npz")


@pytest.mark.parametrize(("name", "who"), [("SIGINT", "rank 1"), ("SIGINT", "both ranks"),
                                           ("SIGTERM", "both ranks")])
def test_a_signal_to_the_ranks_stops_every_rank_and_resumes_exactly(
        tmp_path: Path, straight: dict[str, np.ndarray], name: str, who: str) -> None:
    """Rank 1 alone (a kill), or both (scancel --signal, srun at the time limit)."""
    signum = getattr(signal, name)
    job = start(*RUN, cwd=tmp_path)
    pids = ranks_of(job, tmp_path)
    for pid in (pids if who == "both ranks" else pids[1:]):
        os.kill(pid, signum)
    out, err = finish(job)
    assert job.returncode == 128 + signum, err[-2000:]
    assert f"({name})" in out
    assert out.count("Stopped: interrupted after") == 1, out  # rank 0 alone reports
    assert ("Checkpoint: ck.npz (resume with: mpirun -n 2 nnbackend train --distributed mpi "
            "--resume ck.npz)") in out
    assert "Traceback" not in err
    # No model, no temporary file (the run's lock file may stay).
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "ck.npz"]
    for key, value in resume(tmp_path, "ck.npz").items():
        np.testing.assert_array_equal(value, straight[key], err_msg=key)


def test_sigterm_to_mpirun_ends_the_job_and_the_run_resumes(
        tmp_path: Path, straight: dict[str, np.ndarray]) -> None:
    """mpirun passes SIGTERM on and kills the ranks a moment later: the job ends (no hang),
    and what the ranks kept (the stop's checkpoint, or the last periodic one) resumes."""
    job = start(*RUN, cwd=tmp_path)
    ranks_of(job, tmp_path)
    job.send_signal(signal.SIGTERM)
    finish(job)
    assert job.returncode != 0
    assert not (tmp_path / "m.npz").exists()
    for key, value in resume(tmp_path, "ck.npz").items():
        np.testing.assert_array_equal(value, straight[key], err_msg=key)


def test_ranks_with_other_settings_or_data_refuse_to_start(tmp_path: Path) -> None:
    """mpirun's MPMD form gives each rank its own arguments: a different --lr, or a file of
    the same shape with other values, is refused in one line, exit 2, without a hang."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    y = (X[:, 0] > 0).astype(int)
    np.savez(tmp_path / "a.npz", X=X, y=y)
    X[0, 0] += 1.0
    np.savez(tmp_path / "b.npz", X=X, y=y)
    for mine, theirs, expected in [
            (["--lr", "0.5"], ["--lr", "5"], "rank 1 has --lr 5.0, rank 0 --lr 0.5"),
            (["--data", "a.npz"], ["--data", "b.npz"],
             "rank 1's training data differs from rank 0's (same shape, different values)")]:
        common = [*TRAIN, "--iterations", "20", "--quiet"]
        job = subprocess.Popen([*LAUNCH, "-n", "1", *common, *mine, ":", "-n", "1", *common,
                                *theirs], cwd=tmp_path, env=ENV, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, start_new_session=True)
        _, err = finish(job)
        assert job.returncode == 2, err[-2000:]
        lines = [line for line in err.splitlines() if line.startswith("Error:")]
        assert lines == [f"Error: the ranks disagree: {expected}; give every rank the same "
                         "data and options"], err[-2000:]


def test_the_documented_slurm_script_stops_requeues_and_resumes(tmp_path: Path) -> None:
    """docs/distributed.md's batch script, run as Slurm would: SIGUSR1 to the script stops
    the run through mpirun, the script requeues the job (``scontrol`` recorded here), and
    the requeued script resumes and finishes. The run is made longer and checkpoints more
    often than the page's, to be signalled mid-way."""
    page = (Path(__file__).resolve().parent.parent / "docs" / "distributed.md").read_text()
    script = next(block for block in page.split("```bash\n") if "#SBATCH" in block)
    script = script.split("```", 1)[0]
    script = script.replace("--epochs 100", "--epochs 4000").replace(
        "--checkpoint-every 1000", "--checkpoint-every 50")
    assert "--epochs 4000" in script and "--checkpoint-every 50" in script
    (tmp_path / "job.sh").write_text(script)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 3))
    np.save(tmp_path / "X.npy", X)
    np.save(tmp_path / "y.npy", (X[:, 0] * X[:, 1] > 0).astype(np.int64))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, body in (
            ("nnbackend", f'exec "{sys.executable}" -m nnbackend "$@"'),
            ("mpirun", 'exec "$REAL_MPIRUN" -n 2 --oversubscribe --mca mpi_yield_when_idle 1 '
                       '"$@"'),
            ("scontrol", 'echo "$@" >> scontrol.log')):
        (bin_dir / name).write_text(f"#!/bin/sh\n{body}\n")
        (bin_dir / name).chmod(0o755)
    real = subprocess.run(["which", "mpirun"], capture_output=True, text=True, env=ENV,
                          check=False).stdout.strip()
    env = {**ENV, "PATH": f"{bin_dir}{os.pathsep}{ENV['PATH']}", "REAL_MPIRUN": real,
           "SLURM_JOB_ID": "4242"}

    def submit() -> subprocess.Popen[str]:
        return subprocess.Popen(["bash", "job.sh"], cwd=tmp_path, env=env, text=True,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)

    first = submit()
    deadline = time.monotonic() + TIMEOUT
    while not (tmp_path / "run.npz").exists():
        assert first.poll() is None, first.communicate()
        assert time.monotonic() < deadline, "training never began"
        time.sleep(0.01)
    first.send_signal(signal.SIGUSR1)  # what --signal=B:USR1@60 sends
    out, err = finish(first)
    assert first.returncode == 138, err[-2000:]
    assert "(SIGUSR1)" in out and not (tmp_path / "model.npz").exists()
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"
    again = submit()
    out, err = finish(again)
    assert again.returncode == 0, err[-2000:]
    assert "Resuming run.npz at step" in out and (tmp_path / "model.npz").exists()
    assert (tmp_path / "scontrol.log").read_text() == "requeue 4242\n"  # not requeued again
