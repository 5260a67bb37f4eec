"""Checks of the constructor parameters, run in ``fit`` as scikit-learn asks.

The library's errors name settings (``SettingError``); :func:`estimator_wording` spells
them as the estimators' parameters (``random_state``, ``record_every``), from the
settings table.
"""

from __future__ import annotations

import numbers
import operator
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..core.backend import host_rng
from ..errors import NNBackendError, SettingError
from ..training.settings import TRAINING_SETTINGS, check, estimator_name
from ..training.trainer import TrainingOptions
from .parameters import ESTIMATOR_SETTINGS, EstimatorParameters

#: Whole phrases of shared code written for the command line -> the estimators' wording.
_CLI_PHRASES = (
    # encode_targets points a user with text targets to the CLI's --task; an estimator
    # user switches estimators instead.
    ("regression targets must be numbers; use --task multiclass for class names",
     "NNRegressor targets must be numbers; use NNClassifier for class labels"),
)


@contextmanager
def estimator_wording() -> Iterator[None]:
    """Re-raise errors of shared code in the estimators' parameter names.

    A :class:`~nnbackend.errors.SettingError` is re-spelled from its template; other
    messages that name a command-line flag (``--batch-size``) get the parameter name of
    the same setting, both taken from the settings table.
    """
    try:
        yield
    except SettingError as exc:
        raise NNBackendError(exc.spelled(estimator_name)) from None
    except NNBackendError as exc:
        message = str(exc)
        for cli, estimator in _CLI_PHRASES:
            message = message.replace(cli, estimator)
        for setting in ESTIMATOR_SETTINGS.values():
            if setting.flag:
                message = re.sub(re.escape(setting.flag) + r"\b", str(setting.estimator),
                                 message)
        if message == str(exc):
            raise
        raise type(exc)(message) from None


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
    # The settings table's check and range (0 to 2**32 - 1), in the estimators' name.
    try:
        seed = None if random_state is None else check("seed", random_state)
    except SettingError as exc:
        raise NNBackendError(exc.spelled(estimator_name)) from None
    return host_rng(seed), seed


def training_options(params: EstimatorParameters) -> TrainingOptions:
    """The training loop's options from the estimator's parameters (checked by
    ``TrainingOptions.checked`` against the settings table when training starts)."""
    return TrainingOptions(**{name: getattr(params, estimator_name(name))
                              for name in TRAINING_SETTINGS})
