"""glibc's malloc thresholds for training loops: keep a step's memory for the next step.

A training step frees and allocates the same arrays every step: a gathered batch, the
activations, the gradients, new parameters (0.2 to 1 MB each on the wide benchmark's
784-256-10 network at batch 256 in float32). glibc's malloc starts with its mmap and trim
thresholds at 128 KiB and raises them only as it sees large blocks freed (the mmap
threshold up to 32 MiB, the trim threshold to twice that). Until then, and whenever a free
leaves more than the trim threshold unused at the top of the heap, the memory goes back to
the operating system and the next step takes it again, one page fault per 4 KiB page. How
often that happens depends on the order of allocations and frees: one epoch of the wide
benchmark took about 34,000 page faults before this project's step was made a function and
about 54,000 after, with the same arithmetic; with the thresholds below it takes about
1,200, and 0.36 s instead of 0.40 to 0.46 s (this project's 2-core machine, medians of 9).

:func:`keep_step_memory` sets both thresholds to the ceilings glibc's own rule would reach
(mmap 32 MiB, trim 64 MiB), once per process, when a training loop on host arrays starts.
The setting is process-wide and stays: memory freed in blocks under 32 MiB is kept for the
process to reuse (as glibc itself does once its rule has raised the thresholds), and up to
64 MiB free at the top of a heap is kept rather than returned to the system; blocks of 32
MiB and more (whole data sets) are still mapped and returned on their own. It does nothing
where malloc is not glibc's (macOS, Windows, musl, or another allocator in
``LD_PRELOAD``), where the user has set the thresholds (``MALLOC_MMAP_THRESHOLD_``,
``MALLOC_TRIM_THRESHOLD_`` or ``GLIBC_TUNABLES``), or with ``NNBACKEND_MALLOC=default``.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
import threading
from collections.abc import Callable, Mapping

from ..errors import NNBackendError

#: glibc's ``DEFAULT_MMAP_THRESHOLD_MAX`` on 64-bit systems: where its dynamic mmap
#: threshold stops growing.
MMAP_THRESHOLD = 32 * 2**20
#: Twice the mmap threshold, as glibc's dynamic rule sets it.
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD

#: ``mallopt`` parameters from glibc's ``malloc.h``.
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3

#: ``NNBACKEND_MALLOC=default`` leaves glibc's malloc as it is; ``keep`` (or unset) sets
#: the thresholds.
VARIABLE = "NNBACKEND_MALLOC"
CHOICES = ("default", "keep")

_USER_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")

_applied: bool | None = None  # None: not tried yet in this process
_lock = threading.Lock()


def _glibc_mallopt() -> Callable[[int, int], int] | None:
    """glibc's ``mallopt``, or None where the C library is not glibc (or the process's
    malloc is another allocator, preloaded)."""
    if not sys.platform.startswith("linux") or platform.libc_ver()[0] != "glibc":
        return None
    if "malloc" in os.environ.get("LD_PRELOAD", ""):  # jemalloc, tcmalloc, mimalloc, ...
        return None
    try:
        # The symbols already loaded in this process (glibc among them): no search on disk,
        # no subprocess (ctypes.util.find_library runs ldconfig).
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return mallopt  # type: ignore[no-any-return]


def user_tuned(environ: Mapping[str, str]) -> bool:
    """Whether the environment already decides glibc's thresholds, or opts out.

    Raises
    ------
    NNBackendError
        For a value of ``NNBACKEND_MALLOC`` other than ``default`` and ``keep``.
    """
    choice = environ.get(VARIABLE, "keep").strip().lower() or "keep"
    if choice not in CHOICES:
        raise NNBackendError(
            f"{VARIABLE}={environ[VARIABLE]!r} is not understood; set {VARIABLE}=default to "
            f"leave glibc's malloc as it is, {VARIABLE}=keep (or unset it) for nnbackend's "
            "thresholds")
    if choice == "default":
        return True
    if any(name in environ for name in _USER_SETTINGS):
        return True
    tunables = environ.get("GLIBC_TUNABLES", "")
    return "mmap_threshold" in tunables or "trim_threshold" in tunables


def keep_step_memory(environ: Mapping[str, str] | None = None,
                     mallopt: Callable[[int, int], int] | None = None) -> bool:
    """Set glibc's mmap and trim thresholds to their ceilings, once per process.

    Parameters
    ----------
    environ : mapping, optional
        The environment to read (``os.environ`` by default).
    mallopt : callable, optional
        ``mallopt(param, value) -> int``; glibc's by default (for tests).

    Returns
    -------
    bool
        True when this process's thresholds are (or were already) set by this function.
    """
    global _applied
    with _lock:  # two threads starting to train at once set them once
        if _applied is not None:
            return _applied
        tuned = user_tuned(os.environ if environ is None else environ)  # may refuse a value
        _applied = False
        if tuned:
            return False
        setter = _glibc_mallopt() if mallopt is None else mallopt
        if setter is None:
            return False
        # The mmap threshold first: setting either one turns glibc's dynamic rule off, and
        # with a 128 KiB mmap threshold every step's larger arrays would be mapped afresh.
        _applied = bool(setter(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
            setter(M_TRIM_THRESHOLD, TRIM_THRESHOLD))
        return _applied

