"""How a run stops: scheduler signals keep the work, ranks stop together, a closed stdout
stops like a signal, and ranks given different data or settings refuse to start.

The command-line tests send real signals to a real ``nnbackend train`` and resume what it
kept; the data-parallel ones run ranks as threads (the real ``mpirun`` runs are in
tests/test_mpi_stops.py).
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnbackend.core.backend import host_rng
from nnbackend.core.network import Network
from nnbackend.distributed import run_ranks
from nnbackend.distributed.agreement import RanksDisagree, check_same_run
from nnbackend.training.callbacks import Callback, StopOnInterrupt
from nnbackend.training.stops import CAUGHT_SIGNALS, StopVote, exit_code
from nnbackend.training.trainer import Trainer, TrainingOptions

from .test_distributed import LAYERS, problem

# -- the command line ----------------------------------------------------------------------

#: A run long enough to be signalled mid-way, printing a record every 1000 iterations.
RUN = ("--iterations", "40000", "--save", "m.npz")
PREEMPTION = [s for s in ("SIGTERM", "SIGUSR1", "SIGHUP") if hasattr(signal, s)]


def train(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nnbackend", "train", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def params(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as saved:
        return {key: saved[key] for key in ("W1", "b1", "W2", "b2")}


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> dict[str, np.ndarray]:
    """The uninterrupted run's parameters."""
    where = tmp_path_factory.mktemp("straight")
    done = train(*RUN, "--quiet", cwd=where)
    _, err = done.communicate(timeout=300)
    assert done.returncode == 0, err
    return params(where / "m.npz")


def resume_and_compare(checkpoint: str, cwd: Path, straight: dict[str, np.ndarray]) -> None:
    """Resume with no other flag: the model lands at the first run's --save, bit for bit
    the uninterrupted one."""
    resumed = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--resume",
                              checkpoint, "--quiet"], cwd=cwd, capture_output=True, text=True,
                             timeout=300, check=False)
    assert resumed.returncode == 0, resumed.stderr
    for key, value in params(cwd / "m.npz").items():
        np.testing.assert_array_equal(value, straight[key], err_msg=key)


@pytest.mark.parametrize("name", PREEMPTION)
def test_a_preemption_signal_keeps_the_run_and_exits_with_its_code(
        tmp_path: Path, straight: dict[str, np.ndarray], name: str) -> None:
    """No --checkpoint: the run is kept in the documented default checkpoint, named with
    the resume command; exit 128 + the signal's number; no temporary file left."""
    signum = getattr(signal, name)
    victim = train(*RUN, cwd=tmp_path)
    assert victim.stdout is not None
    victim.stdout.readline()  # "Backend: ...": the handlers are in place
    victim.send_signal(signum)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == exit_code(signum) == 128 + signum, err
    assert "Traceback" not in err
    assert f"({name})" in out
    assert ("Checkpoint: nnbackend-checkpoint.npz (resume with: nnbackend train --resume "
            "nnbackend-checkpoint.npz)") in out
    assert sorted(p.name for p in tmp_path.iterdir()) == ["nnbackend-checkpoint.npz"]
    resume_and_compare("nnbackend-checkpoint.npz", tmp_path, straight)


def test_the_default_checkpoint_never_replaces_another(tmp_path: Path) -> None:
    (tmp_path / "nnbackend-checkpoint.npz").write_bytes(b"another run's checkpoint")
    victim = train(*RUN, "--quiet", cwd=tmp_path)
    assert victim.stdout is not None
    victim.stdout.readline()
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 143, err
    assert (tmp_path / "nnbackend-checkpoint.npz").read_bytes() == b"another run's checkpoint"
    assert "resume with: nnbackend train --resume nnbackend-checkpoint-2.npz" in out


