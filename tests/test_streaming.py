"""Training data kept on the host and streamed batch by batch gives the same run.

The stream gathers each batch on a worker thread and copies it to the device ahead of
its step. On every CPU backend it must deliver exactly the batches the device-resident
loop gathers, so histories and parameters are equal bit for bit. A stand-in for the CUDA
backends' staging (pinned buffers, a copy stream, events) runs the slot rotation of the
GPU path with synchronous copies; on a CUDA machine the real one runs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnbackend.core.backend import Backend, Staging, host_rng, resolve_backend
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower, load_dataset
from nnbackend.data.encoding import encode_targets
from nnbackend.errors import NNBackendError
from nnbackend.training.streaming import SLOTS, BatchStream
from nnbackend.training.trainer import Trainer, TrainingOptions

from .test_graphed import STACKS, assert_same_run, fit_stack, stand_in

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)


def staged(backend: Backend) -> tuple[Backend, list[str]]:
    """``backend`` with a synchronous stand-in for a CUDA backend's staging."""
    log: list[str] = []

    def upload(host, device_array, after):
        log.append(f"upload after {after}")
        device_array[...] = backend.asarray(host)
        return f"copy {len(log)}"

    def compute_event():
        log.append("compute event")
        return f"compute {len(log)}"

    staging = Staging(
        pinned=lambda shape, dtype: np.full(shape, np.nan, dtype=dtype),
        upload=upload, compute_waits=lambda event: log.append(f"wait {event}"),
        compute_event=compute_event, host_waits=lambda event: log.append(f"host waits {event}"))
    return dataclasses.replace(backend, staging=staging), log


def fit(backend: Backend, options: TrainingOptions, data_on: str, graphs: str = "off",
        X=X_FLOWER, Y=TARGETS.Y, task="binary"):
    net = Network.create((X.shape[1], 5, Y.shape[0]), backend, "tanh", task, "xavier",
                         seed=3)
    if data_on == "device":
        X, Y = backend.asarray(X), backend.asarray(Y)
    trainer = Trainer(net, X, Y, options, host_rng(0), cuda_graph=graphs, data_on=data_on)
    # Bit for bit: eager steps. Compiled (JAX), the device-resident step gathers its batch
    # inside the program and a streamed one is given it, two programs that XLA fuses
    # differently (equal to rounding: tests/test_compiled.py).
    trainer.compiled = False
    result = trainer.run()
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    return history, {k: backend.to_host(v) for k, v in net.params.items()}


def assert_same(run, expected) -> None:
    """Equal histories and parameters, bit for bit."""
    assert run[0] == expected[0]
    for key, value in expected[1].items():
        np.testing.assert_array_equal(run[1][key], value, err_msg=key)


