"""A sweep over the ranks of ``mpirun``: each rank trains whole stacks, rank 0 reports.

The models of a sweep need no gradient exchange: each rank trains its share of the
stacks as one process would (the same plan, the same generators, so the same numbers),
and the ranks meet only to agree on the problem, to gather the rows and to hand the best
model to every rank. The stacks are shared out by the cost model's estimate of their run
(:func:`share_out`: the longest first, each to the least loaded rank).

A rank that fails must not leave the others waiting in a collective for ever: each phase
runs through :func:`gathered`, which gathers every rank's outcome, error or not, so that
every rank raises together (:class:`RanksFailed`, naming the rank and its error).
"""

from __future__ import annotations

import platform
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._text import count
from ..core.backend import Backend, is_out_of_memory
from ..errors import NNBackendError, SettingError, literal

T = TypeVar("T")


class RanksFailed(SettingError):
    """One rank's error, raised on every rank alike (the message names the rank)."""


def _described(error: BaseException) -> str:
    """``error`` as a message template for the other ranks (setting names kept as
    fields, so that each interface spells them its own way)."""
    if isinstance(error, SettingError):
        return error.template
    if is_out_of_memory(error):
        return literal(f"out of memory ({error or 'an allocation failed'}); use smaller "
                       "layers, a smaller --max-stack or fewer ranks per machine")
    if isinstance(error, NNBackendError):
        return literal(str(error))
    return literal(f"{type(error).__name__}: {error}")


def gathered(comm: Any, fn: Callable[[], T]) -> list[T]:
    """``fn()`` on every rank; every rank's value, in rank order, on every rank.

    Raises
    ------
    RanksFailed
        On every rank, when ``fn`` raised on any (the first failing rank's error; that
        rank raises its own error instead when it is not a user's: a bug keeps its
        traceback).
    """
    failure: Exception | None = None
    value: Any = None
    try:
        value = fn()
    except Exception as error:  # every rank must reach the all-gather below
        failure = error
    outcomes = comm.allgather((value, None if failure is None else _described(failure)))
    for rank, (_, text) in enumerate(outcomes):
        if text is None:
            continue
        if rank == comm.rank and failure is not None and not isinstance(
                failure, NNBackendError) and not is_out_of_memory(failure):
            raise failure
        raise RanksFailed(f"rank {rank} of {comm.size}: {text}") from failure
    return [value for value, _ in outcomes]


def share_out(costs: Sequence[float], ranks: int) -> list[list[int]]:
    """Each rank's stacks (indices into ``costs``, in order): the most costly first, each
    to the rank with the least estimated work so far (the lower rank on a tie)."""
    load = [0.0] * ranks
    shares: list[list[int]] = [[] for _ in range(ranks)]
    for index in sorted(range(len(costs)), key=lambda i: (-costs[i], i)):
        rank = min(range(ranks), key=lambda r: (load[r], r))
        load[rank] += costs[index]
        shares[rank].append(index)
    return [sorted(share) for share in shares]


def ranks_per_machine(comm: Any) -> int:
    """The most ranks that share one machine (its cores and memory)."""
    return max(Counter(comm.allgather(platform.node())).values())


def share_model(comm: Any, owner: int, params: dict[str, Any] | None, run: Any,
                backend: Backend) -> tuple[dict[str, Any], Any]:
    """Rank ``owner``'s model parameters (device arrays there) and training result, on
    every rank (on ``backend``'s device)."""
    sent = None if comm.rank != owner or params is None else (
        {name: backend.to_host(value) for name, value in params.items()}, run)
    host, result = comm.broadcast(sent, root=owner)
    return {name: backend.asarray(value) for name, value in host.items()}, result


def planned_by_rank_0(comm: Any, plan: Callable[[], tuple[Any, ...]],
                      local: int) -> tuple[Any, ...]:
    """``plan()`` on every rank (through :func:`gathered`); its first ``local`` items
    from this rank (its own data, say), the rest from rank 0, so that every rank follows
    one plan even where what each rank sees (its free memory) would change it."""
    here: list[Any] = []

    def planned() -> tuple[Any, ...]:
        here[:] = plan()
        return tuple(here[local:])

    shared = gathered(comm, planned)[0]  # runs planned(), which fills here
    return (*here[:local], *shared)


def share_note(comm: Any, stacks: int, mine: Sequence[int]) -> str:
    """One line: how the stacks are shared out, and which this rank trains
    (``stacks 1, 3 and 4``, counted from 1)."""
    shown = [str(i + 1) for i in mine]
    which = ("no stack" if not shown else f"stack {shown[0]}" if len(shown) == 1
             else f"stacks {', '.join(shown[:-1])} and {shown[-1]}")
    return (f"{count(stacks, 'stack')} shared out over {comm.size} ranks; rank "
            f"{comm.rank} trains {which}")
