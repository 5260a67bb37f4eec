"""Limit the CPU threads of the libraries doing the math (``--threads N``).

NumPy's BLAS (OpenBLAS or MKL), the OpenMP runtimes and PyTorch's intra-op pool each
start one thread per CPU core by default. On a machine whose cores are busy with other
work those threads wait on each other, and for small networks one thread can then be
much faster than two. :func:`limit_threads` caps them all, for the rest of the process:

- every BLAS and OpenMP pool loaded so far, through threadpoolctl (an optional
  dependency: ``pip install threadpoolctl``);
- PyTorch's intra-op threads (``torch.set_num_threads``) when PyTorch is already
  imported;
- libraries loaded later (PyTorch is imported only when its backend is chosen): through
  ``OMP_NUM_THREADS``, ``OPENBLAS_NUM_THREADS`` and ``MKL_NUM_THREADS``, which they read
  when they start. Importing PyTorch here just to limit it would cost about a second on
  every command that never uses it.

Commands call it once, before any math. :func:`threads_limited` is the same as a
context manager that puts everything back afterwards (for tests and library use).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import NNBackendError

#: How to install the optional dependency, named in the error message.
THREADPOOLCTL_HINT = "pip install threadpoolctl"
#: Environment variables that BLAS and OpenMP libraries (and PyTorch) read at start-up.
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

#: threadpoolctl's limiters in force (kept so that :func:`threads_limited` can undo one).
_LIMITERS: list[Any] = []


def _threadpoolctl() -> Any:
    """The threadpoolctl module, or a one-line NNBackendError naming the fix."""
    try:
        return importlib.import_module("threadpoolctl")
    except ImportError:
        raise NNBackendError(
            "--threads needs threadpoolctl to limit the BLAS/OpenMP threads; install it "
            f"with {THREADPOOLCTL_HINT}, or drop --threads"
        ) from None


def _check(n: Any) -> int:
    """``n`` as a positive int, or a one-line NNBackendError."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise NNBackendError(f"--threads must be a positive integer, got {n!r}")
    return n


def _apply(n: int) -> Any:
    """Set every limit to ``n``; return threadpoolctl's limiter."""
    threadpoolctl = _threadpoolctl()  # before changing anything: fail without side effects
    for var in THREAD_ENV_VARS:
        os.environ[var] = str(n)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(n)
    limiter = threadpoolctl.threadpool_limits(limits=n)
    _LIMITERS.append(limiter)
    return limiter


def limit_threads(n: int | None) -> None:
    """Limit BLAS/OpenMP pools and PyTorch's CPU threads to ``n`` (None: change nothing).

    Parameters
    ----------
    n : int or None
        Threads per pool, at least 1. None leaves every library at its own default (and
        needs no threadpoolctl).

    Raises
    ------
    NNBackendError
        When ``n`` is not a positive integer, or threadpoolctl is not installed (the
        message names the ``pip install``).
    """
    if n is None:
        return
    _apply(_check(n))


@contextmanager
def threads_limited(n: int | None) -> Iterator[None]:
    """:func:`limit_threads` for the duration of a ``with`` block, then restore.

    Restores the BLAS/OpenMP limits, the environment variables and, when PyTorch was
    imported before the block, its thread count.
    """
    if n is None:
        yield
        return
    n = _check(n)
    saved_env = {var: os.environ.get(var) for var in THREAD_ENV_VARS}
    torch = sys.modules.get("torch")
    saved_torch = torch.get_num_threads() if torch is not None else None
    limiter = _apply(n)
    try:
        yield
    finally:
        limiter.restore_original_limits()
        _LIMITERS.remove(limiter)
        for var, value in saved_env.items():
            if value is None:
                os.environ.pop(var, None)
            else:
                os.environ[var] = value
        if torch is not None and saved_torch is not None:
            torch.set_num_threads(saved_torch)
