"""The estimators' constructor parameters and scikit-learn's parameter API.

scikit-learn reads an estimator's parameters from the signature of its ``__init__``
(for ``get_params``, ``clone``, ``GridSearchCV`` and its checks), and asks that the
constructor store each argument unmodified and leave checking to ``fit``. Here the
parameters are one table of dataclass fields, and the dataclass writes that
``__init__``: an estimator that needs another default re-declares the field in a
dataclass subclass and gets a signature of its own (see ``NNRegressor.learning_rate``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Any, TypeVar

from ..errors import NNBackendError, SettingError
from ..training.settings import SETTINGS, check_known

P = TypeVar("P", bound="EstimatorParameters")

#: The settings the estimators take, by the estimators' name for each.
ESTIMATOR_SETTINGS = {s.estimator: s for s in SETTINGS.values() if s.estimator}


def _default(parameter: str) -> Any:
    """The settings table's default of an estimator parameter."""
    return ESTIMATOR_SETTINGS[parameter].default



# eq=False keeps identity equality and hashing, as scikit-learn estimators have;
# repr=False keeps the scikit-learn style repr below.
@dataclass(eq=False, repr=False)
class EstimatorParameters:
    """The constructor parameters of both estimators (documented in ``NNClassifier``)."""

    # Defaults from the settings table (nnbackend/training/settings.py), by the
    # estimators' spelling of each setting.
    hidden_layer_sizes: Any = _default("hidden_layer_sizes")
    activation: str = _default("activation")
    init: str = _default("init")
    init_scale: float = _default("init_scale")
    learning_rate: float = _default("learning_rate")
    iterations: int | None = _default("iterations")
    epochs: int | None = _default("epochs")
    batch_size: int | None = _default("batch_size")
    optimizer: str = _default("optimizer")
    beta1: float = _default("beta1")
    beta2: float = _default("beta2")
    epsilon: float = _default("epsilon")
    l2: float = _default("l2")
    keep_prob: float = _default("keep_prob")
    lr_decay: float = _default("lr_decay")
    lr_decay_every: int = _default("lr_decay_every")
    standardize: bool = _default("standardize")
    validation_fraction: float | None = _default("validation_fraction")
    patience: int | None = _default("patience")
    record_every: int | None = _default("record_every")
    random_state: Any = _default("random_state")
    device: str = _default("device")
    backend: str = _default("backend")
    dtype: str | None = _default("dtype")

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's keyword names, read as scikit-learn reads them."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their values.

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn compatibility; no parameter is an estimator.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self: P, **params: Any) -> P:
        """Set constructor parameters (checked at the next ``fit``); returns ``self``."""
        _refuse_unknown(type(self), params)
        for name, value in params.items():
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The class name and the parameters that differ from their defaults."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"


def _refuse_unknown(cls: type[EstimatorParameters], params: dict[str, Any]) -> None:
    """One line, with "did you mean", for keywords that are not ``cls``'s parameters."""
    try:
        check_known(params, cls._param_names(), cls.__name__)
    except SettingError as exc:  # its names are literal: the estimators' own
        raise NNBackendError(str(exc)) from None
