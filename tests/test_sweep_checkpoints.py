"""A sweep loses no work: stopped in a stack, it resumes from its checkpoint to the table,
models and best model of an uninterrupted sweep, without training finished stacks again;
another sweep's checkpoint is refused. From Python and from the command line, where a
real stop signal keeps the sweep and names the command that resumes it."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import nnbackend as nb
from nnbackend.core.backend import Backend
from nnbackend.errors import NNBackendError
from nnbackend.model.sweep import StackInfo, sweep_prepared
from nnbackend.model.sweep_state import SweepCheckpoint, SweepInterrupted
from nnbackend.persistence.stack_checkpoints import read_sweep_file, write_sweep_file
from nnbackend.training.callbacks import Callback

from .test_stack_checkpoints import StopAt

GRID: dict[str, Any] = {"layers": [(3,), (2, 2)], "learning_rate": [0.5, 1e308],
                        "seed": [1, 2]}
FIXED = {"iterations": 120, "print_every": 20}


def assert_same_sweep(backend: Backend, a: Any, b: Any) -> None:
    """The same rows and the same models, bit for bit."""
    np.testing.assert_equal(list(a), list(b))
    assert a.best == b.best and a.stacks == b.stacks
    for i in range(len(a)):
        for name, value in a.model(i).network.params.items():
            np.testing.assert_array_equal(backend.to_host(value),
                                          backend.to_host(b.model(i).network.params[name]))


def test_a_stopped_sweep_resumes_to_the_same_result(backend: Backend, tmp_path: Path) -> None:
    whole = nb.sweep("flower", grid=GRID, backend=backend, **FIXED)
    assert len(whole.stacks) == 2 and "diverged" in [r["stopped_by"] for r in whole]
    path = tmp_path / "sweep.npz"

    def prepare_for(seed: int | None) -> Any:
        return nb.Model(seed=seed, backend=backend).prepare("flower")

    def stop_in_second(info: StackInfo) -> list[Any]:
        return [StopAt(70)] if info.index == 1 else []

    kept = SweepCheckpoint(path, every=25)
    with pytest.raises(SweepInterrupted):
        sweep_prepared(prepare_for, GRID, backend, False, callbacks=stop_in_second,
                       checkpoint=kept, **FIXED)
    seen: list[tuple[int, int]] = []
    resumed = nb.sweep("flower", grid=GRID, backend=backend, checkpoint=path, resume=path,
                       on_record=lambda info, record: seen.append(
                           (info.index, record["iteration"])), **FIXED)
    assert_same_sweep(backend, whole, resumed)
    # The first stack came from the checkpoint; the second went on after step 70.
    assert seen and all(index == 1 and it > 70 for index, it in seen)


def test_another_sweeps_checkpoint_is_refused(reference: Backend, tmp_path: Path) -> None:
    path = tmp_path / "sweep.npz"
    nb.sweep("flower", grid=GRID, backend=reference, checkpoint=path, **FIXED)
    other = {**GRID, "learning_rate": [0.5, 1.0]}
    with pytest.raises(NNBackendError, match=r"another sweep \(the grid's learning_rate"):
        nb.sweep("flower", grid=other, backend=reference, resume=path, **FIXED)
    with pytest.raises(NNBackendError, match="iterations: 120 then, 60 now"):
        nb.sweep("flower", grid=GRID, backend=reference, resume=path,
                 **{**FIXED, "iterations": 60})
    with pytest.raises(NNBackendError, match="other data"):
        nb.sweep("moons", grid=GRID, backend=reference, resume=path, **FIXED)
    # Finished: resumed, nothing is trained again and the result is the same.
    again = nb.sweep("flower", grid=GRID, backend=reference, resume=path, on_record=lambda
                     info, record: pytest.fail("a finished stack was trained again"), **FIXED)
    assert_same_sweep(reference, nb.sweep("flower", grid=GRID, backend=reference, **FIXED),
                      again)
    # Checksummed, but not what a sweep writes (made by hand): one line, no traceback.
    header, arrays = read_sweep_file(path)
    del header["finished"]["0"]["result"]
    write_sweep_file(path, header, arrays)
    with pytest.raises(NNBackendError, match="is malformed"):
        nb.sweep("flower", grid=GRID, backend=reference, resume=path, **FIXED)


# -- the command line ----------------------------------------------------------------------

#: Two stacks (one and two hidden layers) of four models, long enough to be signalled in
#: the second.
SWEEP = ("--layers", "2,3x3", "--lr", "0.5,1.2", "--seed", "1,2", "--iterations", "20000",
         "--results", "rows.csv", "--save-best", "best.npz")


def sweep(*args: str, cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "nnbackend", "sweep", *args], cwd=cwd,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def finished(where: Path) -> tuple[str, dict[str, np.ndarray]]:
    """The results file and the best model's parameters."""
    with np.load(where / "best.npz") as saved:
        params = {key: saved[key] for key in saved.files if key[0] in "Wb"}
    return (where / "rows.csv").read_text(), params


