"""The training loop: (mini-)batch gradient descent with the notes' equations.

One loop serves every configuration: draw a batch, run :func:`nnbackend.training.step.
train_step` on it (eagerly, or replayed as a CUDA graph), call the callbacks, record at the
print interval. With the defaults it is exactly the notes' full-batch gradient descent: no
shuffling, no random draws, the cost of iteration ``i`` taken before its update.
Mini-batches, optimizers, L2, dropout, learning-rate decay and early stopping are options
of the same loop.

What stays on the device: data (unless it is kept on the host and streamed, see
:mod:`nnbackend.training.streaming`), parameters, optimizer state, every intermediate. What
crosses to the host: the epoch's permutation and dropout masks (drawn on the host from
the run's seeded generator, so all backends see the same ones), and the costs, read once
per record (print interval), because on a GPU each read is a synchronisation.

What a record's ``cost`` is: in iteration mode (the notes'), the cost on the whole
training set of that iteration's parameters, before its update. In epoch mode, as in the
course's mini-batch ``model()`` and in Keras, the mean of the epoch's batch costs, each
taken from the forward pass the step already made (so under dropout, with its masks),
plus the L2 term of the parameters at the epoch's end. That costs a few small device
operations per batch, in recorded epochs only, instead of another pass over all the data:
on the benchmark's wide workload that pass was 14% of the training time.

Data layout: ``X`` is kept as rows ``(m, n[0])``; each batch gathers its rows with
``take`` from a contiguous slice of the epoch's permutation (one small copy per batch, no
permuted copy of the whole set), and the math sees ``Xb.T``, a free view. That is several
times faster than slicing columns of an ``(n[0], m)`` array.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import numpy as np

from .._text import count
from ..core.backend import host_rng
from ..core.host_memory import keep_step_memory
from ..core.network import Network
from ..core.optimizers import donation_updates
from ..errors import NNBackendError, SettingError, literal
from .callbacks import Callback
from .divergence import check_final_parameters
from .evaluation import BatchTotals, _averaged, evaluate  # noqa: F401 -- evaluate: re-exported
from .models import OneModel
from .runners import Runner, step_runner
from .settings import SETTINGS, TRAINING_SETTINGS, check, check_all, check_requirements, default
from .step import Batch, StepSpec, train_step
from .streaming import BatchStream

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
        Default: 1000 iterations, or 1 epoch. See the module docstring for what a
        record's cost is in each mode.
    patience : int or None
        Stop when the validation cost has not improved for this many records, and
        restore the best parameters. Needs validation data.
    """

    # The defaults, ranges and help texts live in the settings table (settings.py).
    learning_rate: float = default("learning_rate")
    iterations: int | None = default("iterations")
    epochs: int | None = default("epochs")
    batch_size: int | None = default("batch_size")
    optimizer: str = default("optimizer")
    beta1: float = default("beta1")
    beta2: float = default("beta2")
    epsilon: float = default("epsilon")
    lr_decay: float = default("lr_decay")
    lr_decay_every: int = default("lr_decay_every")
    l2: float = default("l2")
    keep_prob: float = default("keep_prob")
    print_every: int | None = default("print_every")
    patience: int | None = default("patience")

    def checked(self, has_validation: bool) -> TrainingOptions:
        """Return the options checked against the settings table, with the run length and
        record interval filled in, or raise a one-line :class:`SettingError`."""
        values = check_all({name: getattr(self, name) for name in TRAINING_SETTINGS})
        if values["iterations"] is not None and values["epochs"] is not None:
            raise SettingError("give {iterations} or {epochs}, not both")
        # The table's requirement, met by validation data however it came (a fraction, arrays).
        check_requirements({"patience": values["patience"],
                            "validation_fraction": True if has_validation else None})
        if values["iterations"] is None and values["epochs"] is None:
            values["iterations"] = DEFAULT_ITERATIONS
        values["print_every"] = values["print_every"] or (
            DEFAULT_RECORD_ITERATIONS if values["epochs"] is None else 1)
        return replace(self, **values)


#: The notes' run length and print interval (iterations), used when none is given.
DEFAULT_ITERATIONS = 10000
DEFAULT_RECORD_ITERATIONS = 1000


