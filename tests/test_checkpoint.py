"""Checkpoints: resuming a run ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from nnbackend.core.backend import host_rng, resolve_backend
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets, split_validation
from nnbackend.errors import NNBackendError
from nnbackend.persistence.checkpoints import load_checkpoint, save_checkpoint
from nnbackend.persistence.models import load_model, save_model
from nnbackend.training.trainer import BatchTotals, Trainer, TrainingOptions, evaluate

from .helpers import tolerance

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)
X_TR, Y_TR, X_VAL, Y_VAL = split_validation(X_FLOWER, TARGETS.Y, 0.25, seed=3)

CONFIGS = {
    "notes-gd": dict(learning_rate=1.2, iterations=900, print_every=100),
    "adam-minibatch-dropout-patience": dict(
        optimizer="adam", learning_rate=0.02, batch_size=48, epochs=12, keep_prob=0.8,
        patience=50, l2=0.1),
    "momentum-decay-iterations": dict(optimizer="momentum", learning_rate=0.3, batch_size=64,
                                      iterations=70, print_every=10, lr_decay=0.1),
}


def make_trainer(backend, options, state=None, rng=None, network=None):
    rng = rng or host_rng(3)
    network = network or Network.create((2, 6, 1), backend, "tanh", "binary", "xavier", rng=rng)
    validation = (backend.asarray(X_VAL), backend.asarray(Y_VAL))
    return Trainer(network, backend.asarray(X_TR), backend.asarray(Y_TR),
                   TrainingOptions(**options), rng, validation, state=state)


@pytest.mark.parametrize("config", list(CONFIGS))
def test_resume_from_a_mid_run_checkpoint_is_exact(backend, tmp_path, config):
    options = CONFIGS[config]
    full = make_trainer(backend, options)
    full_result = full.run()

    path = tmp_path / "run.npz"
    crash_at = 9  # mid-epoch for the mini-batch configurations (7 and 5 batches per epoch)

    def checkpoint_then_crash(trainer):
        if trainer.state.step == crash_at:
            save_checkpoint(path, trainer, {"test": config})
            trainer.request_stop()

    first = make_trainer(backend, options)
    first.on_step = checkpoint_then_crash
    assert first.run().stop_reason.startswith("interrupted after")

    network, header, state, rng = load_checkpoint(path, backend)
    assert header["extra"]["run"] == {"test": config}
    assert state.step == crash_at
    resumed = make_trainer(backend, options, state=state, rng=rng, network=network)
    result = resumed.run()

    assert result.steps == full_result.steps and result.stop_reason == full_result.stop_reason
    assert [h.get("iteration", h.get("epoch")) for h in result.history] == [
        h.get("iteration", h.get("epoch")) for h in full_result.history]
    exact = backend.name == "numpy" and backend.dtype_name == "float64"
    # The interrupted epoch's record averages batches from both processes.
    costs = [h["cost"] for h in result.history]
    full_costs = [h["cost"] for h in full_result.history]
    if exact:
        assert costs == full_costs
    else:
        np.testing.assert_allclose(costs, full_costs, rtol=10 * tolerance(backend))
    for name, value in full.network.params.items():
        ours = backend.to_host(resumed.network.params[name])
        theirs = backend.to_host(value)
        if exact:
            np.testing.assert_array_equal(ours, theirs)  # to the last bit
        else:
            np.testing.assert_allclose(ours, theirs, rtol=10 * tolerance(backend), atol=1e-12)


def test_an_epoch_resumed_without_its_batch_sums_records_the_full_data_cost(reference, tmp_path):
    """A checkpoint written before checkpoints carried the epoch's sums: the resumed
    epoch's record evaluates the training set instead of averaging half an epoch."""
    options = CONFIGS["adam-minibatch-dropout-patience"]
    path = tmp_path / "run.npz"

    def checkpoint_then_crash(trainer):
        if trainer.state.step == 9:  # mid-epoch 2 (7 batches per epoch)
            save_checkpoint(path, trainer, {})
            trainer.request_stop()

    first = make_trainer(reference, options)
    first.on_step = checkpoint_then_crash
    first.run()
    network, _, state, rng = load_checkpoint(path, reference)
    assert state.epoch_totals.examples > 0
    state.epoch_totals = BatchTotals()  # as an older checkpoint loads
    resumed = make_trainer(reference, options, state=state, rng=rng, network=network)
    expected = {}

    def full_data_cost(entry):
        expected[entry["epoch"]] = evaluate(resumed.network, resumed.state.params, resumed.X,
                                            resumed.Y, options["l2"])

    resumed.on_record = full_data_cost
    history = resumed.run().history
    record = next(h for h in history if h["epoch"] == 2)
    assert (record["cost"], record["accuracy"]) == pytest.approx(expected[2], rel=1e-12)
    later = next(h for h in history if h["epoch"] == 3)  # whole epochs: batch means again
    assert later["cost"] != pytest.approx(expected[3][0], rel=1e-6)