@pytest.fixture(scope="module")
def straight(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict[str, np.ndarray]]:
    """The uninterrupted sweep's results and best model."""
    where = tmp_path_factory.mktemp("straight")
    done = sweep(*SWEEP, "--quiet", cwd=where)
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err
    return finished(where)


@pytest.mark.parametrize(("name", "given"), [
    ("SIGTERM", ["--checkpoint", "s.npz", "--checkpoint-every", "700"]),
    ("SIGINT", []),
    *((name, []) for name in ("SIGUSR1", "SIGHUP") if hasattr(signal, name))])
def test_a_signal_keeps_the_sweep_and_it_resumes_to_the_same_table(
        tmp_path: Path, straight: tuple[str, dict[str, np.ndarray]], name: str,
        given: list[str]) -> None:
    """Signalled in its second stack, the sweep keeps itself (--checkpoint's file, or the
    default one), names the resume command and exits 128 + N; resumed with nothing but
    --resume, it writes the uninterrupted sweep's results and best model."""
    signum = getattr(signal, name)
    # One stack after another: the second's lines come out live (on threads they would
    # wait for the first stack's end); the resume below uses the default workers.
    victim = sweep(*SWEEP, *given, "--workers", "1", cwd=tmp_path)
    assert victim.stdout is not None
    for line in victim.stdout:  # the second stack is under way
        if line.startswith("Stack 2/2"):
            break
    victim.send_signal(signum)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 128 + signum, err
    assert "Traceback" not in err
    kept = given[1] if given else "nnbackend-checkpoint.npz"
    assert f"Checkpoint: {kept} (resume with: nnbackend sweep --resume {kept})" in out
    assert f"({name})" in out
    assert not (tmp_path / "rows.csv").exists()  # nothing of a sweep not done
    resumed = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--resume", kept],
                             cwd=tmp_path, capture_output=True, text=True, timeout=600,
                             check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert "Stack 1/2" not in resumed.stdout  # the finished stack is not trained again
    rows, best = finished(tmp_path)
    assert rows == straight[0]
    for key, value in straight[1].items():
        np.testing.assert_array_equal(best[key], value, err_msg=key)


def test_a_checkpoint_onto_another_file_of_the_sweep_is_refused(tmp_path: Path) -> None:
    for name, args in (("x.npz", ["--checkpoint", "x.npz", "--save-best", "x.npz"]),
                       ("x.csv", ["--checkpoint", "x.csv", "--results", "x.csv"])):
        done = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--lr", "0.5,1.2",
                               "--iterations", "50", *args], cwd=tmp_path,
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 2 and "is the file --checkpoint writes" in done.stderr
        assert not (tmp_path / name).exists()


def test_a_resume_with_another_grid_or_data_is_refused(tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--lr", "0.5,1.2",
                           "--iterations", "50", "--checkpoint", "s.npz", "--quiet"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    for args, message in ((["--lr", "0.1,0.2"], "--lr cannot change when resuming"),
                          (["--data", "moons"], "is the checkpoint of another sweep (other "
                                                "data"),
                          (["--checkpoint-every", "5"], None)):
        again = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--resume",
                                "s.npz", *args], cwd=tmp_path, capture_output=True,
                               text=True, timeout=300, check=False)
        if message is None:  # allowed beside --resume
            assert again.returncode == 0, again.stderr
            continue
        assert again.returncode == 2, again.stderr
        assert message in again.stderr and "Traceback" not in again.stderr
        assert len(again.stderr.strip().splitlines()) == 1


