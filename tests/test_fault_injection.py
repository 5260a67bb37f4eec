"""SIGKILL at random points of a model or checkpoint save: the target is always the old or
a complete new file, and the next write leaves no temporary file behind."""

from __future__ import annotations

import os
import random
import signal
import sys
import time

import numpy as np
import pytest

from nnbackend.core.network import Network
from nnbackend.errors import NNBackendError
from nnbackend.persistence.checkpoints import load_checkpoint, save_checkpoint
from nnbackend.persistence.models import load_model, save_model

from .test_reliability_models import small_trainer

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or sys.platform == "darwin",
                                reason="needs os.fork and SIGKILL")
KILLS = 8


def temporaries(directory, name):
    return [p.name for p in directory.iterdir() if p.name.startswith(f".{name}.")
            and p.name.endswith(".tmp")]


def kill_while_writing(write_forever, seed, directory, name):
    """Fork ``KILLS`` writers, SIGKILL each after a seeded delay; count left temporaries."""
    delays = random.Random(seed)
    left = 0
    for kill in range(KILLS):
        pid = os.fork()
        if pid == 0:  # the child writes until it is killed
            try:
                write_forever(kill)
            finally:
                os._exit(1)
        time.sleep(delays.uniform(0.02, 0.15))
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        left = max(left, len(temporaries(directory, name)))
        yield kill
    assert left >= 1, "no kill landed inside a write: the test did not test anything"


def test_sigkill_during_model_saves(tmp_path, reference):
    path = tmp_path / "m.npz"
    # Large enough (1 MB) that most of a child's time is spent inside a write.
    versions = {seed: Network.create((250, 500, 1), reference, "tanh", "binary", seed=seed)
                for seed in range(KILLS + 1)}
    save_model(path, versions[KILLS], {"version": KILLS})

    def write_forever(kill):
        while True:
            save_model(path, versions[kill], {"version": kill})

    for _ in kill_while_writing(write_forever, 7, tmp_path, "m.npz"):
        network, header = load_model(path, reference)  # never a broken file
        expected = versions[header["extra"]["version"]]
        for name, value in expected.params.items():
            np.testing.assert_array_equal(network.params[name], value)
    save_model(path, versions[0], {"version": 0})  # the next write cleans up
    assert temporaries(tmp_path, "m.npz") == []


def test_sigkill_during_checkpoint_saves(tmp_path, reference):
    path = tmp_path / "c.npz"
    trainer = small_trainer(reference)
    save_checkpoint(path, trainer, {"data": "test"})
    steps = {trainer.state.step}

    def write_forever(kill):
        trainer.state.step = 1000 * (kill + 1)
        while True:
            save_checkpoint(path, trainer, {"data": "test"})

    for kill in kill_while_writing(write_forever, 8, tmp_path, "c.npz"):
        steps.add(1000 * (kill + 1))
        try:
            _, _, state, _ = load_checkpoint(path, reference)
        except NNBackendError as exc:  # pragma: no cover - the assertion's message
            pytest.fail(f"a killed save broke the checkpoint: {exc}")
        assert state.step in steps
    save_checkpoint(path, trainer, {"data": "test"})
    assert temporaries(tmp_path, "c.npz") == []
