"""Where a sweep's stacks train: several at once on worker threads, or shared out over
ranks (in-process ranks here; a real ``mpirun`` in tests/test_cli_distributed.py). Both
must give exactly the one-process, one-after-another results, with the same output."""

from __future__ import annotations

import dataclasses
import threading
import time
from typing import Any

import numpy as np
import pytest

import nnbackend as nb
from nnbackend.core.backend import Backend
from nnbackend.distributed import run_ranks
from nnbackend.distributed.agreement import RanksDisagree
from nnbackend.errors import NNBackendError, SettingError
from nnbackend.model import schedule
from nnbackend.model.ranks import RanksFailed, share_out
from nnbackend.model.schedule import InOrder, check_workers, choose_workers
from nnbackend.training.callbacks import Callback
from nnbackend.training.trainer import TrainingOptions

from .test_stack import steps_for

#: The course's hidden sizes: three stacks on a CPU (1-5, 20 and 50 units).
STUDY = {"layers": [(1,), (2,), (3,), (4,), (5,), (20,), (50,)]}


def params(backend: Backend, model: nb.Model) -> dict[str, np.ndarray]:
    assert model.network is not None
    return {name: backend.to_host(value) for name, value in model.network.params.items()}


def assert_same_models(backend: Backend, a: nb.SweepResult, b: nb.SweepResult,
                       rows: Any = None) -> None:
    """Every row (or ``rows``) of ``a`` and ``b``: the same figures and the same
    parameters, bit for bit."""
    assert list(a) == list(b) and a.stacks == b.stacks and a.best == b.best
    for i in range(len(a)) if rows is None else rows:
        one, other = params(backend, a.model(i)), params(backend, b.model(i))
        for name in one:
            np.testing.assert_array_equal(one[name], other[name], err_msg=f"row {i} {name}")


def recorder(log: list[tuple[Any, ...]]) -> Any:
    def on_record(info: Any, record: dict[str, Any]) -> None:
        log.append((info.index, record["iteration"], tuple(record["cost"])))
    return on_record


def test_threads_give_the_sequential_results_and_records_in_order(backend64: Backend) -> None:
    """Two stacks at a time: the same rows, models (bit for bit) and best model, and the
    records reach ``on_record`` stack after stack, as one after another."""
    fixed = {"iterations": steps_for(backend64, 400), "print_every": 50}
    grid = {**STUDY, "learning_rate": [0.5, 1.2]}
    logs: dict[int, list[tuple[Any, ...]]] = {1: [], 2: []}
    runs = {w: nb.sweep("flower", grid=grid, backend=backend64, workers=w,
                        on_record=recorder(logs[w]), **fixed) for w in (1, 2)}
    assert runs[1].workers == 1 and runs[2].workers == 2
    assert len(runs[2].stacks) >= 3
    assert "2 at a time on worker threads" in runs[2].notes[-1]
    assert_same_models(backend64, runs[1], runs[2])
    assert runs[1].best_model is not None and runs[2].best_model is not None
    assert logs[2] == logs[1] and [entry[0] for entry in logs[1]] == sorted(
        entry[0] for entry in logs[1])


def test_in_order_holds_later_stacks_until_the_earlier_ones_finish() -> None:
    said: list[str] = []
    output = InOrder([0, 1, 2])
    output.say(2, lambda: said.append("2a"))
    output.say(1, lambda: said.append("1a"))
    output.draw(1, lambda: said.append("1 bar"))  # not live: dropped
    output.say(0, lambda: said.append("0a"))
    output.finished(2)
    assert said == ["0a"]
    output.finished(0)  # 1 goes live: its line out; 2 waits for 1
    assert said == ["0a", "1a"]
    output.draw(1, lambda: said.append("1 bar"))
    output.finished(1)  # 2 had finished: its lines out
    assert said == ["0a", "1a", "1 bar", "2a"]


