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

from ..errors import NNBackendError

P = TypeVar("P", bound="EstimatorParameters")


# eq=False keeps identity equality and hashing, as scikit-learn estimators have;
# repr=False keeps the scikit-learn style repr below.
@dataclass(eq=False, repr=False)
class EstimatorParameters:
    """The constructor parameters of both estimators (documented in ``NNClassifier``)."""

    hidden_layer_sizes: Any = (4,)
    activation: str = "tanh"
    init: str = "small"
    learning_rate: float = 1.2
    iterations: int | None = None
    epochs: int | None = None
    batch_size: int | None = None
    optimizer: str = "gd"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    l2: float = 0.0
    keep_prob: float = 1.0
    lr_decay: float = 0.0
    lr_decay_every: int = 1
    validation_fraction: float | None = None
    patience: int | None = None
    record_every: int | None = None
    random_state: Any = 3
    device: str = "auto"
    backend: str = "auto"
    dtype: str | None = None

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
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise NNBackendError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid "
                    f"parameters are: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        """The class name and the parameters that differ from their defaults."""
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"