def test_a_checkpoint_is_also_a_model_and_a_model_is_not_a_checkpoint(reference, tmp_path):
    trainer = make_trainer(reference, CONFIGS["notes-gd"])
    trainer.run()
    save_checkpoint(tmp_path / "c.npz", trainer, {"x": 1}, TARGETS.classes)
    network, _ = load_model(tmp_path / "c.npz", reference)
    np.testing.assert_array_equal(reference.to_host(network.params["W1"]),
                                  reference.to_host(trainer.network.params["W1"]))
    save_model(tmp_path / "m.npz", trainer.network)
    with pytest.raises(NNBackendError, match="is a model file, not a checkpoint"):
        load_checkpoint(tmp_path / "m.npz", reference)


def test_a_tampered_checkpoint_is_refused(reference, tmp_path):
    trainer = make_trainer(reference, CONFIGS["adam-minibatch-dropout-patience"])
    trainer.run()
    path = tmp_path / "c.npz"
    save_checkpoint(path, trainer, {})
    data = bytearray(path.read_bytes())
    # Flip a byte inside the stored parameter W1 (the archive is uncompressed), not just
    # anywhere: some zip bytes (e.g. a local header's copy of the CRC) are never read.
    W1 = reference.to_host(trainer.state.params["W1"]).tobytes()
    start = data.find(W1)
    assert start > 0
    data[start + len(W1) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(NNBackendError, match="corrupted|checksum"):
        load_checkpoint(path, reference)


def cli(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nnbackend", "train", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def wait_for(path, proc, timeout=60.0):
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.005)


RUN = ("--iterations", "30000", "--print-every", "5000", "--quiet")


def final_params(path):
    network, _ = load_model(path, resolve_backend("cpu", "numpy", "float64"))
    return {k: network.backend.to_host(v) for k, v in network.params.items()}


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    path = tmp_path_factory.mktemp("full") / "full.npz"
    done = cli(*RUN, "--save", str(path))
    assert done.wait() == 0, done.communicate()
    return final_params(path)


def test_sigkill_then_resume_matches_an_uninterrupted_run(tmp_path, uninterrupted):
    checkpoint = tmp_path / "run.npz"
    victim = cli(*RUN, "--checkpoint", str(checkpoint), "--checkpoint-every", "2000")
    wait_for(checkpoint, victim)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    _, header, state, _ = load_checkpoint(checkpoint, resolve_backend("cpu"))
    assert 0 < state.step < 30000  # it really died mid-run

    resumed = subprocess.run(
        [sys.executable, "-m", "nnbackend", "train", "--resume", str(checkpoint), "--save",
         str(tmp_path / "resumed.npz"), "--quiet"], capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    assert f"Resuming {checkpoint} at step {state.step}" in resumed.stdout
    ours = final_params(tmp_path / "resumed.npz")
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(ours[name], value)


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path, uninterrupted):
    checkpoint, model = tmp_path / "run.npz", tmp_path / "model.npz"
    model.write_bytes(b"the user's previous model")
    victim = cli(*RUN, "--checkpoint", str(checkpoint), "--checkpoint-every", "2000",
                 "--save", str(model))
    wait_for(checkpoint, victim)
    victim.send_signal(signal.SIGINT)
    out, err = victim.communicate(timeout=60)
    assert victim.returncode == 130, err
    assert "Traceback" not in err
    assert "Stopped: interrupted after" in out
    assert f"resume with: nnbackend train --resume {checkpoint}" in out
    assert model.read_bytes() == b"the user's previous model"  # nothing overwritten

    resumed = subprocess.run(
        [sys.executable, "-m", "nnbackend", "train", "--resume", str(checkpoint), "--save",
         str(model), "--quiet"], capture_output=True, text=True, check=False)
    assert resumed.returncode == 0, resumed.stderr
    ours = final_params(model)
    for name, value in uninterrupted.items():
        np.testing.assert_array_equal(ours[name], value)


def test_resume_refuses_options_that_would_change_the_run(tmp_path):
    checkpoint = tmp_path / "run.npz"
    done = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--iterations", "20",
                           "--checkpoint", str(checkpoint), "--quiet"],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    again = subprocess.run([sys.executable, "-m", "nnbackend", "train", "--resume",
                            str(checkpoint), "--lr", "0.5", "--layers", "8"],
                           capture_output=True, text=True, check=False)
    assert again.returncode == 2
    assert again.stderr.strip() == ("Error: --layers, --lr cannot change when resuming; the "
                                    "checkpoint fixes the data, model and training options "
                                    "(drop them)")
    os.remove(checkpoint)


