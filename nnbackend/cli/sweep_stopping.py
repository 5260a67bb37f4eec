"""``nnbackend sweep``'s checkpoints: ``--checkpoint``, ``--checkpoint-every``, ``--resume``,
and what a stop signal does to a sweep.

As ``train`` does: a stop signal (SIGTERM, SIGUSR1, SIGHUP, SIGINT) ends the stack under
way after its current step; the sweep is kept in ``--checkpoint``'s file or, without one,
in ``nnbackend-checkpoint.npz`` (``-2``, ``-3``, ... when that name holds another file,
:func:`~nnbackend.cli.stopping.default_checkpoint`); one line names the command that
resumes it, and the process exits with ``128 + signal number``. ``--resume FILE`` takes
the grid, data and settings from the checkpoint (giving other ones is refused), trains
no finished stack again, and ends with the table an uninterrupted sweep prints.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ..errors import NNBackendError
from ..model.sweep_state import SweepCheckpoint
from ..persistence.atomic import exclusive
from ..training.callbacks import StopOnInterrupt
from ..training.settings import flag
from .modelrun import check_output_path, data_files, refuse_overwriting_inputs
from .options import NONEMPTY, stack
from .stopping import keep_stopped_run, resume_command, stop_note

#: Options that may accompany --resume; every other one is fixed by the checkpoint.
RESUME_OPTIONS = {"resume_path", "data", "device", "backend", "checkpoint_path",
                  "checkpoint_every", "results_path", "best_path", "as_json", "quiet",
                  "threads", "max_stack", "workers", "distributed"}
#: Options the checkpoint keeps for --resume (the others are given again, or not).
NOT_KEPT = ("resume_path", "checkpoint_every")
#: Options of this command alone: a resumed sweep takes them as given (or their
#: defaults), never from the checkpoint; every other one comes from it unless given.
OWN = ("device", "backend", "as_json", "quiet", "threads", "workers", "distributed")

checkpoint_options = stack(
    click.option("--checkpoint", "checkpoint_path", type=NONEMPTY, default=None,
                 metavar="FILE",
                 help="Keep the sweep in FILE (atomically): after each stack, every "
                      "--checkpoint-every steps of the stack under way, and when a signal "
                      "(Ctrl-C, SIGTERM, SIGUSR1, SIGHUP) stops it; without it, a stopped "
                      "sweep is kept in nnbackend-checkpoint.npz."),
    click.option("--checkpoint-every", type=click.IntRange(min=1), default=None,
                 metavar="N",
                 help="Steps between checkpoints of the stack under way (default: the "
                      "print interval). Only with --checkpoint."),
    click.option("--resume", "resume_path", type=NONEMPTY, default=None, metavar="FILE",
                 help="Continue the sweep kept in FILE: finished stacks are not trained "
                      "again, the stack under way goes on from its step, and the table is "
                      "an uninterrupted sweep's (the grid, data and settings are the "
                      "checkpoint's; --device/--backend may change; --data names the same "
                      "data from another folder)."),
)


def sweep_checkpoint(ctx: click.Context, params: dict[str, Any],
                     cadence: Callable[[dict[str, Any]], int],
                     root: bool = True) -> SweepCheckpoint:
    """The sweep's checkpoint; with ``--resume``, ``params`` become the checkpoint's
    (what may change when resuming kept as given). ``cadence(params)``: the print
    interval (iterations or epochs), the default of ``--checkpoint-every``. Over ranks,
    only rank 0 (``root``) holds the file's lock and writes it.

    Raises
    ------
    NNBackendError
        An option the checkpoint fixes was given, or ``--checkpoint-every`` without
        ``--checkpoint`` (one line each).
    """
    resume = params["resume_path"]
    checkpoint = SweepCheckpoint(resume=resume)
    if resume:
        given = {name for name in params
                 if ctx.get_parameter_source(name) != click.core.ParameterSource.DEFAULT}
        fixed = sorted(given - RESUME_OPTIONS)
        if fixed:
            raise NNBackendError(f"{', '.join(_flag(ctx, name) for name in fixed)} cannot "
                                 "change when resuming a sweep; the checkpoint fixes the "
                                 "grid, data and settings (drop them)")
        stored = checkpoint.extra.get("params")
        if not isinstance(stored, dict):
            raise NNBackendError(f"{resume} was not written by nnbackend sweep; resume it "
                                 "as it was written (nnbackend.sweep(resume=...))")
        for name, value in stored.items():
            if name in params and name not in given and name not in OWN:
                params[name] = _layers(value) if name == "layers" else value
        # Resumed in the dtype it was trained in (a device change may not change it).
        params["dtype"] = (checkpoint.header.get("identity") or {}).get("dtype",
                                                                        params["dtype"])
    if params["checkpoint_every"] is not None and not params["checkpoint_path"]:
        raise NNBackendError("--checkpoint-every only applies with --checkpoint FILE (where "
                             "to write them); add it, or drop --checkpoint-every")
    check_output_path(params["checkpoint_path"], "--checkpoint")
    # Continuing in the checkpoint resumed is how a sweep goes on; any other overlap of
    # the files it reads and writes would destroy one.
    inputs = {"--data": data_files(params["data"])}
    if resume and not (params["checkpoint_path"] and os.path.realpath(
            params["checkpoint_path"]) == os.path.realpath(resume)):
        inputs["--resume"] = [Path(resume)]
    refuse_overwriting_inputs(inputs, {"--checkpoint": params["checkpoint_path"],
                                       "--results": params["results_path"],
                                       "--save-best": params["best_path"]})
    if params["checkpoint_path"] and root:
        # One sweep at a time per checkpoint file (a second one is refused in one line).
        ctx.with_resource(exclusive(params["checkpoint_path"]))
    # A checkpoint that cannot be written (a full scratch disk) is not worth the sweep.
    checkpoint.keep_in(params["checkpoint_path"] if root else None,
                       params["checkpoint_every"], cadence(params),
                       warn=lambda text: click.echo(f"Warning: {text}", err=True))
    checkpoint.extra = {"params": {name: value for name, value in params.items()
                                   if name not in NOT_KEPT}}
    return checkpoint


def _flag(ctx: click.Context, name: str) -> str:
    """A parameter's option, as the user types it (``--lr``)."""
    option = next((p for p in ctx.command.params if p.name == name), None)
    return option.opts[0] if option is not None and option.opts else flag(name)


