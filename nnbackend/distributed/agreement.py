"""The ranks of one run must train the same problem: one all-gather at the start says so.

Every rank reads its own data and options (``mpirun -n 2 nnbackend train ...`` starts the
same command twice, but a node-local file, an MPMD launch or an environment variable can
give a rank something else). Ranks whose data have the same shape but other values, or
another learning rate or seed, would train together without an error and give a model
that is no one's. So, before the first step, the ranks gather each other's data
fingerprint and settings, and every rank refuses the run with the same one line, naming
the first rank and setting that differ from rank 0's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..errors import NNBackendError
from ..training.settings import flag

if TYPE_CHECKING:
    from .communicator import Communicator

#: The data fingerprint's key in the gathered settings (see data.pipeline.fingerprint).
FINGERPRINT = "data_fingerprint"
#: The step a resumed run continues from (0 for a new run).
RESUMED_STEP = "resumed_step"
#: How a message names what is not a command-line setting (the data's split seed is
#: --seed's: no option of its own).
WORDS = {RESUMED_STEP: "a checkpoint at step", "split_seed": "--seed"}


class RanksDisagree(NNBackendError):
    """The ranks were given different data or settings (raised on every rank alike)."""


def flatten(settings: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"options": {"learning_rate": 0.1}}`` -> ``{"options.learning_rate": 0.1}``."""
    flat: dict[str, Any] = {}
    for key, value in settings.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = list(value) if isinstance(value, tuple) else value
    return flat


def _shown(name: str, value: Any) -> str:
    """``--lr 5.0`` for the setting ``options.learning_rate``."""
    if isinstance(value, list):
        value = ",".join(map(str, value))
    last = name.rsplit(".", 1)[-1]
    return f"{WORDS.get(last) or flag(last)} {value}"


def difference(rank: int, name: str, theirs: Any, ours: Any) -> str:
    """One line: how ``rank`` differs from rank 0 in ``name``, and the fix."""
    fix = "; give every rank the same data and options"
    if name.startswith(FINGERPRINT + "."):
        key = name.split(".", 1)[1]
        what = ("same shape, different values" if key == "sha256"
                else f"{key} {theirs} there, {ours} on rank 0")
        return (f"the ranks disagree: rank {rank}'s training data differs from rank 0's "
                f"({what}){fix}")
    return (f"the ranks disagree: rank {rank} has {_shown(name, theirs)}, rank 0 "
            f"{_shown(name, ours)}{fix}")


def check_same_run(comm: Communicator, settings: dict[str, Any]) -> None:
    """Refuse, on every rank, a run whose ranks were given different data or settings.

    Parameters
    ----------
    comm : Communicator
        The run's ranks (one ``allgather`` of a small dictionary).
    settings : dict
        What must be equal on every rank: the data fingerprint (under
        :data:`FINGERPRINT`), every training setting, nested dictionaries allowed.

    Raises
    ------
    RanksDisagree
        The same message on every rank: the first differing rank and setting (the
        fingerprint first), with both values.
    """
    gathered = comm.allgather(flatten(settings))
    ours = gathered[0]
    for rank, theirs in enumerate(gathered[1:], start=1):
        names = sorted(set(ours) | set(theirs), key=lambda n: (not n.startswith(FINGERPRINT), n))
        for name in names:
            if theirs.get(name) != ours.get(name):
                raise RanksDisagree(difference(rank, name, theirs.get(name), ours.get(name)))
