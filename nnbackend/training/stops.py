"""What a stop is: the signals that ask a run to stop, their exit codes, and the vote that
makes every rank of a data-parallel run stop at the same step.

A scheduler stops a job with a signal and expects it to save and exit: Slurm and
Kubernetes send SIGTERM (Slurm can send SIGUSR1 ahead of the time limit), a closed
terminal sends SIGHUP, Ctrl-C sends SIGINT. Each of them stops the run after the current
step (:class:`nnbackend.training.callbacks.StopOnInterrupt`), and the command line exits
with the conventional ``128 + signal number``. A closed standard output (``| head``)
counts as SIGPIPE, the signal that would have ended the program without Python.

Under ``mpirun`` a signal may reach one rank or all of them, at different steps. A rank
never stops alone (the others would wait for it in their next all-reduce, for ever): it
adds its request to a :class:`StopVote`, a few numbers summed with the next step's
gradients in the same collective, and every rank reads the same sum after the same step.
"""

from __future__ import annotations

import signal
from typing import Any

#: The signals that stop a run, most important first: when the ranks of one run receive
#: different ones, the run stops (and exits) for the first of them in this order.
STOP_SIGNALS: tuple[int, ...] = tuple(
    int(getattr(signal, name)) for name in ("SIGTERM", "SIGUSR1", "SIGHUP", "SIGINT", "SIGPIPE")
    if hasattr(signal, name))  # Windows has SIGTERM and SIGINT only
#: Those caught by the command line. SIGPIPE is not: Python ignores it already, and a
#: write to a closed pipe raises BrokenPipeError, which asks for the stop instead.
CAUGHT_SIGNALS: tuple[int, ...] = tuple(s for s in STOP_SIGNALS
                                        if s != getattr(signal, "SIGPIPE", None))
#: SIGPIPE's number, for a closed output (13 on Linux and macOS).
BROKEN_PIPE = int(getattr(signal, "SIGPIPE", 13))


def exit_code(signum: int) -> int:
    """The shell's status of a program ended by ``signum``: ``128 + signum`` (130 for
    SIGINT, 143 for SIGTERM, 138 for SIGUSR1 on Linux, 129 for SIGHUP, 141 for SIGPIPE)."""
    return 128 + signum


def signal_name(signum: int) -> str:
    """``SIGTERM`` for 15 (the number itself when the platform has no name for it)."""
    try:
        return signal.Signals(signum).name
    except ValueError:
        return f"signal {signum}"


class StopVote:
    """One rank's stop requests, summed over the ranks at the end of a step's all-reduce.

    The vote is one count per :data:`STOP_SIGNALS` entry; this rank contributes 1 for each
    signal it received. Its device copy is made once and again only when a request
    arrives, so a step pays for a few more numbers in its buffer and nothing else.

    Attributes
    ----------
    size : int
        Numbers the vote adds to the buffer.
    """

    size = len(STOP_SIGNALS)

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        """Forget every request and sum (a new run on the same communicator)."""
        self._requested = [0.0] * self.size  # written by signal handlers: plain floats
        self._uploaded: list[float] | None = None
        self._flags: Any = None
        self._counts: list[float] = [0.0] * self.size  # the last sum, on the host
        self._device_counts: Any = None  # the last sum, when it stayed on the device

    def request(self, signum: int) -> None:
        """Vote to stop for ``signum`` at the next step (safe in a signal handler)."""
        if signum in STOP_SIGNALS:
            self._requested[STOP_SIGNALS.index(signum)] = 1.0

    def flags(self, backend: Any) -> Any:
        """This rank's vote as a device array of :attr:`size` numbers, for the buffer."""
        now = list(self._requested)
        if now != self._uploaded:
            self._flags, self._uploaded = backend.asarray(now), now
        return self._flags

    def summed(self, device: Any, host: Any = None) -> None:
        """Keep the vote's sum: ``device``, its part of the summed buffer, and ``host``,
        the whole summed buffer where it came back to the host anyway (read for free)."""
        if host is None:
            self._device_counts = device
        else:
            self._counts, self._device_counts = host[-self.size:].tolist(), None

    def agreed(self, backend: Any, read_device: bool) -> int | None:
        """The signal every rank stops for after the last summed step, or None.

        Parameters
        ----------
        backend : Backend
            Where a device-resident sum lives.
        read_device : bool
            Read a sum that stayed on the device (a sync: at records only).
        """
        if self._device_counts is not None and read_device:
            self._counts = [float(v) for v in backend.to_host(self._device_counts)]
            self._device_counts = None
        if not any(self._counts):
            return None  # the common case, cheaply
        for signum, votes in zip(STOP_SIGNALS, self._counts, strict=True):
            if votes > 0:
                return signum
        return None
