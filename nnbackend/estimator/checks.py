"""Checks of the constructor parameters, run in ``fit`` as scikit-learn asks.

The training code they feed is shared with the command line, whose errors name flags
(``--batch-size``); :func:`estimator_wording` rewrites those errors in the estimator's
parameter names (``batch_size``).
"""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..core.backend import host_rng
from ..errors import NNBackendError
from ..training.trainer import TrainingOptions
from .parameters import EstimatorParameters

#: Whole phrases of the command line's wording -> the estimator's, rewritten first.
_CLI_PHRASES = (
    ("print-every", "record_every"),
    # encode_targets points a user with text targets to the CLI's --task; an estimator
    # user switches estimators instead.
    ("regression targets must be numbers; use --task multiclass for class names",
     "NNRegressor targets must be numbers; use NNClassifier for class labels"),
)

#: Parameters whose CLI flag is the name with dashes (``--lr-decay-every``).
_FLAG_NAMES = ("lr_decay_every", "validation_fraction", "learning_rate", "batch_size",
               "keep_prob", "lr_decay", "iterations", "epochs", "patience", "device",
               "backend", "dtype")


@contextmanager
def estimator_wording() -> Iterator[None]:
    """Re-raise errors of shared code with ``--batch-size`` written as ``batch_size``."""
    try:
        yield
    except NNBackendError as exc:
        message = str(exc)
        for cli, estimator in _CLI_PHRASES:
            message = message.replace(cli, estimator)
        for name in _FLAG_NAMES:
            dashed = name.replace("_", "-")
            message = message.replace(f"--{dashed}", name)
            if "-" in dashed:
                message = message.replace(dashed, name)
        if message == str(exc):
            raise
        raise type(exc)(message) from None


def check_real(name: str, value: Any) -> float:
    """A finite real number as a Python float (NumPy scalars would upcast float32)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            float(value)):
        raise NNBackendError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def check_count(name: str, value: Any) -> int | None:
    """None or a Python int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NNBackendError(f"{name} must be an integer or None, got {value!r}")
    return int(value)


def check_text(name: str, value: Any, optional: bool = False) -> Any:
    """A string (or None when ``optional``)."""
    if (value is None and optional) or isinstance(value, str):
        return value
    raise NNBackendError(f"{name} must be a string, got {value!r}")


def check_hidden_sizes(value: Any) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
    try:
        if isinstance(value, (str, bool)):
            raise TypeError
        items = (value,) if isinstance(value, numbers.Integral) else value
        sizes = tuple(operator.index(n) for n in items)
        if all(n >= 1 for n in sizes):
            return sizes
    except TypeError:
        pass
    raise NNBackendError(
        f"hidden_layer_sizes must be a tuple of positive integers such as (4,) or (16, 8), "
        f"got {value!r}"
    )


def check_random_state(random_state: Any) -> tuple[np.random.RandomState, int | None]:
    """The run's host generator and the seed of the validation split."""
    if isinstance(random_state, np.random.RandomState):
        return random_state, int(random_state.randint(2**31 - 1))
    seed = None if random_state is None else check_count("random_state", random_state)
    if seed is not None and not 0 <= seed < 2**32:
        raise NNBackendError(f"random_state must be in [0, 2**32), got {seed}")
    return host_rng(seed), seed


def training_options(params: EstimatorParameters) -> TrainingOptions:
    """The training loop's options from the estimator's checked parameters."""
    return TrainingOptions(
        learning_rate=check_real("learning_rate", params.learning_rate),
        iterations=check_count("iterations", params.iterations),
        epochs=check_count("epochs", params.epochs),
        batch_size=check_count("batch_size", params.batch_size),
        optimizer=check_text("optimizer", params.optimizer),
        beta1=check_real("beta1", params.beta1),
        beta2=check_real("beta2", params.beta2),
        epsilon=check_real("epsilon", params.epsilon),
        lr_decay=check_real("lr_decay", params.lr_decay),
        lr_decay_every=check_count("lr_decay_every", params.lr_decay_every) or 0,
        l2=check_real("l2", params.l2),
        keep_prob=check_real("keep_prob", params.keep_prob),
        patience=check_count("patience", params.patience),
        print_every=check_count("record_every", params.record_every),
    )
