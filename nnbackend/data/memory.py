"""Refusing, before allocating, what would not fit in memory: one line with the figures.

A generated data set or a network asked for with sizes beyond the machine would otherwise
fail deep inside NumPy (a traceback) or after minutes of swapping. Their callers estimate
the bytes they need and call :func:`refuse_unless_fits`, which compares them with the
memory available: the host's (``MemAvailable`` in ``/proc/meminfo``, or a cgroup limit's or
an address-space limit's headroom when that is smaller;
:func:`nnbackend.data.arrayfiles.available_memory`) or a
GPU's free memory (``Backend.free_memory``).
"""

from __future__ import annotations

from ..errors import SettingError
from . import arrayfiles


def gib(n: float) -> str:
    """``74.5 GiB``: a byte count for messages, in binary units as NumPy reports them."""
    if n >= 2**60:
        return f"{n / 2**40:.3g} TiB"  # beyond any machine: the order of magnitude
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30), ("MiB", 2**20)):
        if n >= scale or unit == "MiB":
            return f"{n / scale:,.1f} {unit}"
    raise AssertionError("unreachable")


def host_available() -> int | None:
    """Bytes the process may still allocate on the host, or None when unknown."""
    return arrayfiles.available_memory()


def refuse_unless_fits(needed: int, what: str, fix: str, *, available: int | None = None,
                       where: str = "") -> None:
    """Raise a one-line :class:`SettingError` when ``needed`` bytes exceed what is free.

    Parameters
    ----------
    needed : int
        Estimated bytes.
    what : str
        The subject, a :class:`SettingError` template (``"{layers} 9,9"``, user values
        passed through :func:`nnbackend.errors.literal`).
    fix : str
        What to do instead (``"use fewer units"``).
    available : int, optional
        Free bytes where the allocation happens (a GPU's); default the host's.
    where : str
        Names that place in the message (``" on cuda:0"``).
    """
    free = host_available() if available is None else available
    if free is not None and needed > free:
        raise SettingError(f"{what} needs about {gib(needed)}; {gib(free)} is available"
                           f"{where}: {fix}")