def test_the_default_rule(reference: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """Threads by default only on NumPy (and strict) with stacks whose numerics outweigh
    their Python calls, no more than the cores and than the memory holds together."""
    study = [6.0e6, 2.8e6, 2.4e6, 1.0e6]  # four stacks of wide models (us, estimated)
    serial = [0.025e6] * 4
    sizes = [10**6] * 4
    assert choose_workers(None, reference, study, serial, sizes, cpus=2) == 2
    assert choose_workers(None, reference, study, serial, sizes, cpus=8) == 4
    assert choose_workers(None, reference, study, serial, sizes, share=2, cpus=2) == 1
    assert choose_workers(None, reference, study[:1], serial[:1], sizes[:1], cpus=2) == 1
    # one long stack beside short ones: threads save too little
    assert choose_workers(None, reference, [9e6, 0.5e6], [0.3e6] * 2, sizes[:2], cpus=2) == 1
    # stacks of Python calls only: the GIL serialises them
    assert choose_workers(None, reference, [1e6, 1e6], [0.9e6] * 2, sizes[:2], cpus=2) == 1
    # one stack of narrow models (a tenth of its time in Python calls) beside wide ones:
    # it holds the GIL through its small operations, and the threads wait for it
    assert choose_workers(None, reference, study, [0.025e6] * 3 + [0.1e6], sizes,
                          cpus=2) == 1
    torch_like = dataclasses.replace(reference, name="torch")
    assert choose_workers(None, torch_like, study, serial, sizes, cpus=2) == 1
    assert choose_workers(3, torch_like, study, serial, sizes, cpus=2) == 3  # asked for
    assert choose_workers(2, reference, study, [0.9e6] * 4, sizes, cpus=2) == 2
    monkeypatch.setattr(schedule, "free_bytes", lambda backend: 3 * 10**6)
    assert choose_workers(None, reference, study, serial, sizes, cpus=8) == 3
    assert choose_workers(4, reference, study, serial, sizes, cpus=8) == 3


def test_the_course_study_runs_one_stack_after_another(reference: Backend,
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The cost model's own estimates: the study's narrow stacks (measured 1.5x slower on
    two threads) run one after another; two stacks of wide models (measured 0.73-0.9x)
    on threads."""
    monkeypatch.setattr(schedule, "free_bytes", lambda backend: None)
    numpy64 = dataclasses.replace(reference, name="numpy")

    def workers(groups: list[list[tuple[int, ...]]], iterations: int) -> int:
        runs = [schedule.estimate(g, TrainingOptions(iterations=iterations), 400, numpy64)
                for g in groups]
        return choose_workers(None, numpy64, *zip(*runs, strict=True), cpus=2)

    study = [[(2, 50, 1)], [(2, 20, 1)], [(2, 3, 1), (2, 4, 1), (2, 5, 1)],
             [(2, 1, 1), (2, 2, 1)]]
    assert workers(study, 5000) == 1
    assert workers([[(2, 300, 1)], [(2, 200, 1)]], 1000) == 2


def test_bad_workers_are_one_line_errors(reference: Backend) -> None:
    for bad in (0, -1, 1.5, True, "2"):
        with pytest.raises(SettingError, match=r"\{workers\}|workers must be an integer"):
            check_workers(bad, reference)
    gpu = dataclasses.replace(reference, device_label="cuda:0")
    check_workers(1, gpu)
    with pytest.raises(SettingError) as error:
        check_workers(2, gpu)
    assert error.value.spelled(lambda name: "--workers") == (
        "--workers 2: stacks train at once on CPU threads only, and numpy on cuda:0, "
        "float64 trains one stack at a time; leave --workers out")
    with pytest.raises(SettingError, match="workers must be an integer >= 1, got 0"):
        nb.sweep("flower", grid=STUDY, backend=reference, workers=0, iterations=10)


class FailAt(Callback):
    """Raises at step ``step`` of the stack it is given to."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_step(self, trainer: Any) -> None:
        if trainer.state.step == self.step:
            raise RuntimeError("a stack failed")


def test_a_failing_stack_stops_the_others_and_raises(reference: Backend) -> None:
    """The other thread's stack stops after its current step instead of running its
    100,000 iterations, and the error reaches the caller."""
    from nnbackend.data.pipeline import DataSpec, prepare
    from nnbackend.model.sweep import sweep_prepared

    data = prepare(DataSpec("flower"))
    steps: list[int] = []

    class Count(Callback):
        def on_end(self, trainer: Any, result: Any) -> None:
            steps.append(trainer.state.step)

    def callbacks(info: Any) -> list[Callback]:
        return [Count(), *([FailAt(200)] if info.index == 0 else [])]

    started = time.perf_counter()
    with pytest.raises(RuntimeError, match="a stack failed"):
        sweep_prepared(lambda seed: data, {"layers": [(2,), (50,)]}, reference, False,
                       callbacks=callbacks, workers=2, iterations=100_000)
    assert time.perf_counter() - started < 60
    assert len(steps) == 2 and max(steps) < 100_000, steps
    assert not [t for t in threading.enumerate()  # no worker left behind
                if t.name.startswith("nnbackend-stack")]


def test_share_out_balances_the_estimated_work() -> None:
    assert share_out([5.0, 1.0, 3.0, 3.0], 2) == [[0, 1], [2, 3]]
    assert share_out([1.0, 1.0, 1.0], 3) == [[0], [1], [2]]
    assert share_out([2.0], 3) == [[0], [], []]


@pytest.mark.parametrize("ranks", [1, 2, 3])
def test_ranks_give_the_one_process_results(reference: Backend, ranks: int) -> None:
    """Each rank trains its share of the stacks; every rank gets every row (exactly one
    process's), the best model, and the models it trained, bit for bit."""
    fixed = {"iterations": 300, "print_every": 100, "validation_fraction": 0.25}
    grid = {**STUDY, "seed": [1, 2]}
    one = nb.sweep("flower", grid=grid, backend=reference, workers=1, **fixed)
    logs: list[list[tuple[Any, ...]]] = [[] for _ in range(ranks)]

    def rank(comm: Any) -> nb.SweepResult:
        return nb.sweep("flower", grid=grid, backend=reference, comm=comm,
                        on_record=recorder(logs[comm.rank]), **fixed)

    results = run_ranks(ranks, rank)
    trained = []
    for r, result in enumerate(results):
        assert list(result) == list(one) and result.stacks == one.stacks
        assert result.best == one.best and result.best_model is not None
        assert f"shared out over {ranks} ranks; rank {r} trains" in " ".join(result.notes)
        assert_same_models(reference, result, one, rows=sorted(result._trained))
        trained += list(result._trained)
        # each rank records only its own stacks
        assert {entry[0] for entry in logs[r]} <= set(range(len(one.stacks)))
    assert set(trained) == set(range(len(one)))
    assert sorted(entry for log in logs for entry in log) == sorted(
        entry for entry in _records(reference, grid, fixed))
    if ranks > 1:
        others = next(i for i in range(len(one)) if i not in results[0]._trained)
        with pytest.raises(NNBackendError, match="was trained on another rank"):
            results[0].model(others)


def _records(backend: Backend, grid: dict[str, Any], fixed: dict[str, Any]) -> list[Any]:
    log: list[tuple[Any, ...]] = []
    nb.sweep("flower", grid=grid, backend=backend, workers=1, on_record=recorder(log),
             **fixed)
    return log


def test_an_error_on_one_rank_is_raised_on_every_rank(reference: Backend) -> None:
    """No rank waits for ever: the failing rank's error, named, on each of them."""
    raised: list[BaseException | None] = [None, None]

    def rank(comm: Any) -> None:
        def callbacks(info: Any) -> list[Callback]:
            return [FailAt(5)] if comm.rank == 1 else []
        try:
            from nnbackend.data.pipeline import DataSpec, prepare
            from nnbackend.model.sweep import sweep_prepared
            data = prepare(DataSpec("flower"))
            sweep_prepared(lambda seed: data, STUDY, reference, False, callbacks=callbacks,
                           comm=comm, iterations=50)
        except BaseException as error:
            raised[comm.rank] = error

    run_ranks(2, rank, timeout=60)
    assert isinstance(raised[0], RanksFailed)
    assert str(raised[0]) == "rank 1 of 2: RuntimeError: a stack failed"
    assert isinstance(raised[1], RuntimeError)  # a bug keeps its own traceback there


def test_ranks_given_different_settings_refuse_together(reference: Backend) -> None:
    def rank(comm: Any) -> None:
        nb.sweep("flower", grid=STUDY, backend=reference, comm=comm,
                 iterations=10 + comm.rank)

    with pytest.raises(RanksDisagree, match="rank 1 has --iterations 11, rank 0 "
                                            "--iterations 10"):
        run_ranks(2, rank, timeout=60)


def test_ctrl_c_stops_every_thread_and_exits_130(tmp_path: Any) -> None:
    """Ctrl-C while stacks train on threads: each stops after its step and is kept, the
    command names the checkpoint and the resume command (no traceback) and exits 130, long
    before the run's end."""
    import os
    import signal
    import subprocess
    import sys

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root, "NNBACKEND_DEVICE": "cpu", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "nnbackend", "sweep", "--layers", "1,20,50", "--iterations",
         "10000000", "--print-every", "100", "--workers", "2", "--backend", "numpy"],
        cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    for line in process.stdout:  # the first stack's lines come out as they are made
        if line.startswith("Stack 1/3"):
            break
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130, err
    assert "Traceback" not in err and "(SIGINT)" in out
    assert ("Checkpoint: nnbackend-checkpoint.npz (resume with: nnbackend sweep --resume "
            "nnbackend-checkpoint.npz)") in out


def test_only_the_live_stack_draws_its_progress_bar(reference: Backend,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    """Two stacks at once on one terminal: the first stack's bar, and no other stack's
    until it has finished; the line is cleared at the end."""
    import io
    import re

    from nnbackend.cli.sweep import StackBar
    from nnbackend.data.pipeline import DataSpec, prepare
    from nnbackend.model.sweep import sweep_prepared

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    screen = Terminal()
    monkeypatch.setattr(StackBar, "INTERVAL", 0.0)  # draw every step
    data = prepare(DataSpec("flower"))
    result = sweep_prepared(lambda seed: data, {"layers": [(2,), (3,), (40,)]}, reference,
                            False, callbacks=lambda info: [StackBar(info, screen)],
                            max_stack=1, workers=2, iterations=200, print_every=100)
    assert result.workers == 2 and result.stacks[0] == (2,)  # the widest first
    drawn = [int(n) for n in re.findall(r"iterations of stack (\d)/3", screen.getvalue())]
    assert drawn[:1] == [1] and drawn == sorted(drawn), drawn  # never back to an earlier one
    assert "200/200 iterations of stack 1/3" in screen.getvalue()
    assert screen.getvalue().endswith("\r\x1b[K")


def test_the_best_model_reaches_every_rank_on_every_backend(backend64: Backend) -> None:
    """The rank that did not train the best model gets it, on its backend's device,
    equal to the one-process model bit for bit."""
    fixed = {"iterations": steps_for(backend64, 200)}
    grid = {"layers": [(3,), (20,)]}
    one = nb.sweep("flower", grid=grid, backend=backend64, workers=1, **fixed)
    assert len(one.stacks) == 2 and one.best_model is not None

    def rank(comm: Any) -> tuple[bool, dict[str, np.ndarray]]:
        result = nb.sweep("flower", grid=grid, backend=backend64, comm=comm, **fixed)
        assert result.best_model is not None and result.best_model.network is not None
        for value in result.best_model.network.params.values():
            assert value.device == backend64.device and value.dtype == backend64.dtype
        return len(result._trained) == 1, params(backend64, result.best_model)

    results = run_ranks(2, rank)
    expected = params(backend64, one.best_model)
    for _, got in results:
        for name in expected:
            np.testing.assert_array_equal(got[name], expected[name])
    # one rank holds only its own model; the other also the one it received
    assert [trained_one for trained_one, _ in results].count(True) == 1


def test_blas_pools_are_limited_while_stacks_share_the_cores() -> None:
    """Each BLAS pool gets its share of the cores while the threads run, never more than
    it had, and its own limit back afterwards."""
    threadpoolctl = pytest.importorskip("threadpoolctl")

    def blas() -> list[int]:
        return [info["num_threads"] for info in threadpoolctl.threadpool_info()
                if info["user_api"] == "blas"]

    before = blas()
    if not before:
        pytest.skip("no BLAS library is loaded")
    with schedule.blas_threads(1):
        assert set(blas()) == {1}
        with schedule.blas_threads(4):  # never raised above a lower limit
            assert set(blas()) == {1}
    assert blas() == before
