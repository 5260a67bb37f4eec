"""Optimizers as functional updates: ``(params, grads, state, lr) -> (params, state)``.

Parameters, gradients and optimizer state are dicts of device arrays under the notes'
names (``W1``, ``dW1``, and ``vdW1``/``sdW1`` for the moving averages), so the state can
be checkpointed like the parameters. Hyper-parameters and bias corrections are Python
floats: a NumPy scalar would silently upcast float32 arrays to float64.

Updates build new arrays instead of writing in place. That keeps every backend's
semantics identical (array-api-strict and read-only inputs have no surprises) and lets
early stopping keep "the best parameters" as a plain reference, with no copy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .errors import NNBackendError

Array = Any
State = dict[str, Any]


@dataclass(frozen=True)
class Optimizer:
    """One of ``gd``, ``momentum``, ``rmsprop``, ``adam`` with its hyper-parameters.

    Attributes
    ----------
    name : str
        The update rule.
    beta1 : float
        Decay of the first moment (momentum's ``beta``, Adam's ``beta1``).
    beta2 : float
        Decay of the second moment (RMSprop's and Adam's ``beta2``).
    epsilon : float
        Added to ``sqrt(s)`` to avoid division by zero.
    """

    name: str = "gd"
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8

    def init(self, params: dict[str, Array], xp: Any) -> State:
        """Zero moving averages shaped like the parameters (none for ``gd``)."""
        state: State = {"t": 0}
        for name, value in params.items():
            if self.name in ("momentum", "adam"):
                state[f"vd{name}"] = xp.zeros_like(value)
            if self.name in ("rmsprop", "adam"):
                state[f"sd{name}"] = xp.zeros_like(value)
        return state

    @property
    def is_linear(self) -> bool:
        """True when the update is ``W - lr * dW``: lr can then scale the gradients."""
        return self.name == "gd"

    def step(
        self, params: dict[str, Array], grads: dict[str, Array], state: State, lr: float,
        xp: Any,
    ) -> tuple[dict[str, Array], State]:
        """Apply one update and return the new parameters and state.

        Parameters
        ----------
        params : dict
            ``W1, b1, ...``.
        grads : dict
            ``dW1, db1, ...`` shaped like the parameters.
        state : dict
            From :meth:`init` or the previous step; ``t`` counts the steps taken.
        lr : float
            This step's learning rate (after decay).
        xp : module
            The arrays' namespace (for ``sqrt``).
        """
        t = state["t"] + 1
        new_state: State = {"t": t}
        new_params: dict[str, Array] = {}
        b1, b2, eps = self.beta1, self.beta2, self.epsilon
        if self.name == "adam":
            # Bias corrections folded into two Python floats, once per step:
            # lr * (v / c1) / (sqrt(s / c2) + eps) == lr_t * v / (sqrt(s) + eps_t) with
            # lr_t = lr * sqrt(c2) / c1 and eps_t = eps * sqrt(c2): two passes over every
            # parameter fewer.
            c1, root_c2 = 1.0 - b1**t, math.sqrt(1.0 - b2**t)
            lr_t, eps_t = lr * root_c2 / c1, eps * root_c2
        for name, W in params.items():
            dW = grads["d" + name]
            if self.name == "gd":
                # A step of exactly 1 needs no multiply: the training loop folds lr into the
                # gradients (scale= of backward_propagation) for plain gradient descent.
                new_params[name] = W - dW if lr == 1.0 else W - lr * dW
            elif self.name == "momentum":
                v = b1 * state[f"vd{name}"] + (1.0 - b1) * dW
                new_state[f"vd{name}"] = v
                new_params[name] = W - lr * v
            elif self.name == "rmsprop":
                s = b2 * state[f"sd{name}"] + (1.0 - b2) * (dW * dW)
                new_state[f"sd{name}"] = s
                new_params[name] = W - lr * dW / (xp.sqrt(s) + eps)
            else:  # adam
                v = b1 * state[f"vd{name}"] + (1.0 - b1) * dW
                s = b2 * state[f"sd{name}"] + (1.0 - b2) * (dW * dW)
                new_state[f"vd{name}"], new_state[f"sd{name}"] = v, s
                new_params[name] = W - lr_t * v / (xp.sqrt(s) + eps_t)
        return new_params, new_state


OPTIMIZERS = ("gd", "momentum", "rmsprop", "adam")


def make_optimizer(name: str, beta1: float = 0.9, beta2: float = 0.999,
                   epsilon: float = 1e-8) -> Optimizer:
    """Build an optimizer by name, checking its hyper-parameters.

    Raises
    ------
    NNBackendError
        For an unknown name or a beta outside ``[0, 1)``.
    """
    if name not in OPTIMIZERS:
        raise NNBackendError(f"unknown optimizer {name!r}; choose one of {', '.join(OPTIMIZERS)}")
    for label, beta in (("beta1", beta1), ("beta2", beta2)):
        if not 0.0 <= beta < 1.0:
            raise NNBackendError(f"{label} must be in [0, 1), got {beta}")
    if not epsilon > 0:
        raise NNBackendError(f"epsilon must be positive, got {epsilon}")
    return Optimizer(name, float(beta1), float(beta2), float(epsilon))


def decayed_learning_rate(lr0: float, decay_rate: float, epoch: int, every: int = 1) -> float:
    """The course's learning-rate decay, counted in completed epochs.

    ``lr0 / (1 + decay_rate * floor(epoch / every))``: with ``every = 1`` this is
    inverse-time decay (every epoch), with ``every > 1`` step decay (every ``every``
    epochs). ``decay_rate = 0`` keeps ``lr0``.
    """
    return lr0 / (1.0 + decay_rate * (epoch // every))