def test_a_checkpoint_that_cannot_be_written_does_not_cost_the_sweep(
        reference: Backend, tmp_path: Path) -> None:
    """With ``warn`` (the command line's), a failed write (here a missing folder; a full
    disk alike) is a warning: the sweep ends as it would have; without it, an error."""
    warnings: list[str] = []
    kept = SweepCheckpoint(tmp_path / "gone" / "sweep.npz", every=25, warn=warnings.append)

    def prepare_for(seed: int | None) -> Any:
        return nb.Model(seed=seed, backend=reference).prepare("flower")

    result = sweep_prepared(prepare_for, GRID, reference, False, checkpoint=kept, **FIXED)
    assert_same_sweep(reference, nb.sweep("flower", grid=GRID, backend=reference, **FIXED),
                      result)
    assert kept.failed and not kept.written and warnings
    assert "could not be written" in warnings[0] and "none is kept yet" in warnings[0]
    with pytest.raises(NNBackendError, match="gone"):
        nb.sweep("flower", grid=GRID, backend=reference,
                 checkpoint=tmp_path / "gone" / "sweep.npz", **FIXED)


# -- stacks on worker threads ----------------------------------------------------------------

#: Four stacks of two models (max_stack=2) that all train to the end.
THREADED: dict[str, Any] = {**GRID, "learning_rate": [0.5, 1.2]}


class SetWhenOtherDone(Callback):
    """At step ``step``, wait for the stack of ``rows`` to be finished in ``kept``, then set
    ``stop`` (as the sweep's signal handler does): a stop that finds one stack finished and
    others under way on other threads."""

    def __init__(self, step: int, kept: SweepCheckpoint, rows: tuple[int, ...],
                 stop: threading.Event) -> None:
        self.step, self.kept, self.rows, self.stop = step, kept, rows, stop

    def on_step(self, trainer: Any) -> None:
        if trainer.state.step != self.step:
            return
        deadline = time.monotonic() + 120
        while not self.kept.finished(self.rows) and time.monotonic() < deadline:
            time.sleep(0.01)
        self.stop.set()


@pytest.mark.parametrize("workers", [2, 3])
def test_a_stop_reaches_every_stack_on_threads_and_resumes_with_any_workers(
        backend: Backend, tmp_path: Path, workers: int) -> None:
    """The sweep's stop event set while stacks train on threads: each stack under way stops
    after its step, the checkpoint holds every finished stack and every one under way, and
    the sweep resumed one stack after another equals the uninterrupted sweep bit for bit."""
    whole = nb.sweep("flower", grid=THREADED, backend=backend, max_stack=2, workers=1, **FIXED)
    assert len(whole.stacks) == 4
    path = tmp_path / "sweep.npz"
    kept, stop = SweepCheckpoint(path), threading.Event()

    def prepare_for(seed: int | None) -> Any:
        return nb.Model(seed=seed, backend=backend).prepare("flower")

    def stop_in_second(info: StackInfo) -> list[Any]:
        return ([SetWhenOtherDone(70, kept, whole.stacks[0], stop)] if info.index == 1
                else [])

    with pytest.raises(SweepInterrupted) as caught:
        sweep_prepared(prepare_for, THREADED, backend, False, callbacks=stop_in_second,
                       checkpoint=kept, max_stack=2, workers=workers, stop=stop, **FIXED)
    header, _ = read_sweep_file(path)
    finished = {int(row) for row in header["finished"]}
    running = {tuple(int(r) for r in key.split(",")): saved["state"]["step"]
               for key, saved in header["running"].items()}
    assert set(whole.stacks[0]) <= finished  # done before the stop
    assert running[whole.stacks[1]] == 70  # stopped right after the step that set it
    # Every stack the message names as under way is in the file, and no row is in both.
    named = [int(n) for n in re.findall(r"stack (\d+)/4 at step", caught.value.where)]
    assert {whole.stacks[n - 1] for n in named} == set(running)
    assert not finished & {row for rows in running for row in rows}
    resumed = nb.sweep("flower", grid=THREADED, backend=backend, max_stack=2, workers=1,
                       resume=path, **FIXED)
    assert_same_sweep(backend, whole, resumed)