def test_the_history_is_stored_as_compact_columns_and_read_back_exactly(reference,
                                                                          tmp_path):
    trainer = make_trainer(reference, CONFIGS["momentum-decay-iterations"])
    trainer.run()
    records = 20000
    trainer.state.history = [{"iteration": i, "cost": 0.6931471805599453 - i / 3e5,
                              "accuracy": i / records, "val_cost": float("nan") if i == 7
                              else 0.7 - i / 7e5, "time": i * 0.001234567}
                             for i in range(records)]
    path = tmp_path / "c.npz"
    save_checkpoint(path, trainer, {})
    header = load_model(path, reference)[1]
    assert header["extra"]["history"] == []
    assert header["extra"]["history_columns"] == [
        ["iteration", "int"], ["cost", "float"], ["accuracy", "float"], ["val_cost", "float"],
        ["time", "float"]]
    # 8 bytes a number (JSON records took 93 bytes a record for four numbers).
    assert path.stat().st_size < 5 * 8 * records + 20000
    history = load_checkpoint(path, reference)[2].history
    assert history[:7] == trainer.state.history[:7] and np.isnan(history[7]["val_cost"])
    assert history[8:] == trainer.state.history[8:]
    assert [type(v) for v in history[-1].values()] == [int, float, float, float, float]


def test_the_columns_grow_with_the_history_and_odd_records_stay_json(reference, tmp_path):
    from nnbackend.persistence.checkpoints import history_columns

    history = [{"epoch": e, "cost": 1.0 / e} for e in range(1, 6)]
    done: dict = {}
    history_columns(history, done)
    history.append({"epoch": 6, "cost": 1 / 6})
    grown, again = history_columns(history, done), history_columns(history)
    assert grown is not None and again is not None and grown[0] == again[0]
    for name, column in again[1].items():
        np.testing.assert_array_equal(grown[1][name], column)
    assert history_columns(history + [{"epoch": 7, "cost": 1}]) is None  # mixed numbers
    assert history_columns(history + [{"epoch": 7}]) is None  # other keys
    trainer = make_trainer(reference, CONFIGS["notes-gd"])
    trainer.run()
    odd = [{"iteration": 0, "cost": 1.0}, {"iteration": 1, "cost": 0.5, "note": 2}]
    trainer.state.history = odd
    save_checkpoint(tmp_path / "c.npz", trainer, {})
    assert load_checkpoint(tmp_path / "c.npz", reference)[2].history == odd


def test_malformed_history_columns_are_refused(reference, tmp_path, monkeypatch):
    import nnbackend.persistence.checkpoints as checkpoints

    trainer = make_trainer(reference, CONFIGS["notes-gd"])
    trainer.run()
    monkeypatch.setattr(checkpoints, "history_columns", lambda history, done=None: (
        [["cost", "float"]], {"history.0": np.zeros((2, 2))}))
    save_checkpoint(tmp_path / "c.npz", trainer, {})
    with pytest.raises(NNBackendError, match=r"malformed \(history column cost is missing "
                                             r"or not 1-D floats\)"):
        load_checkpoint(tmp_path / "c.npz", reference)