CONFIGS = {
    "mini-batches-adam-dropout": TrainingOptions(
        learning_rate=0.01, optimizer="adam", batch_size=64, epochs=3, print_every=1,
        keep_prob=0.8),
    "iterations-records-evaluate-host-data": TrainingOptions(
        learning_rate=0.5, batch_size=150, iterations=12, print_every=4),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_streamed_batches_give_the_device_resident_run(backend, name):
    options = CONFIGS[name]
    assert_same(fit(backend, options, "host"), fit(backend, options, "device"))


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_staged_path_with_graphs_gives_the_same_run(reference, name):
    options = CONFIGS[name]
    backend, log = staged(reference)
    backend, _ = stand_in(backend)
    assert_same(fit(backend, options, "host", graphs="on"), fit(reference, options, "device"))
    assert any(entry.startswith("wait copy") for entry in log)


def test_slots_rotate_and_wait_for_the_step_that_read_them(reference):
    backend, log = staged(reference)
    stream = BatchStream(X_FLOWER, TARGETS.Y, backend, batch=100)
    try:
        order = np.random.RandomState(0).permutation(400)
        stream.epoch(order, 0)
        for step in range(4):
            X, Y = stream.next()
            rows = order[100 * step:100 * step + 100]
            np.testing.assert_array_equal(backend.to_host(X), X_FLOWER[rows])
            np.testing.assert_array_equal(backend.to_host(Y), TARGETS.Y[:, rows])
            stream.done()
    finally:
        stream.close()
    uploads = [entry for entry in log if entry.startswith("upload")]
    # Two copies (X, Y) per batch; a slot's first use waits for nothing, its reuse for
    # the compute event recorded after the step that read it.
    assert uploads[0] == "upload after None"
    assert uploads[2 * SLOTS].startswith("upload after compute")


def test_multiclass_batches_keep_the_device_loops_layout(backend):
    """Y arrives as a contiguous (n[L], b) array: reductions over another layout can round
    differently (seen on PyTorch float32 with 10 classes)."""
    X, y = load_dataset("blobs", n_samples=300, n_classes=4)
    Y = encode_targets(y, "multiclass").Y
    options = TrainingOptions(learning_rate=0.05, optimizer="adam", batch_size=64, epochs=2,
                              print_every=1)
    assert_same(fit(backend, options, "host", X=X, Y=Y, task="multiclass"),
                fit(backend, options, "device", X=X, Y=Y, task="multiclass"))


def test_copies_in_flight_are_waited_for_before_the_slots_go(reference):
    """A run that stops mid-epoch leaves the next batch's copy in flight: closing the
    stream waits for it, so its memory cannot be handed out while the copy writes."""
    backend, log = staged(reference)
    stream = BatchStream(X_FLOWER, TARGETS.Y, backend, batch=100)
    stream.epoch(None, 0)
    for _ in range(2):
        stream.next()
        stream.done()
    last_upload = max(i for i, entry in enumerate(log) if entry.startswith("upload"))
    last_copy = f"copy {last_upload + 1}"  # the stand-in names events by log position
    assert f"wait {last_copy}" not in log  # batch 3 was copied ahead, never used
    stream.close()
    assert log[-1] == f"host waits {last_copy}"


def test_full_batch_data_is_not_streamed(reference):
    net = Network.create((2, 4, 1), reference)
    with pytest.raises(NNBackendError, match="give batch_size smaller than the data set"):
        Trainer(net, X_FLOWER, TARGETS.Y, TrainingOptions(iterations=5), data_on="host")


def test_a_memory_mapped_npy_is_streamed_without_being_read_whole(reference, tmp_path):
    path = tmp_path / "X.npy"
    np.save(path, X_FLOWER)
    mapped = np.load(path, mmap_mode="r")
    options = CONFIGS["mini-batches-adam-dropout"]
    assert_same(fit(reference, options, "host", X=mapped), fit(reference, options, "device"))


def test_host_data_must_be_numpy(reference):
    net = Network.create((2, 4, 1), reference)
    with pytest.raises(NNBackendError, match="data kept on the host must be NumPy arrays"):
        Trainer(net, [[0.0, 0.0]], [[0.0]], data_on="host")
    with pytest.raises(NNBackendError, match="unknown data place 'disk'"):
        Trainer(net, X_FLOWER, TARGETS.Y, data_on="disk")


#: Stacks whose steps take mini-batches (host data is never full-batch).
MINI_BATCH_STACKS = [name for name, (_, _, options, _, _) in STACKS.items()
                     if options[0].batch_size is not None]


@pytest.mark.parametrize("name", MINI_BATCH_STACKS)
def test_a_stack_streams_each_models_own_batches(backend, name):
    """A stack's per-model batches gathered on the host (``k * b`` rows a step) give the
    device-resident stacked run, bit for bit (eager steps: see ``fit``)."""
    sizes, seeds, options, activation, validation = STACKS[name]
    device = fit_stack(backend, sizes, seeds, options, activation, validation=validation,
                       eager=True)
    host = fit_stack(backend, sizes, seeds, options, activation, validation=validation,
                     data_on="host", eager=True)
    assert_same_run(host, device)


@pytest.mark.parametrize("name", MINI_BATCH_STACKS)
def test_a_stack_streams_through_the_staged_path_and_graphs(reference, name):
    """The GPU path's slots (sized for ``k`` batches) and the graphed runner's static
    batch, with a multiclass stack's ``(k, n[L], b)`` targets: the device-resident run."""
    sizes, seeds, options, activation, validation = STACKS[name]
    sizes = [(*s[:-1], 2) for s in sizes]
    device = fit_stack(reference, sizes, seeds, options, activation, validation=validation,
                       task="multiclass")
    backend, log = staged(stand_in(reference)[0])
    host = fit_stack(backend, sizes, seeds, options, activation, graphs="on",
                     validation=validation, data_on="host", task="multiclass")
    assert_same_run(host, device)
    assert any(entry.startswith("wait copy") for entry in log)  # the staged path ran


@pytest.mark.gpu
@pytest.mark.parametrize("backend_name", ["cupy", "torch"])
def test_real_staging_on_a_gpu_gives_the_device_resident_run(backend_name):
    try:
        backend = resolve_backend("cuda", backend_name, "float64")
    except NNBackendError as exc:
        pytest.skip(str(exc))
    assert (backend.staging is not None) == (backend_name == "torch")
    for options in CONFIGS.values():
        for graphs in ("off", "auto"):  # auto: CUDA graphs on PyTorch, eager on CuPy
            assert_same(fit(backend, options, "host", graphs=graphs),
                        fit(backend, options, "device", graphs=graphs))


@pytest.mark.gpu
@pytest.mark.parametrize("backend_name", ["cupy", "torch"])
def test_real_staging_of_a_stack_gives_the_device_resident_run(backend_name):
    try:
        backend = resolve_backend("cuda", backend_name, "float64")
    except NNBackendError as exc:
        pytest.skip(str(exc))
    for name in MINI_BATCH_STACKS:
        sizes, seeds, options, activation, validation = STACKS[name]
        for graphs in ("off", "auto"):  # auto: CUDA graphs on PyTorch, eager on CuPy
            assert_same_run(
                fit_stack(backend, sizes, seeds, options, activation, graphs,
                          validation, data_on="host"),
                fit_stack(backend, sizes, seeds, options, activation, graphs, validation))