def test_a_signal_stops_every_stack_on_threads(tmp_path: Path) -> None:
    """A real SIGTERM while two stacks train on threads, once the shorter one has finished
    (no run is then beginning to take the signal over): the stack under way is kept, the
    command exits 143 with the resume line, and resumed with --workers 1 it writes the
    uninterrupted sweep's results and best model."""
    args = ("--layers", "2,30x30", "--seed", "1,2", "--iterations", "8000", "--quiet",
            "--results", "rows.csv", "--save-best", "best.npz")
    straight = tmp_path / "straight"
    straight.mkdir()
    done = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", *args, "--workers",
                           "1"], cwd=straight, capture_output=True, text=True, timeout=600,
                          check=False)
    assert done.returncode == 0, done.stderr
    victim = sweep(*args, "--workers", "2", "--checkpoint", "s.npz", cwd=tmp_path)
    deadline = time.monotonic() + 300
    while victim.poll() is None:  # until a stack has finished (the file is replaced whole)
        if (tmp_path / "s.npz").exists() and read_sweep_file(tmp_path / "s.npz")[0][
                "finished"]:
            break
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victim.send_signal(signal.SIGTERM)
    out, err = victim.communicate(timeout=120)
    assert victim.returncode == 128 + signal.SIGTERM, err
    assert "Traceback" not in err
    assert "(SIGTERM)" in out and "at step" in out
    assert "Checkpoint: s.npz (resume with: nnbackend sweep --resume s.npz)" in out
    header, _ = read_sweep_file(tmp_path / "s.npz")
    assert header["finished"] and header["running"]
    resumed = subprocess.run([sys.executable, "-m", "nnbackend", "sweep", "--resume", "s.npz",
                              "--workers", "1"], cwd=tmp_path, capture_output=True,
                             text=True, timeout=600, check=False)
    assert resumed.returncode == 0, resumed.stderr
    rows, best = finished(tmp_path)
    assert rows == finished(straight)[0]
    for key, value in finished(straight)[1].items():
        np.testing.assert_array_equal(best[key], value, err_msg=key)


# -- stacks over ranks ---------------------------------------------------------------------


def test_ranks_keep_one_checkpoint_that_resumes_under_any_rank_count(
        reference: Backend, tmp_path: Path) -> None:
    """Two in-process ranks, a stack of each stopped at step 70 and the others finished:
    every rank raises the stop, rank 0 writes one checkpoint with every rank's stacks, and
    it resumes in one process and under three ranks to the uninterrupted sweep."""
    from nnbackend.distributed import run_ranks

    whole = nb.sweep("flower", grid=THREADED, backend=reference, max_stack=2, workers=1,
                     **FIXED)
    path = tmp_path / "sweep.npz"

    def prepare_for(seed: int | None) -> Any:
        return nb.Model(seed=seed, backend=reference).prepare("flower")

    def stopped_rank(comm: Any) -> str:
        kept = SweepCheckpoint(path if comm.is_root else None)
        with pytest.raises(SweepInterrupted) as caught:
            sweep_prepared(prepare_for, THREADED, reference, False, max_stack=2, workers=1,
                           comm=comm, checkpoint=kept, **FIXED,
                           callbacks=lambda info: [StopAt(70)] if info.index < 2 else [])
        return caught.value.where

    wheres = run_ranks(2, stopped_rank, timeout=120)
    assert wheres[0] == wheres[1] == "stack 1/4 at step 70 of 120, stack 2/4 at step 70 of 120"
    header, _ = read_sweep_file(path)
    assert {int(row) for row in header["finished"]} == {*whole.stacks[2], *whole.stacks[3]}
    assert {key: saved["state"]["step"] for key, saved in header["running"].items()} == {
        ",".join(map(str, whole.stacks[0])): 70, ",".join(map(str, whole.stacks[1])): 70}
    alone = nb.sweep("flower", grid=THREADED, backend=reference, max_stack=2, resume=path,
                     **FIXED)
    assert_same_sweep(reference, whole, alone)

    def resumed_rank(comm: Any) -> Any:
        return nb.sweep("flower", grid=THREADED, backend=reference, max_stack=2,
                        resume=path, comm=comm, **FIXED)

    for result in run_ranks(3, resumed_rank, timeout=120):
        np.testing.assert_equal(list(result), list(whole))
        assert result.best == whole.best