def test_a_stopped_run_is_kept_elsewhere_when_the_working_directory_takes_no_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A read-only working directory (a job started in a read-only project folder): the
    run goes to the --save file's folder, else the temporary directory; lost only when
    none takes it, and then each place is named."""
    import tempfile

    from nnbackend.cli.stopping import keep_stopped_run

    work, out, temp = (tmp_path / name for name in ("work", "out", "temp"))
    for folder in (work, out, temp):
        folder.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    refusing = {work}

    def save(path: str) -> None:
        if Path(path).resolve().parent in refusing:
            raise OSError(30, "Read-only file system")
        Path(path).write_bytes(b"checkpoint")

    said: list[str] = []
    params = {"resume_path": None, "save_path": str(out / "m.npz")}
    assert keep_stopped_run(params, save, said.append) == str(out / "nnbackend-checkpoint.npz")
    assert said == [f"Note: the stopped run could not be kept in {work}/nnbackend-checkpoint"
                    f".npz ([Errno 30] Read-only file system); it is kept in {out}/nnbackend-"
                    "checkpoint.npz instead"]
    refusing.add(out)
    kept = keep_stopped_run({"resume_path": None, "save_path": None}, save, said.append)
    assert kept == str(temp / "nnbackend-checkpoint.npz")
    refusing.add(temp)
    said.clear()
    assert keep_stopped_run(params, save, said.append) is None
    assert len(said) == 3 and all(line.startswith("Error: the stopped run could not be kept")
                                  for line in said)


def test_a_closed_stdout_stops_the_run_and_keeps_it(tmp_path: Path,
                                                    straight: dict[str, np.ndarray]) -> None:
    """``nnbackend train ... | head -3``: a message on stderr, the rest of the report there,
    the run kept and resumable, exit 141 (as SIGPIPE's)."""
    victim = train(*RUN, cwd=tmp_path)
    assert victim.stdout is not None
    head = [victim.stdout.readline() for _ in range(3)]
    assert head[2].startswith("Cost after iteration 0")
    victim.stdout.close()  # the reader goes away, as head does
    err = victim.stderr.read() if victim.stderr is not None else ""
    victim.wait(timeout=120)
    assert victim.returncode == 141, err
    assert "Traceback" not in err
    assert "standard output was closed" in err
    assert "resume with: nnbackend train --resume nnbackend-checkpoint.npz" in err
    assert not (tmp_path / "m.npz").exists()
    resume_and_compare("nnbackend-checkpoint.npz", tmp_path, straight)


# -- the library ---------------------------------------------------------------------------

def small_trainer(comm=None, callbacks=(), **options) -> Trainer:
    X, Y = problem("binary", 23)
    from nnbackend.core.backend import resolve_backend

    backend = resolve_backend("cpu", "numpy", "float64")
    net = Network.create(LAYERS["binary"], backend, "tanh", "binary", "xavier", seed=3)
    opts = TrainingOptions(0.5, **{"iterations": 40, "batch_size": 5, "print_every": 4,
                                   **options})
    return Trainer(net, backend.asarray(X), backend.asarray(Y), opts, host_rng(7),
                   callbacks=list(callbacks), comm=comm)


class Signal(Callback):
    """Sends ``signum`` to this process after step ``at``."""

    def __init__(self, signum: int, at: int) -> None:
        self.signum, self.at = signum, at

    def on_step(self, trainer: Trainer) -> None:
        if trainer.state.step == self.at:
            signal.raise_signal(self.signum)


@pytest.mark.skipif(not hasattr(signal, "SIGUSR1"), reason="no SIGUSR1 on this platform")
def test_the_handlers_live_for_the_run_only() -> None:
    """Every stop signal stops after the current step; outside the run, and after it,
    the program's own handlers are in place (a library never keeps them)."""
    before = {s: signal.getsignal(s) for s in CAUGHT_SIGNALS}
    stops = StopOnInterrupt(CAUGHT_SIGNALS)
    result = small_trainer(callbacks=[stops, Signal(signal.SIGUSR1, 6)]).run()
    assert (result.steps, result.stopped_by, stops.signum) == (6, "interrupted",
                                                               signal.SIGUSR1)
    assert {s: signal.getsignal(s) for s in CAUGHT_SIGNALS} == before
    # A second preemption signal while stopping is no reason to abort.
    stops = StopOnInterrupt(CAUGHT_SIGNALS)
    result = small_trainer(callbacks=[stops, Signal(signal.SIGTERM, 3),
                                      Signal(signal.SIGTERM, 3)]).run()
    assert (result.steps, stops.signum) == (3, signal.SIGTERM)


@pytest.mark.parametrize("device_buffers", [False, True])
def test_a_stop_on_one_rank_stops_every_rank_at_the_same_step(device_buffers: bool) -> None:
    """Rank 1 alone is signalled after step 5: both ranks stop after the same step, for
    that signal. With host buffers the vote is read from the step's own sum (step 6);
    a vote kept on the device is read at the next record (step 8), not every step."""
    def rank(comm):
        stops = StopOnInterrupt(())

        class Poke(Callback):
            all_ranks = True

            def on_step(self, trainer: Trainer) -> None:
                if comm.rank == 1 and trainer.state.step == 5:
                    stops.request(signal.SIGTERM)

        result = small_trainer(comm, [stops, Poke()]).run()
        first = (result.steps, result.stopped_by, stops.signum)
        # The same callback and communicator again: the last run's stop is forgotten.
        return (*first, small_trainer(comm, [stops]).run().stopped_by)

    got = run_ranks(2, rank, device_buffers=device_buffers, timeout=30)
    stopped_at = 8 if device_buffers else 6
    assert got == [(stopped_at, "interrupted", signal.SIGTERM, "completed")] * 2


def test_the_vote_picks_the_most_urgent_signal() -> None:
    """Ranks signalled differently stop for the same one: SIGTERM before SIGINT."""
    votes = [StopVote(), StopVote()]
    votes[0].request(signal.SIGINT)
    votes[1].request(signal.SIGTERM)
    summed = np.sum([v._requested for v in votes], axis=0)
    votes[0].summed(None, summed)
    assert votes[0].agreed(None, read_device=False) == signal.SIGTERM


def settings(rank: int, **changes) -> dict:
    base = {"data_fingerprint": {"rows": 10, "sha256": "abc"}, "seed": 1, "layers": [4, 3],
            "options": {"learning_rate": 0.1, "epochs": None}, "resumed_step": 120,
            "data": {"target": None, "split_seed": 1}}  # as the command line's run has it
    if rank == 1:
        for key, value in changes.items():
            section, _, name = key.rpartition("__")
            (base[section] if section else base)[name] = value
    return base


@pytest.mark.parametrize(("changes", "message"), [
    ({"options__learning_rate": 5.0}, "rank 1 has --lr 5.0, rank 0 --lr 0.1"),
    ({"seed": 7, "data__split_seed": 7}, "rank 1 has --seed 7, rank 0 --seed 1"),
    ({"layers": [4]}, "rank 1 has --layers 4, rank 0 --layers 4,3"),
    ({"resumed_step": 300}, "rank 1 has a checkpoint at step 300, rank 0 a checkpoint at "
                            "step 120"),
    ({"data_fingerprint__sha256": "abd"},
     "rank 1's training data differs from rank 0's (same shape, different values)"),
])
def test_ranks_given_different_data_or_settings_refuse_to_start(changes, message) -> None:
    def rank(comm):
        try:
            check_same_run(comm, settings(comm.rank, **changes))
        except RanksDisagree as error:
            return str(error)
        return None

    got = run_ranks(2, rank, timeout=30)
    assert got[0] == got[1]  # every rank refuses, with the same line
    assert message in got[0] and "give every rank the same data and options" in got[0]
    assert run_ranks(2, lambda comm: check_same_run(comm, settings(0)), timeout=30) == [
        None, None]