@dataclass
class TrainingResult:
    """What a run did.

    Attributes
    ----------
    history : list of dict
        One record per evaluation: ``iteration`` (or ``epoch``), ``cost``, ``accuracy``
        (classifiers; per epoch, both are means over the epoch's batches),
        ``val_cost``/``val_accuracy`` (with validation data) and ``time`` (seconds since
        the start).
    steps : int
        Update steps taken.
    epochs : int
        Completed passes over the data.
    stop_reason : str
        Why the run ended, in one sentence.
    best : dict or None
        The record whose parameters were restored by early stopping.
    stopped_by : str
        ``completed``, ``interrupted`` (a signal), ``early_stopping``, ``diverged`` (a
        non-finite cost), or the word of a callback that asked the run to stop.
    """

    history: list[Record]
    steps: int
    epochs: int
    stop_reason: str
    best: Record | None = None
    stopped_by: str = "completed"


@dataclass
class TrainingState:
    """Everything the loop changes, so that a run can be checkpointed and resumed.

    Attributes
    ----------
    params, optimizer_state : dict
        Device arrays (and the optimizer's step count ``t``).
    step : int
        Update steps taken.
    epoch : int
        Completed passes over the data.
    batch_start : int
        First row of the next batch within the current epoch (0 at an epoch boundary).
    order : ndarray or None
        The current epoch's host permutation (None for full-batch runs).
    history : list of dict
        Records so far.
    epoch_totals : BatchTotals
        The current epoch's batch costs and accuracies so far, summed on the device (epoch
        mode, in epochs that end with a record).
    best_cost, best_params, best_record, bad_records
        Early-stopping bookkeeping: the best validation cost, the parameters and record
        that reached it, and how many records since then did not improve on it.
    elapsed : float
        Seconds of training before this process (for resumed runs).
    """

    params: dict[str, Array]
    optimizer_state: dict[str, Any]
    step: int = 0
    epoch: int = 0
    batch_start: int = 0
    order: Any = None
    history: list[Record] = field(default_factory=list)
    epoch_totals: BatchTotals = field(default_factory=BatchTotals)
    best_cost: float = float("inf")
    best_params: dict[str, Array] | None = None
    best_record: Record | None = None
    bad_records: int = 0
    elapsed: float = 0.0


