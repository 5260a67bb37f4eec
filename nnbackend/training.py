"""The training loop: (mini-)batch gradient descent with the notes' equations.

One loop serves every configuration. With the defaults it is exactly the notes' full-batch
gradient descent: no shuffling, no random draws, the cost of iteration ``i`` computed from
that iteration's own forward pass before its update. Mini-batches, optimizers, L2,
dropout, learning-rate decay and early stopping are options of the same loop.

What stays on the device: data, parameters, optimizer state, every intermediate. What
crosses to the host: the epoch's permutation and dropout masks (drawn on the host from
the run's seeded generator, so all backends see the same ones), and the costs, read once
per record (print interval), because on a GPU each read is a synchronisation.

Data layout: ``X`` is kept as rows ``(m, n[0])``; each epoch's permutation is applied
once with ``take``, batches are contiguous row slices, and the math sees ``Xb.T``, a free
view. That is several times faster than slicing columns of an ``(n[0], m)`` array.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from .backend import host_rng
from .errors import NNBackendError
from .metrics import output_accuracy
from .network import Network, backward_propagation, forward_propagation
from .optimizers import decayed_learning_rate, make_optimizer
from .regularization import dropout_masks, l2_cost

Array = Any
Record = dict[str, Any]
#: Called with each history record as it is made (e.g. to print it).
OnRecord = Callable[[Record], None]


@dataclass(frozen=True)
class TrainingOptions:
    """How to train. The defaults are the notes' flower run (lr 1.2, 10000 iterations).

    Attributes
    ----------
    learning_rate : float
        Initial step size ``lr0`` (> 0).
    iterations : int or None
        Number of update steps; the default run length when ``epochs`` is None too.
    epochs : int or None
        Number of passes over the data (the alternative to ``iterations``).
    batch_size : int or None
        Examples per step; None (or >= m) is the notes' full-batch gradient descent.
    optimizer : str
        ``gd``, ``momentum``, ``rmsprop`` or ``adam``.
    beta1, beta2, epsilon : float
        Optimizer hyper-parameters (momentum/Adam ``beta1``, RMSprop/Adam ``beta2``).
    lr_decay : float
        Decay rate: ``lr = lr0 / (1 + lr_decay * floor(epoch / lr_decay_every))``.
    lr_decay_every : int
        1 = inverse-time decay every epoch; N > 1 = step decay every N epochs.
    l2 : float
        L2 strength ``lambda`` (0 = off).
    keep_prob : float
        Inverted-dropout keep probability of hidden units, in ``(0, 1]`` (1 = off).
    print_every : int or None
        Record (and report) every N iterations, or every N epochs with ``epochs``.
        Default: 1000 iterations, or 1 epoch.
    patience : int or None
        Stop when the validation cost has not improved for this many records, and
        restore the best parameters. Needs validation data.
    """

    learning_rate: float = 1.2
    iterations: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str = "gd"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    lr_decay: float = 0.0
    lr_decay_every: int = 1
    l2: float = 0.0
    keep_prob: float = 1.0
    print_every: int | None = None
    patience: int | None = None

    def checked(self, has_validation: bool) -> TrainingOptions:
        """Return the options with defaults filled in, or raise a one-line error."""
        if self.iterations is not None and self.epochs is not None:
            raise NNBackendError("give --iterations or --epochs, not both")
        if not self.learning_rate > 0:
            raise NNBackendError(f"the learning rate must be positive, got {self.learning_rate}")
        for name in ("iterations", "epochs", "batch_size", "print_every", "patience"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise NNBackendError(f"{name.replace('_', '-')} must be >= 1, got {value}")
        if not 0.0 < self.keep_prob <= 1.0:
            raise NNBackendError(f"keep-prob must be in (0, 1], got {self.keep_prob}")
        if self.l2 < 0 or self.lr_decay < 0 or self.lr_decay_every < 1:
            raise NNBackendError("l2 and lr-decay must be >= 0 and lr-decay-every >= 1")
        if self.patience is not None and not has_validation:
            raise NNBackendError(
                "--patience needs validation data; add --validation-fraction (e.g. 0.2)"
            )
        make_optimizer(self.optimizer, self.beta1, self.beta2, self.epsilon)  # validates
        iterations = self.iterations
        if iterations is None and self.epochs is None:
            iterations = 10000
        every = self.print_every or (1000 if self.epochs is None else 1)
        return replace(self, iterations=iterations, print_every=every,
                       learning_rate=float(self.learning_rate))


@dataclass
class TrainingResult:
    """What a run did.

    Attributes
    ----------
    history : list of dict
        One record per evaluation: ``iteration`` (or ``epoch``), ``cost``, ``accuracy``
        (classifiers), ``val_cost``/``val_accuracy`` (with validation data) and ``time``
        (seconds since the start).
    steps : int
        Update steps taken.
    epochs : int
        Completed passes over the data.
    stop_reason : str
        Why the run ended, in one sentence.
    best : dict or None
        The record whose parameters were restored by early stopping.
    """

    history: list[Record]
    steps: int
    epochs: int
    stop_reason: str
    best: Record | None = None


@dataclass
class _EarlyStopping:
    """Tracks the best validation cost and the parameters that reached it."""

    patience: int | None
    best_cost: float = float("inf")
    best_params: dict[str, Array] | None = None
    best_record: Record | None = None
    bad_records: int = field(default=0)

    def update(self, record: Record, params: dict[str, Array]) -> bool:
        """Note a record; True when patience has run out."""
        if "val_cost" not in record:
            return False
        if record["val_cost"] < self.best_cost:
            # Updates build new arrays, so keeping the reference keeps these values.
            self.best_cost, self.best_params, self.best_record = (
                record["val_cost"], params, record)
            self.bad_records = 0
            return False
        self.bad_records += 1
        return self.patience is not None and self.bad_records >= self.patience


def evaluate(network: Network, params: dict[str, Array], X: Array, Y: Array, l2: float,
             cache: Any = None) -> tuple[float, float | None]:
    """Cost (with the L2 term) and accuracy of ``params`` on ``(X, Y)``, read to the host.

    ``cache`` may be a dropout-free forward pass of exactly these params and data, to
    avoid computing it twice (the full-batch case).
    """
    backend, xp = network.backend, network.backend.xp
    if cache is None:
        cache = forward_propagation(params, X.T, network.hidden, network.output, xp)
    J = network.output.cost(xp, cache.Z[-1], Y)
    if l2:
        J = J + l2_cost(xp, params, l2, Y.shape[1])
    acc = output_accuracy(network.output.task, cache.A[-1], Y, xp)
    return backend.to_float(J), None if acc is None else backend.to_float(acc)


def train(
    network: Network,
    X: Array,
    Y: Array,
    options: TrainingOptions | None = None,
    rng: Any = None,
    validation: tuple[Array, Array] | None = None,
    on_record: OnRecord | None = None,
) -> TrainingResult:
    """Train ``network`` in place.

    Parameters
    ----------
    network : Network
        Its parameters are replaced by the trained (or, after early stopping, the best).
    X : array, shape (m, n[0])
        Training examples as rows, on the network's device and in its dtype.
    Y : array, shape (n[L], m)
        Encoded targets (:func:`nnbackend.data.encode_targets`), same device and dtype.
    options : TrainingOptions, optional
        Defaults to the notes' full-batch gradient descent (lr 1.2, 10000 iterations).
    rng : numpy.random.RandomState, optional
        The run's host generator, for shuffles and dropout masks (default: seed 0). Pass
        the one that initialised the network to continue the notes' single stream.
    validation : (X_val, Y_val), optional
        Held-out data, evaluated at every record.
    on_record : callable, optional
        Called with each history record.
    """
    opts = (options or TrainingOptions()).checked(validation is not None)
    if X.shape[0] != Y.shape[1]:
        raise NNBackendError(f"X has {X.shape[0]} examples but Y has {Y.shape[1]}")
    generator = host_rng(0) if rng is None else rng
    backend, xp = network.backend, network.backend.xp
    hidden, output, sizes = network.hidden, network.output, network.layer_sizes
    optimizer = make_optimizer(opts.optimizer, opts.beta1, opts.beta2, opts.epsilon)
    m = X.shape[0]
    batch = m if opts.batch_size is None else min(opts.batch_size, m)
    per_epoch = -(-m // batch)
    by_epoch = opts.epochs is not None
    total_steps = opts.epochs * per_epoch if opts.epochs is not None else opts.iterations
    assert total_steps is not None and opts.print_every is not None
    every, l2, keep_prob = opts.print_every, opts.l2, opts.keep_prob

    params, state = network.params, optimizer.init(network.params, xp)
    history: list[Record] = []
    stopper = _EarlyStopping(opts.patience)
    started = time.perf_counter()

    def record(unit: str, count: int, cache: Any = None) -> bool:
        cost, acc = evaluate(network, params, X, Y, l2, cache)
        entry: Record = {unit: count, "cost": cost}
        if acc is not None:
            entry["accuracy"] = acc
        if validation is not None:
            val_cost, val_acc = evaluate(network, params, *validation, l2)
            entry["val_cost"] = val_cost
            if val_acc is not None:
                entry["val_accuracy"] = val_acc
        entry["time"] = time.perf_counter() - started
        history.append(entry)
        if on_record is not None:
            on_record(entry)
        return stopper.update(entry, params)

    step = epoch = 0
    stop = False
    while step < total_steps and not stop:
        if batch == m:
            Xe, Ye = X, Y  # full batch: no shuffle, no draw (the notes' loop)
        else:
            order = backend.asarray(generator.permutation(m), dtype="int64")
            Xe, Ye = xp.take(X, order, axis=0), xp.take(Y, order, axis=1)
        lr = decayed_learning_rate(opts.learning_rate, opts.lr_decay, epoch, opts.lr_decay_every)
        for start in range(0, m, batch):
            if step == total_steps:
                break
            # Clip the stop: out-of-bounds slice ends are not in the standard.
            stop_row = min(start + batch, m)
            Xb, Yb = (Xe, Ye) if batch == m else (Xe[start:stop_row, :], Ye[:, start:stop_row])
            masks = (None if keep_prob == 1.0 else
                     dropout_masks(generator, sizes, Xb.shape[0], keep_prob, backend))
            cache = forward_propagation(params, Xb.T, hidden, output, xp, masks)
            if not by_epoch and step % every == 0:
                # The cost of this iteration, before its update, as the notes print it.
                reusable = cache if batch == m and masks is None else None
                if record("iteration", step, reusable):
                    stop = True
                    break
            grads = backward_propagation(params, cache, Yb, hidden, xp, l2)
            params, state = optimizer.step(params, grads, state, lr, xp)
            step += 1
        else:
            epoch += 1
            if by_epoch and (epoch % every == 0 or step == total_steps):
                stop = record("epoch", epoch)

    if stop and stopper.best_params is not None:
        best = stopper.best_record
        assert best is not None
        params = stopper.best_params
        where = f"epoch {best['epoch']}" if by_epoch else f"iteration {best['iteration']}"
        reason = (f"early stopping: validation cost did not improve for {opts.patience} "
                  f"evaluations; restored the parameters of {where} "
                  f"(validation cost {best['val_cost']:.6f})")
    else:
        best = None
        reason = (f"completed {opts.epochs} epochs ({step} steps)" if by_epoch
                  else f"completed {step} iterations")
    network.params = params
    return TrainingResult(history, step, epoch, reason, best)


def gradient_descent(
    network: Network,
    X: Array,
    Y: Array,
    learning_rate: float = 1.2,
    iterations: int = 10000,
    print_every: int = 1000,
    on_record: Callable[[int, float], None] | None = None,
) -> list[dict[str, float]]:
    """The notes' ``nn_model`` loop: full-batch gradient descent, in place.

    A thin front to :func:`train`. Returns ``[{"iteration": i, "cost": c}, ...]`` for
    ``i = 0, print_every, ...``; ``on_record(i, c)`` is called at each of them.
    """
    def report(entry: Record) -> None:
        if on_record is not None:
            on_record(entry["iteration"], entry["cost"])

    result = train(network, X, Y, TrainingOptions(learning_rate, iterations,
                                                  print_every=print_every), on_record=report)
    return [{"iteration": r["iteration"], "cost": r["cost"]} for r in result.history]


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
