"""The training loop's host synchronisation points, counted with a test double.

On a GPU every read of a device value (``Backend.to_host``/``to_float``) waits for the
queued work. The loop may read only at records (print intervals): cost and accuracy of
the training data, and of the validation data when there is some.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnbackend.core.backend import Backend, host_rng
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets
from nnbackend.training.trainer import TrainingOptions, train

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)


def counting(backend: Backend, monkeypatch) -> tuple[Backend, dict[str, int]]:
    """A backend whose device->host reads and host->device copies are counted."""
    counts = {"to_host": 0, "asarray": 0}
    real_to_host, real_asarray = backend._to_host, Backend.asarray

    def to_host(x):
        counts["to_host"] += 1
        return real_to_host(x)

    def asarray(self, host, dtype=None):
        counts["asarray"] += 1
        return real_asarray(self, host, dtype)

    monkeypatch.setattr(Backend, "asarray", asarray)
    return dataclasses.replace(backend, _to_host=to_host), counts


@pytest.mark.parametrize(("options", "reads_per_record", "uploads"), [
    # full batch: no shuffle, no masks; nothing crosses inside an iteration
    (dict(learning_rate=1.2, iterations=1000, print_every=250), 2, lambda r: 0),
    # mini-batches: one permutation upload per epoch (10 epochs), none per step
    (dict(optimizer="adam", learning_rate=0.01, batch_size=32, epochs=10, print_every=5),
     2, lambda r: 10),
])
def test_reads_happen_only_at_records(backend, monkeypatch, options, reads_per_record,
                                      uploads):
    net = Network.create((2, 4, 1), backend, "tanh", "binary", "small", seed=3)
    X, Y = backend.asarray(X_FLOWER), backend.asarray(TARGETS.Y)
    spy, counts = counting(backend, monkeypatch)
    net.backend = spy
    result = train(net, X, Y, TrainingOptions(**options), host_rng(0))
    records = len(result.history)
    assert records == (4 if "iterations" in options else 2)
    # ... and at the end: the parameters' finiteness, one device reduction, and when the
    # last step made no record (iterations 1000, recorded up to 750), its cost, as a record.
    unrecorded = "iterations" in options
    assert counts["to_host"] == reads_per_record * (records + unrecorded) + 1
    assert counts["asarray"] == uploads(records)


def test_dropout_uploads_one_mask_set_per_step(reference, monkeypatch):
    """Dropout masks come from the host generator: one upload per hidden layer per step."""
    net = Network.create((2, 6, 5, 1), reference, "tanh", "binary", "xavier", seed=3)
    X, Y = reference.asarray(X_FLOWER), reference.asarray(TARGETS.Y)
    spy, counts = counting(reference, monkeypatch)
    net.backend = spy
    result = train(net, X, Y, TrainingOptions(learning_rate=0.5, iterations=40,
                                               print_every=20, keep_prob=0.8), host_rng(0))
    assert counts["asarray"] == 40 * 2  # two hidden layers, 40 steps
    # + the end's finiteness check, and the cost of the last step (40), which no record saw
    assert counts["to_host"] == 2 * (len(result.history) + 1) + 1
    assert np.isfinite(result.history[-1]["cost"])
