"""Where a sweep's stacks train: one after another, or several at once on worker threads.

The stacks of a sweep are independent: each has its own parameters and its own seeded
generators, so training two of them at once changes no number. On a CPU that can pay,
because NumPy's matrix products and element-wise functions release the GIL while they
work: a stack of models with hundreds of hidden units is mostly ``tanh`` and products.
What stays serial is the ~40 Python calls of every step (the cost model's ``overhead``),
so :func:`choose_workers` estimates

    threaded ~ max(sum of the stacks' overheads, the longest stack, total / workers)

and uses threads only where that is at most :data:`WORTH` of the sequential total, where
no stack's serial calls are more than :data:`MAX_SERIAL_SHARE` of its estimated time, on
the NumPy and array-api-strict backends (PyTorch's own thread pool already uses every
core; a GPU runs one stack's kernels at a time), and only as many as the largest stacks
together fit the free memory. :func:`run_stacks` starts the stacks in order (the sweep
orders them longest first), limits the BLAS pools so that the threads do not
oversubscribe the cores, and stops every stack after its current step when one fails
(or Ctrl-C reaches the main thread).

What a stack reports (its records, its progress bar) goes through :class:`InOrder`, so
that the output is the sequential run's, stack by stack, whatever order they finish in:
the first stack's lines come out as they are made, the others' once it has finished.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, wait

from ..core.backend import Backend
from ..errors import SettingError, literal
from ..training.callbacks import Callback
from ..training.grouping import CPU, GPU, padded, step_cost
from ..training.memory import free_bytes, stack_bytes
from ..training.trainer import DEFAULT_ITERATIONS, Trainer, TrainingOptions

#: Backends whose stacks train on worker threads by default (their work runs in NumPy,
#: which releases the GIL).
AUTO_BACKENDS = ("numpy", "array-api-strict")
#: Seconds between the main thread's checks for signals while the stacks train.
WAKE = 0.1
#: Threads are used by default only when they are estimated to take at most this share of
#: the sequential time (the estimate ignores the GIL's hand-overs).
WORTH = 0.8
#: Threads are used by default only when every stack's serial calls are at most this share
#: of its estimated time. NumPy keeps the GIL through operations on arrays of at most 500
#: elements, so a stack of narrow models holds it nearly all the time, and a thread
#: waiting for it waits up to Python's switch interval (5 ms) after each of its own
#: operations. Measured on a 2-core machine (float64, flower data): the course's study
#: (stacks of 1-5, 20 and 50 units; estimated shares 0.18 to 0.35) took 1.5x the
#: sequential time on two threads; stacks of 200 and 300 units (shares 0.05 and 0.03)
#: took 0.73-0.9x.
MAX_SERIAL_SHARE = 0.08


def estimate(sizes: Sequence[Sequence[int]], options: TrainingOptions, m: int,
             backend: Backend) -> tuple[float, float, int]:
    """A stack's estimated run: its time and its serial part (us) and its memory (bytes).

    Parameters
    ----------
    sizes : sequence of sequences of int
        Each model's ``(n[0], ..., n[L])``.
    options : TrainingOptions
        The stack's shared run length and batch size.
    m : int
        Training examples.
    backend : Backend
        Picks the cost model's constants (CPU or GPU) and the dtype's bytes.
    """
    batch = min(options.batch_size or m, m)
    steps = (options.iterations or DEFAULT_ITERATIONS if options.epochs is None
             else options.epochs * -(-m // batch))
    costs = CPU if backend.on_host else GPU
    width = padded(sizes)
    return (steps * step_cost(width, len(sizes), batch, costs), steps * costs.overhead,
            stack_bytes(width, len(sizes), m, options, backend))


def check_workers(requested: object, backend: Backend) -> None:
    """Refuse, in one line, a ``workers`` that is not None or an integer >= 1, or above 1
    on a GPU (a GPU trains one stack's kernels at a time)."""
    if requested is None:
        return
    if isinstance(requested, bool) or not isinstance(requested, int) or requested < 1:
        raise SettingError(f"{{workers}} must be an integer >= 1, got {requested!r}")
    if requested > 1 and not backend.on_host:
        raise SettingError(f"{{workers}} {requested}: stacks train at once on CPU threads "
                           f"only, and {literal(backend.describe())} trains one stack at a "
                           "time; leave {workers} out")


def choose_workers(requested: int | None, backend: Backend, costs: Sequence[float],
                   serial: Sequence[float], sizes: Sequence[int], share: int = 1,
                   cpus: int | None = None) -> int:
    """How many stacks train at once.

    Parameters
    ----------
    requested : int or None
        The user's ``workers`` (1: one after another); None decides (see the module
        docstring).
    backend : Backend
        Threads run on CPU backends only.
    costs, serial, sizes : sequences
        Each stack's :func:`estimate`: time, serial part and bytes.
    share : int
        Processes sharing this machine's cores and memory (MPI ranks).
    cpus : int, optional
        The cores (default: :func:`cores`).

    The user's value is checked by :func:`check_workers` first.
    """
    cores_here = max(1, (cpus or cores()) // share)
    workers = min(len(costs), cores_here if requested is None else requested)
    if requested is None and (backend.name not in AUTO_BACKENDS or workers < 2
                              or max(s / c for s, c in zip(serial, costs, strict=True))
                              > MAX_SERIAL_SHARE
                              or threaded(costs, serial, workers) > WORTH * sum(costs)):
        return 1
    free = free_bytes(backend)
    largest = sorted(sizes, reverse=True)
    while workers > 1 and free is not None and sum(largest[:workers]) > free // share:
        workers -= 1  # the stacks running at once must fit together
    return max(1, workers)


def cores() -> int:
    """The cores this process may run on (its CPU affinity where the system says)."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count() or 1


def threaded(costs: Sequence[float], serial: Sequence[float], workers: int) -> float:
    """The estimated time of the stacks on ``workers`` threads (module docstring)."""
    return max(sum(serial), max(costs), sum(costs) / workers)


class InOrder:
    """Output of stacks trained at once, in the order they would run one after another.

    The earliest unfinished stack (in ``indices``' order) is *live*: what it says goes
    out at once. The others' lines are held until every stack before them has finished,
    and their progress bars are not drawn (they would fight over one terminal line).
    Everything goes out under one lock, so lines never interleave.

    Parameters
    ----------
    indices : sequence of int
        The stacks, in the order their output appears.
    """

    def __init__(self, indices: Sequence[int]) -> None:
        self._order = list(indices)
        self._head = 0
        self._held: dict[int, list[Callable[[], None]]] = {i: [] for i in self._order}
        self._done: set[int] = set()
        self._lock = threading.Lock()

    def _live(self, index: int) -> bool:
        return self._head < len(self._order) and self._order[self._head] == index

    def say(self, index: int, fn: Callable[[], None]) -> None:
        """Call ``fn`` now if stack ``index`` is live, else when it becomes live."""
        with self._lock:
            if self._live(index):
                fn()
            else:
                self._held[index].append(fn)

    def draw(self, index: int, fn: Callable[[], None]) -> None:
        """Call ``fn`` now if stack ``index`` is live; else drop it (a redraw)."""
        with self._lock:
            if self._live(index):
                fn()

    def finished(self, index: int) -> None:
        """Stack ``index`` is done: the next live stack's held lines go out."""
        with self._lock:
            self._done.add(index)
            while self._head < len(self._order):
                current = self._order[self._head]
                held, self._held[current] = self._held[current], []
                for fn in held:
                    fn()
                if current not in self._done:
                    break
                self._head += 1


class StopWhenSet(Callback):
    """Stops a stack after its current step once ``event`` is set (another stack failed,
    or the main thread was interrupted)."""

    def __init__(self, event: threading.Event) -> None:
        self.event = event

    def on_step(self, trainer: Trainer) -> None:
        if self.event.is_set():
            trainer.request_stop()


#: ``train(index, stop)``: train stack ``index``; ``stop`` is None (one stack after another,
#: nothing to watch) or an Event to hand to :class:`StopWhenSet`.
TrainOne = Callable[[int, "threading.Event | None"], None]


def run_stacks(indices: Sequence[int], workers: int, train: TrainOne, order: InOrder,
               cpus: int | None = None, stop: threading.Event | None = None) -> None:
    """Train the stacks ``indices``, ``workers`` at a time, started in that order (the
    sweep gives the longest first).

    With one worker they run in order on this thread. Otherwise the first error (in
    ``indices``' order, of those that ran) is raised once every thread has stopped, and
    :meth:`InOrder.finished` is called for each stack however it ended. ``stop``: the
    sweep's own stop (a signal handler sets it): every stack under way watches it, and
    no stack starts once it is set; an error sets it too.
    """
    if workers == 1:
        for index in indices:
            try:
                if stop is None or not stop.is_set():
                    train(index, stop)
            finally:
                order.finished(index)
        return
    stop = threading.Event() if stop is None else stop
    errors: dict[int, BaseException] = {}

    def one(index: int) -> None:
        try:
            if not stop.is_set():
                train(index, stop)
        except BaseException as error:  # raised below, on the calling thread
            errors[index] = error
            stop.set()
        finally:
            order.finished(index)

    with blas_threads(max(1, (cpus or cores()) // workers)), \
            ThreadPoolExecutor(workers, thread_name_prefix="nnbackend-stack") as pool:
        try:
            futures = [pool.submit(one, index) for index in indices]
            # In short waits: a signal the kernel hands to a worker thread runs its Python
            # handler (Ctrl-C's KeyboardInterrupt) only once this thread wakes up.
            while wait(futures, timeout=WAKE).not_done:
                pass
        except BaseException:  # Ctrl-C on this thread: every stack stops after its step
            stop.set()
            raise
    for index in indices:
        if index in errors:
            raise errors[index]


@contextlib.contextmanager
def blas_threads(threads: int) -> Iterator[None]:
    """Limit the BLAS pools to ``threads`` each (never raising a lower limit), where
    threadpoolctl is installed; put them back afterwards. Two stacks whose products each
    start one BLAS thread per core would make twice as many threads as cores."""
    try:
        threadpoolctl = importlib.import_module("threadpoolctl")
    except ImportError:
        yield
        return
    pools = [info for info in threadpoolctl.threadpool_info() if info["user_api"] == "blas"]
    if not pools or min(info["num_threads"] for info in pools) <= threads:
        yield
        return
    with threadpoolctl.threadpool_limits(limits=threads, user_api="blas"):
        yield