def _layers(value: Any) -> Any:
    """``--layers``'s models, back from JSON (each a tuple of sizes)."""
    return None if value is None else [tuple(v) for v in value]


def stopped(checkpoint: SweepCheckpoint, where: str, params: dict[str, Any],
            stops: StopOnInterrupt, say: Any, ranks: int = 1) -> None:
    """A stop signal ended the sweep: keep it (``--checkpoint``, else the default file),
    say how to resume it (under ``ranks`` ranks), exit ``128 + N``."""
    path = checkpoint.path
    if path is None or checkpoint.failed:  # (then where train keeps a stopped run)
        path = keep_stopped_run({"save_path": params["best_path"],
                                 "resume_path": params["resume_path"]},
                                checkpoint.write, say)
    elif not checkpoint.written:  # (nothing kept yet: the finished stacks at least)
        checkpoint.write(path)
    say(f"Stopped: {where} ({stop_note(stops)})")
    if path is not None:
        say(f"Checkpoint: {path} (resume with: {resume_command(str(path), ranks, 'sweep')})")
    ctx = click.get_current_context()
    ctx.exit(128 + (stops.signum or signal.SIGINT))


class SweepStops(StopOnInterrupt):
    """The stop signals of a whole sweep, whose stacks may train on several threads at once.

    The handlers are installed on the main thread for the whole command (``with``); a
    signal sets :attr:`event`, which every stack under way watches
    (:class:`~nnbackend.model.schedule.StopWhenSet`, given by
    :func:`~nnbackend.model.sweep.sweep_prepared`'s ``stop``), so each stops after its
    current step, on whichever thread it trains. It is not a callback of any one run
    (:class:`StopOnInterrupt` follows one trainer at a time). A second Ctrl-C aborts.
    """

    def __init__(self, signals: Sequence[int]) -> None:
        super().__init__(signals)
        self.event = threading.Event()

    def request(self, signum: int) -> None:
        if self.requested is None:
            self.requested = self.signum = signum
        self.event.set()
