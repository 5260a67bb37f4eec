"""A network's memory, estimated before it is built, and refused when it cannot fit.

``--layers 100000,100000`` asks for ten billion weights: 74.5 GiB each for the
parameters, their gradients, the update's temporaries and (Adam) two moving averages.
Built blindly, that is a NumPy traceback after minutes of drawing random numbers, or a
machine swapping.
:func:`check_network_fits` counts what training allocates and refuses, in one line with
the figures, what the host (or the GPU) does not have free.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..core.backend import Backend
from ..core.optimizers import UPDATE_RULES
from ..data import memory as host_memory
from ..data.memory import refuse_unless_fits
from ..errors import literal
from .evaluation import EVAL_CHUNK
from .trainer import TrainingOptions

#: Bytes of a host float64 draw: weights are drawn on the host in float64 (the same
#: numbers on every backend), then cast and copied to the device.
HOST_DRAW_BYTES = 8


def parameter_count(sizes: Sequence[int]) -> int:
    """``sum(n[l] * n[l-1] + n[l])``: the weights and biases of layer sizes ``n[0..L]``."""
    return sum(n * p + n for p, n in zip(sizes, sizes[1:], strict=False))


def training_bytes(sizes: Sequence[int], examples: int, itemsize: int, moments: int) -> int:
    """Bytes the arrays of training take where the network runs.

    Per parameter: itself, its gradient, two temporaries of the update (``lr * dW`` and
    the new ``W``), and two per moving average of the optimizer (the average and its
    update); one more copy of the largest layer; and for ``examples`` examples at a time
    the forward cache (``Z`` and ``A`` of every layer) and the backward pass's ``dZ`` and
    ``dA`` (two more per unit), plus the input batch. Measured on NumPy (``--layers
    3000,3000`` on moons, 9M parameters): 340 MB for gd (estimated 360 MB), 620 MB for
    Adam (650 MB), above the interpreter's own.
    """
    largest = max(n * p for p, n in zip(sizes, sizes[1:], strict=False))
    weights = (4 + 2 * moments) * parameter_count(sizes) + largest
    activations = examples * (sizes[0] + 4 * sum(sizes[1:]))
    return (weights + activations) * itemsize


def init_bytes(sizes: Sequence[int]) -> int:
    """Host bytes of drawing the largest layer's weights (the draw and its scaled copy)."""
    return 2 * HOST_DRAW_BYTES * max(n * p for p, n in zip(sizes, sizes[1:], strict=False))


def check_network_fits(sizes: Sequence[int], layers: Sequence[int], m: int,
                       options: TrainingOptions, backend: Backend) -> None:
    """Refuse, before anything is allocated, a network whose training would not fit.

    Parameters
    ----------
    sizes : sequence of int
        ``n[0], ..., n[L]``.
    layers : sequence of int
        The hidden sizes as the user gave them (for the message).
    m : int
        Training examples: a full-batch step, and a record's evaluation (in chunks of
        :data:`~nnbackend.training.evaluation.EVAL_CHUNK`), run this many at once.
    options : TrainingOptions
        The batch size and the optimizer (its moving averages).
    backend : Backend
        Its dtype, and where the arrays live: a GPU's free memory, or the host's.

    Raises
    ------
    SettingError
        ``{layers} ... needs about N GiB ...; M GiB is available: ...``.
    """
    on_device = _training_bytes(sizes, m, options, backend)
    count = shown_count(parameter_count(sizes))
    what = ("{layers} " + literal(",".join(map(str, layers)))
            + f" ({count} parameters, with their gradients, optimizer state and a batch's "
              "activations)")
    fix = "use fewer or smaller layers"
    device_free = backend.free_memory()
    if device_free is None:  # host memory: the larger of drawing the weights and training
        drawn = parameter_count(sizes) * itemsize(backend) + init_bytes(sizes)
        refuse_unless_fits(max(on_device, drawn), what, fix)
        return
    refuse_unless_fits(init_bytes(sizes), what + " to draw its weights on the host", fix)
    refuse_unless_fits(on_device, what, fix, available=device_free,
                       where=f" on {backend.describe()}")


def itemsize(backend: Backend) -> int:
    """Bytes per number of the backend's dtype (float32 or float64)."""
    return 4 if backend.dtype_name == "float32" else 8


def _training_bytes(sizes: Sequence[int], m: int, options: TrainingOptions,
                    backend: Backend) -> int:
    """:func:`training_bytes` of a run on ``m`` examples with ``options``."""
    batch = m if options.batch_size is None else min(options.batch_size, m)
    examples = max(batch, min(m, EVAL_CHUNK))
    moments = len(UPDATE_RULES[options.optimizer].moments) if (
        options.optimizer in UPDATE_RULES) else 2
    return training_bytes(sizes, examples, itemsize(backend), moments)


def models_that_fit(width: Sequence[int], m: int, options: TrainingOptions,
                    backend: Backend, share: int = 1) -> int | None:
    """How many networks padded to ``width`` one stack may hold in the free memory (the
    device's, else the host's; ``share``: the stacks training at once on this machine,
    which split it): every array of a stack is ``k`` models' (at least 1; None when the
    free memory is unknown)."""
    free = free_bytes(backend)
    if free is None:
        return None
    return max(1, free // share // stack_bytes(width, 1, m, options, backend))


def free_bytes(backend: Backend) -> int | None:
    """The memory free where ``backend``'s arrays live (the GPU's, else the host's), or
    None when unknown."""
    free = backend.free_memory()
    return host_memory.host_available() if free is None else free


def stack_bytes(width: Sequence[int], k: int, m: int, options: TrainingOptions,
                backend: Backend) -> int:
    """Bytes of training a stack of ``k`` networks padded to ``width`` on ``m`` examples
    (every array of a stack is ``k`` models')."""
    return k * _training_bytes(width, m, options, backend)


def shown_count(n: int) -> str:
    """``10,000,300,001``, or ``about 10^40`` where the digits would not be read."""
    return f"{n:,}" if n < 10**15 else f"about 10^{len(str(n)) - 1}"
