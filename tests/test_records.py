"""What a history record holds: the notes' full-data cost per iteration, and per epoch the
mean of the epoch's batch costs (the course's mini-batch ``model()``, Keras)."""

from __future__ import annotations

import numpy as np
import pytest

from nnbackend.core.backend import host_rng
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets
from nnbackend.training.trainer import Trainer, TrainingOptions

from .helpers import tolerance

X_FLOWER, Y_FLOWER = flower()
Y_ROW = encode_targets(Y_FLOWER).Y[0]  # (m,) of 0/1
M = X_FLOWER.shape[0]


def host_cost_and_accuracy(params: dict[str, np.ndarray], rows: np.ndarray
                           ) -> tuple[float, float]:
    """Binary cross-entropy and accuracy of a tanh/sigmoid 2-layer net, in float64 NumPy."""
    X, y = X_FLOWER[rows].T, Y_ROW[rows]
    A1 = np.tanh(params["W1"] @ X + params["b1"])
    A2 = 1.0 / (1.0 + np.exp(-(params["W2"] @ A1 + params["b2"])))[0]
    cost = -np.mean(y * np.log(A2) + (1.0 - y) * np.log(1.0 - A2))
    return float(cost), float(np.mean((A2 > 0.5) == (y > 0.5)))


@pytest.mark.parametrize("batch_size", [150, None])
def test_an_epoch_record_is_the_mean_of_that_epochs_batch_costs(backend, batch_size):
    """Each batch's cost is taken before its update; the L2 term is the epoch-end one."""
    l2, epochs = 0.3, 3
    net = Network.create((2, 4, 1), backend, "tanh", "binary", "xavier", seed=3)
    to_host = backend.to_host

    def host(params):
        return {name: to_host(value).astype(np.float64) for name, value in params.items()}

    before = [host(net.params)]  # the parameters each step starts from
    options = TrainingOptions(learning_rate=0.5, batch_size=batch_size, epochs=epochs, l2=l2)
    Y = backend.asarray(encode_targets(Y_FLOWER).Y)
    trainer = Trainer(net, backend.asarray(X_FLOWER), Y, options, host_rng(0),
                      on_step=lambda t: before.append(host(t.state.params)))
    history = trainer.run().history
    assert [h["epoch"] for h in history] == [1, 2, 3]

    rng, step = host_rng(0), 0  # replays the trainer's per-epoch permutations
    batch = batch_size or M
    for record in history:
        order = np.arange(M) if batch_size is None else rng.permutation(M)
        cost_sum = hits_sum = 0.0
        for start in range(0, M, batch):
            rows = order[start:start + batch]
            cost, acc = host_cost_and_accuracy(before[step], rows)
            cost_sum += cost * len(rows)
            hits_sum += acc * len(rows)
            step += 1
        end = before[step]  # the parameters after the epoch's last update
        penalty = l2 / (2 * M) * sum(np.sum(end[w] ** 2) for w in ("W1", "W2"))
        rtol = 10 * tolerance(backend)
        assert record["cost"] == pytest.approx(cost_sum / M + penalty, rel=rtol)
        assert record["accuracy"] == pytest.approx(hits_sum / M, rel=rtol)
    assert step == len(before) - 1


def test_an_iteration_record_is_the_full_data_cost_before_that_update(reference):
    """The notes' convention: the cost of iteration i, on all examples, before its update."""
    net = Network.create((2, 4, 1), reference, "tanh", "binary", "small", seed=3)
    def host(params):  # a copy: later steps update the loop's own arrays in place
        return {name: np.array(value) for name, value in params.items()}

    before = [host(net.params)]
    options = TrainingOptions(learning_rate=0.5, batch_size=100, iterations=9, print_every=4)
    trainer = Trainer(net, reference.asarray(X_FLOWER),
                      reference.asarray(encode_targets(Y_FLOWER).Y), options, host_rng(0),
                      on_step=lambda t: before.append(host(t.state.params)))
    history = trainer.run().history
    assert [h["iteration"] for h in history] == [0, 4, 8]
    for record in history:
        cost, acc = host_cost_and_accuracy(before[record["iteration"]], np.arange(M))
        assert record["cost"] == pytest.approx(cost, rel=1e-10)
        assert record["accuracy"] == pytest.approx(acc, rel=1e-10)


@pytest.mark.parametrize(("units", "by_epoch", "given", "printed", "recorded"), [
    (10000, False, None, 1000, 20),   # the notes' run: 501 records, 11 printed
    (300, False, 100, 100, 10),       # short runs: at most every 10 iterations
    (50, False, 25, 25, 25),          # ... or the print interval when it is finer
    (500, False, 7, 7, 7),
    (40, True, 10, 10, 1),            # epoch runs: every epoch, up to 500 of them
    (40, True, None, 4, 1),
    (3000, True, None, 300, 6),       # 501 records
    (10**6, False, 1, 1, 1),          # printing every iteration records every one
])
def test_the_record_interval_divides_the_print_interval_and_bounds_the_records(
        units, by_epoch, given, printed, recorded):
    from nnbackend.training.cadence import RECORDS_PER_RUN, print_interval, record_interval

    assert print_interval(units, by_epoch, given) == printed
    assert record_interval(units, by_epoch, printed) == recorded
    assert printed % recorded == 0
    assert units // recorded <= RECORDS_PER_RUN or recorded == printed
