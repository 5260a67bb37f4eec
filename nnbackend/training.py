"""The training loop: the notes' full-batch gradient descent.

The loop keeps everything on the device. The cost is computed only at the print interval
(the notes compute it every iteration, but only print every 1000th) and read to the host
there, once: on a GPU each read is a synchronisation, so an iteration without a print
queues its work and never waits for it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import NNBackendError
from .network import Network, backward_propagation, forward_propagation, update_parameters

Array = Any
#: Called at each print interval with ``(iteration, cost)``.
OnRecord = Callable[[int, float], None]


def gradient_descent(
    network: Network,
    X: Array,
    Y: Array,
    learning_rate: float = 1.2,
    iterations: int = 10000,
    print_every: int = 1000,
    on_record: OnRecord | None = None,
) -> list[dict[str, float]]:
    """Train ``network`` in place with full-batch gradient descent (the notes' ``nn_model``).

    Parameters
    ----------
    network : Network
        Its parameters are replaced by the trained ones.
    X : array, shape (m, n[0])
        Training examples as rows, on the network's device and in its dtype.
    Y : array, shape (n[L], m)
        Encoded targets (see :func:`nnbackend.data.encode_targets`), same device and dtype.
    learning_rate : float
        Step size; the notes use 1.2 on the flower.
    iterations : int
        Number of gradient-descent steps.
    print_every : int
        Record the cost of iterations ``0, print_every, 2*print_every, ...``: the cost
        computed in that iteration, before its update, as the notes print it.
    on_record : callable, optional
        Called with ``(iteration, cost)`` at each record (e.g. to print it).

    Returns
    -------
    list of dict
        The history: ``{"iteration": i, "cost": c}`` per record.
    """
    if not learning_rate > 0:
        raise NNBackendError(f"the learning rate must be positive, got {learning_rate}")
    if iterations < 1 or print_every < 1:
        raise NNBackendError("iterations and print_every must be positive integers")
    if X.shape[0] != Y.shape[1]:
        raise NNBackendError(f"X has {X.shape[0]} examples but Y has {Y.shape[1]}")
    xp, backend = network.backend.xp, network.backend
    hidden, output = network.hidden, network.output
    lr = float(learning_rate)  # a NumPy scalar would upcast float32 parameters
    XT = X.T  # the notes' A[0], shape (n[0], m): a view, no copy
    params = network.params
    history: list[dict[str, float]] = []
    for i in range(iterations):
        cache = forward_propagation(params, XT, hidden, output, xp)
        if i % print_every == 0:
            cost = backend.to_float(output.cost(xp, cache[0][-1], Y))
            history.append({"iteration": i, "cost": cost})
            if on_record is not None:
                on_record(i, cost)
        grads = backward_propagation(params, cache, Y, hidden, xp)
        params = update_parameters(params, grads, lr)
    network.params = params
    return history


def accuracy(network: Network, X: Array, class_index: Array) -> float:
    """The fraction of examples whose predicted class index equals ``class_index``.

    Parameters
    ----------
    X : array, shape (m, n[0])
    class_index : array, shape (m,)
        True class indices (int64) on the network's device.
    """
    xp = network.backend.xp
    hits = xp.astype(network.predict(X) == class_index, network.backend.dtype)
    return network.backend.to_float(xp.mean(hits))