class Trainer:
    """Runs the training loop over a :class:`TrainingState` that can be saved and resumed.

    Parameters
    ----------
    network : Network
        Its parameters are replaced by the trained (or, after early stopping, the best).
    X : array, shape (m, n[0])
        Training examples as rows, on the network's device and in its dtype.
    Y : array, shape (n[L], m)
        Encoded targets (:func:`nnbackend.data.encoding.encode_targets`), same device and dtype.
    options : TrainingOptions, optional
        Defaults to the notes' full-batch gradient descent (lr 1.2, 10000 iterations).
    rng : numpy.random.RandomState, optional
        The run's host generator, for shuffles and dropout masks (default: seed 0). Pass
        the one that initialised the network to continue the notes' single stream.
    validation : (X_val, Y_val), optional
        Held-out data, evaluated at every record.
    on_record : callable, optional
        Called with each history record.
    on_step : callable, optional
        Called with the trainer after each completed step (e.g. to write a checkpoint
        every N steps); keep it cheap. Later steps update the state's arrays in place
        (see ``Optimizer.step``'s donation), so copy what you keep (``Backend.to_host``).
    callbacks : sequence of Callback, optional
        Hooks around the loop (:mod:`nnbackend.training.callbacks`: checkpoints, Ctrl-C,
        a progress bar, ...), called in order after ``on_record``/``on_step``.
    state : TrainingState, optional
        A state to resume from (its ``params`` replace the network's).
    cuda_graph : str
        ``auto`` (default: replay each step as a CUDA graph where the backend can capture
        one, PyTorch on CUDA), ``on`` (an error where it cannot) or ``off``. The results
        are the same either way; see :mod:`nnbackend.training.graphed`. Where the backend
        compiles whole functions (JAX), each step runs compiled instead
        (:mod:`nnbackend.training.compiled`); set ``compiled`` False before :meth:`run`
        for eager steps.
    data_on : str
        ``device`` (default): ``X`` and ``Y`` are device arrays. ``host``: they are host
        NumPy arrays (e.g. a memory-mapped ``.npy``) too large for the device; each batch
        is gathered on the host and copied just ahead of its step
        (:mod:`nnbackend.training.streaming`), with the same results.
    comm : Communicator, optional
        Train data-parallel (:mod:`nnbackend.distributed`): every rank runs this loop
        with the same data, options and seed; each step's batch is split over the ranks
        and their gradients summed, so every rank holds the single-process parameters.
        Only rank 0 calls ``on_record``, ``on_step`` and the callbacks (it alone prints,
        saves and checkpoints), except callbacks whose ``all_ranks`` attribute is true
        (bookkeeping every rank needs). Not with CUDA graphs.
    stack : StackedModels, optional
        Train ``k`` models at once (:mod:`nnbackend.training.stacked`): ``network`` is
        its ``network`` (the stacked parameters), ``options`` the first model's; each
        model draws, steps, records and stops as its own single run; its ``state``
        (resumed) comes with the stack's bookkeeping restored (:mod:`nnbackend.
        persistence.stack_checkpoints`).
    """

    def __init__(self, network: Network, X: Array, Y: Array,
                 options: TrainingOptions | None = None, rng: Any = None,
                 validation: tuple[Array, Array] | None = None,
                 on_record: OnRecord | None = None,
                 on_step: Callable[[Trainer], None] | None = None,
                 state: TrainingState | None = None, cuda_graph: str = "auto",
                 data_on: str = "device", callbacks: Sequence[Callback] = (),
                 comm: Any = None, stack: Any = None) -> None:
        self.options = (options or TrainingOptions()).checked(validation is not None)
        if data_on not in DATA_PLACES:
            raise NNBackendError(f"unknown data place {data_on!r}; choose device or host")
        self.host_data = data_on == "host"
        if self.host_data and not (isinstance(X, np.ndarray) and isinstance(Y, np.ndarray)):
            raise NNBackendError("data kept on the host must be NumPy arrays (a memory-mapped "
                                 ".npy is one); pass them before Backend.asarray")
        if self.host_data and (self.options.batch_size is None
                               or self.options.batch_size >= X.shape[0]):
            raise SettingError("data kept on the host is copied to the device batch by "
                               "batch: give {batch_size} smaller than the data set (or "
                               "{data_on} device)")
        if X.shape[0] != Y.shape[1]:
            raise NNBackendError(f"X has {X.shape[0]} examples but Y has {Y.shape[1]}")
        self.network, self.X, self.Y, self.validation = network, X, Y, validation
        self.rng = host_rng(0) if rng is None else rng
        # One model, or a stack (training/stacked.py): its draws, rates and stops.
        self.models = stack or OneModel(network, self.options, self.rng)
        self.comm = comm
        if comm is not None and comm.rank != 0:  # rank 0 alone reports, saves, checkpoints
            on_record = on_step = None
            callbacks = [c for c in callbacks if getattr(c, "all_ranks", False)]
        self.on_record, self.on_step = on_record, on_step
        # Early stopping (and the best parameters a checkpoint keeps) runs as a callback,
        # first, so that the others see the restored parameters at the end; on every rank.
        self.callbacks = ([self.models.stopping(self.options.patience)]
                          if validation is not None or stack else []) + list(callbacks)
        opts = self.options
        self.optimizer = self.models.optimizer()
        self.m = X.shape[0]
        self.batch = self.m if opts.batch_size is None else min(opts.batch_size, self.m)
        self.by_epoch = opts.epochs is not None
        per_epoch = -(-self.m // self.batch)
        total = opts.epochs * per_epoch if opts.epochs is not None else opts.iterations
        assert total is not None
        self.total_steps = total
        self.state = state or TrainingState(
            network.params, self.optimizer.init(network.params, xp=network.backend.xp))
        if comm is not None and cuda_graph == "on":
            raise SettingError("CUDA graphs do not run data-parallel yet; use {cuda_graph} "
                               "auto or off with a communicator")
        self.use_graphs = comm is None and use_cuda_graphs(cuda_graph, network.backend)
        # Each step compiled whole where the backend compiles (JAX; False: eager steps).
        self.compiled = comm is None and network.backend.compiles
        self._stop: tuple[str, str | None] | None = None  # (kind, reason) once requested
        self._clock = time.perf_counter()

    def request_stop(self, kind: str = "interrupted", reason: str | None = None,
                     override: bool = False) -> None:
        """Stop cleanly after the current step, or before it when asked from a record.

        Parameters
        ----------
        kind : str
            ``interrupted`` (a signal: the default), ``early_stopping``, ``diverged``, or a
            callback's own word; :attr:`TrainingResult.stopped_by` reports it.
        reason : str, optional
            The sentence for :attr:`TrainingResult.stop_reason` (default: one naming the
            kind and the steps done). The first request wins, unless ``override``
            (a divergence found at the end replaces an earlier stop of another kind).
        """
        if self._stop is None or (override and self._stop[0] != kind):
            self._stop = (kind, reason)

    def parameters_finite(self) -> bool:
        """Whether every parameter is finite (:func:`~nnbackend.training.divergence.
        parameters_finite`: a GPU sync, so for checkpoints and the end, not every step)."""
        return self.models.parameters_finite(self)

    def restore(self, params: dict[str, Array]) -> None:
        """Make ``params`` the run's parameters (e.g. the best ones, after early stopping)."""
        self.state.params = params
        self.network.params = params

    def _record(self, unit: str, count: int, totals: BatchTotals | None = None) -> bool:
        """Evaluate, append a history record, report it; True when the run must stop
        (divergence, or a callback asked: early stopping, Ctrl-C).

        ``totals``: report the mean over these batches (epoch mode) instead of evaluating
        the training set, when they cover the whole epoch (they do not after resuming from
        a checkpoint written before checkpoints carried them).
        """
        st, l2 = self.state, self.models.l2
        # Data-parallel: each rank evaluates its share of the rows and the sums are reduced.
        evaluate_on = (self.models.evaluate if self.comm is None else  # a stack's masks too
                       partial(self.comm.evaluate, masks=self.models.fixed_masks))
        if totals is not None and totals.examples == self.m:
            cost, acc = _averaged(self.network, st.params, totals, l2, self.m)
        else:  # iteration mode, or an epoch resumed from a checkpoint without its sums
            cost, acc = evaluate_on(self.network, st.params, self.X, self.Y, l2,
                                    host=self.host_data)
        entry: Record = {unit: count, "cost": cost}
        if acc is not None:
            entry["accuracy"] = acc
        if self.validation is not None:
            val_cost, val_acc = evaluate_on(self.network, st.params, *self.validation, l2)
            entry["val_cost"] = val_cost
            if val_acc is not None:
                entry["val_accuracy"] = val_acc
        entry["time"] = st.elapsed + time.perf_counter() - self._clock
        st.history.append(entry)
        diverged = self.models.divergence(cost, unit, count)  # on the host: no extra sync
        if diverged:
            self.request_stop("diverged", diverged)
        if self.on_record is not None:
            self.on_record(entry)
        for callback in self.callbacks:
            callback.on_record(self, entry)
        return self._stop is not None

    def _epoch_order(self) -> Array | None:
        """The current epoch's (seeded) permutation, copied to the device once per epoch
        (kept on the host, in ``state.order``, when the data is)."""
        st = self.state
        if st.batch_start == 0 or st.order is None:
            st.order = self.models.permutation(self.m)
        return None if self.host_data else self.network.backend.asarray(st.order,
                                                                         dtype="int64")

    def run(self) -> TrainingResult:
        """Train until the step budget is spent, patience runs out or a stop is requested.

        The loop draws a batch, runs :func:`nnbackend.training.step.train_step` on it (eagerly, or
        replayed as a CUDA graph), and records at the print interval.
        """
        net, st = self.network, self.state
        if net.backend.on_host:
            # Every step frees and re-allocates the same host arrays: let glibc keep that
            # memory rather than hand it back and fault it in again (core/host_memory.py).
            keep_step_memory()
        self._clock = time.perf_counter()
        spec = self.models.step_spec(self.optimizer)  # a stack's may run in blocks
        result: TrainingResult | None = None
        begun: list[Callback] = []  # those whose on_begin ran get their on_end
        stream: BatchStream | None = None
        try:
            for callback in self.callbacks:
                callback.on_begin(self)
                begun.append(callback)
            try:
                if self.host_data and self.comm is None:  # ranks gather their own rows
                    stream = BatchStream(self.X, self.Y, net.backend, self.batch,
                                         self.models.k)
                # A diverging NumPy run would flood stderr with overflow warnings; the loop
                # detects divergence itself, at the records.
                with net.backend.compute_mode(), np.errstate(over="ignore", invalid="ignore",
                                                             divide="ignore"):
                    # A CUDA graph, a compiled step, data-parallel steps or None (eager).
                    self._loop(spec, step_runner(self, spec), stream)
            finally:
                if stream is not None:
                    stream.close()
            st.elapsed += time.perf_counter() - self._clock
            check_final_parameters(self)  # a divergence after the last record, too
            result = self._finish()
        finally:
            for callback in begun:
                callback.on_end(self, result)
        return result

    def _loop(self, spec: StepSpec, graphed: Runner | None,
              stream: BatchStream | None) -> None:
        """The two nested loops (epochs, batches), until the budget is spent or a stop is
        requested."""
        net, st, opts = self.network, self.state, self.options
        backend, xp = net.backend, net.backend.xp
        m, batch, total, by_epoch = self.m, self.batch, self.total_steps, self.by_epoch
        every, models = opts.print_every, self.models
        # Fixed for the run, read once (each attribute read costs on the flower's step).
        dropout, fixed, constant_lr = models.dropout, models.fixed_masks, models.constant_rate
        assert every is not None
        full_batch = batch == m
        # Columns of ones for db = dZ @ ones (see backward_propagation), one per batch size
        # (the last batch of an epoch may be smaller), made once and reused.
        ones: dict[int, Array] = {}
        whole: Batch | None = None  # full batch without dropout: one Batch for the run
        owned_params = owned_state = None  # what this loop's last step returned
        updates = donation_updates(backend.mutable_arrays, backend.update_block_bytes)
        order = None  # full batch: no shuffle, no draw (the notes')
        stop = False
        while st.step < total and not stop:
            if not full_batch:
                order = self._epoch_order()
            if stream is not None:
                stream.epoch(None if full_batch else st.order, st.batch_start)
            lr = constant_lr if constant_lr is not None else models.learning_rate(st.epoch)
            # Sum batch costs only in epochs that end with a record (epoch mode).
            totals = st.epoch_totals if by_epoch and (
                (st.epoch + 1) % every == 0 or st.epoch + 1 == opts.epochs) else None
            while st.batch_start < m and st.step < total:
                if not by_epoch and st.step % every == 0:
                    # The cost of this iteration, before its update, as the notes print it.
                    if self._record("iteration", st.step):
                        stop = True
                        break
                    lr = models.learning_rate(st.epoch)  # a stack may have frozen models
                start = st.batch_start
                # Clip the stop: out-of-bounds slice ends are not in the standard.
                end = min(start + batch, m)
                size = end - start
                rows = None if order is None else order[..., start:end]  # a stack's: (k, b)
                masks = models.masks(size) if dropout else fixed
                streamed = None if stream is None else stream.next()
                if graphed is not None:
                    stats = graphed.step(None if streamed else rows, masks, lr,
                                         totals is not None, batch=streamed)
                    st.params, st.optimizer_state = graphed.params, graphed.opt_state
                else:
                    if rows is None and streamed is None and not dropout:
                        # Full-batch gradient descent: the same Batch every step.
                        if whole is None:
                            whole = Batch(self.X, self.Y, masks, xp.ones_like(self.X[:, :1]))
                        step_batch = whole
                    else:
                        if streamed is not None:
                            Xb, Yb = streamed
                        elif rows is None:
                            Xb, Yb = self.X, self.Y
                        else:
                            # Gather this batch's rows: a (batch, n[0]) copy, never a
                            # permuted copy of the whole data set (which would double the
                            # memory).
                            Xb, Yb = models.gather(self.X, self.Y, rows)
                        if size not in ones:
                            ones[size] = models.ones(Xb)
                        step_batch = Batch(Xb, Yb, masks, ones[size])
                    # Donate (update in place) only arrays this loop's own previous step
                    # made and nothing else refers to: never the caller's initial or
                    # resumed arrays, never the parameters early stopping keeps as the best.
                    update = updates[st.params is owned_params
                                     and st.params is not st.best_params,
                                     st.optimizer_state is owned_state]
                    st.params, st.optimizer_state, stats = train_step(
                        st.params, st.optimizer_state, step_batch, lr, spec,
                        with_stats=totals is not None, update=update, xp=xp)
                    owned_params, owned_state = st.params, st.optimizer_state
                if stream is not None:
                    stream.done()
                if totals is not None and stats is not None:
                    totals.add_stats(stats, size)
                st.step += 1
                st.batch_start = end
                if end == m:
                    st.epoch += 1
                    st.batch_start = 0
                    if totals is not None:
                        stop = self._record("epoch", st.epoch, totals=totals)
                        st.epoch_totals = BatchTotals()
                    for callback in self.callbacks:
                        callback.on_epoch_end(self)
                if self.on_step is not None:
                    self.on_step(self)
                for callback in self.callbacks:
                    callback.on_step(self)
                if stop or self._stop is not None:
                    stop = True
                    break
                if st.batch_start == 0:
                    break  # epoch done: the outer loop draws the next permutation

    def _finish(self) -> TrainingResult:
        """Hand the caller ordinary arrays; say why the run ended."""
        st, net = self.state, self.network
        done = (f"{count(st.epoch, 'epoch')} ({count(st.step, 'step')})" if self.by_epoch
                else count(st.step, "iteration"))
        kind, reason = self._stop or ("completed", None)
        if reason is None:
            reason = f"completed {done}" if kind == "completed" else f"{kind} after {done}"
        if net.backend.compute_mode is not contextlib.nullcontext:
            # Arrays made inside the compute mode (PyTorch's inference tensors) refuse
            # in-place updates outside it: hand the caller ordinary copies.
            xp = net.backend.xp

            def ordinary(arrays: dict[str, Any]) -> dict[str, Any]:
                return {name: value if name == "t" else xp.asarray(value, copy=True)
                        for name, value in arrays.items()}

            st.params, st.optimizer_state = ordinary(st.params), ordinary(st.optimizer_state)
            if st.best_params is not None:
                st.best_params = ordinary(st.best_params)
        net.params = st.params
        return TrainingResult(st.history, st.step, st.epoch, reason, stopped_by=kind)


CUDA_GRAPH_MODES = SETTINGS["cuda_graph"].choices
DATA_PLACES = ("device", "host")


def use_cuda_graphs(mode: str, backend: Any) -> bool:
    """Whether steps run as CUDA graphs: ``mode`` (auto, on, off) on ``backend``.

    Raises
    ------
    NNBackendError
        For an unknown mode, or ``on`` where the backend cannot capture graphs.
    """
    mode = check("cuda_graph", mode)
    if mode == "on" and backend.graph_capture is None:
        raise SettingError(f"{{cuda_graph}} on cannot run on {literal(backend.describe())}: "
                           f"{literal(backend.graph_unavailable)}; or use {{cuda_graph}} auto")
    return mode != "off" and backend.graph_capture is not None


def train(
    network: Network,
    X: Array,
    Y: Array,
    options: TrainingOptions | None = None,
    rng: Any = None,
    validation: tuple[Array, Array] | None = None,
    on_record: OnRecord | None = None,
    cuda_graph: str = "auto",
    data_on: str = "device",
    comm: Any = None,
) -> TrainingResult:
    """Train ``network`` in place (see :class:`Trainer` for the parameters)."""
    return Trainer(network, X, Y, options, rng, validation, on_record,
                   cuda_graph=cuda_graph, data_on=data_on, comm=comm).run()


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
