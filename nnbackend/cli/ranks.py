"""``--distributed`` for commands whose ranks each do their own share (``sweep``): joining
the ranks, and errors that end every rank rather than leave some waiting."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click

from ..distributed.agreement import RanksDisagree
from ..distributed.communicator import Communicator
from ..distributed.launch import connect, rank_device
from ..errors import NNBackendError, SettingError
from ..model.ranks import RanksFailed
from ..training.settings import flag
from . import EXIT_USAGE

#: What Open MPI needs before it starts as root, for the help of every --distributed.
AS_ROOT = ("as root (a container, CI), mpirun also needs OMPI_ALLOW_RUN_AS_ROOT=1 "
           "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 in the environment.")


@contextmanager
def ranks(params: dict[str, Any]) -> Iterator[Communicator | None]:
    """The ranks of ``--distributed`` (None without it); ``params["device"]`` becomes
    this rank's (one GPU per rank on each machine)."""
    if not params["distributed"]:
        yield None
        return
    comm = connect(params["distributed"])
    params["device"] = rank_device(params["device"], comm)
    yield comm


@contextmanager
def rank_errors(comm: Communicator | None) -> Iterator[None]:
    """An error that every rank raised together (different problems, a rank that failed)
    is printed once, by rank 0, and every rank exits 2; one rank's own error is printed
    with its rank and ends the whole job (the others would wait for it for ever)."""
    if comm is None:
        yield
        return
    try:
        yield
    except (RanksDisagree, RanksFailed) as exc:
        if comm.is_root:
            click.echo(f"Error: {_message(exc)}", err=True)
        click.get_current_context().exit(EXIT_USAGE)
    except NNBackendError as exc:
        if comm.size == 1:
            raise
        click.echo(f"Error (rank {comm.rank} of {comm.size}): {_message(exc)}", err=True)
        comm.abort(EXIT_USAGE)


def _message(error: NNBackendError) -> str:
    """The error's line, settings spelled as flags."""
    return error.spelled(flag) if isinstance(error, SettingError) else str(error)
