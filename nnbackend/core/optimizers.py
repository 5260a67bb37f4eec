"""Optimizers as functional updates: ``(params, grads, state, lr) -> (params, state)``.

Parameters, gradients and optimizer state are dicts of device arrays under the notes'
names (``W1``, ``dW1``, and ``vdW1``/``sdW1`` for the moving averages), so the state can
be checkpointed like the parameters. Hyper-parameters and bias corrections are Python
floats: a NumPy scalar would silently upcast float32 arrays to float64.

A stack of ``k`` models (:mod:`nnbackend.training.stack`) runs the same rules unchanged: its
parameters and moving averages carry a leading model axis, and any hyper-parameter (the
learning rate, ``beta1``, ``beta2``, ``epsilon``) may be a ``(k, 1, 1)`` device array of
per-model values, which broadcasts over each model's parameters. A rule written with
operators and element-wise functions (as all of these are) needs nothing more.

Updates are functional by default: they build new arrays and leave their inputs alone,
so early stopping can keep "the best parameters" as a plain reference, with no copy. A
caller that owns the old arrays may donate them (``donate_params``, ``donate_state``) to
have the update written into them instead; the training loop does that for arrays only it
refers to.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Protocol

from ..errors import NNBackendError

Array = Any
State = dict[str, Any]


class RuleUpdate(Protocol):
    """One parameter's new value and moving averages (see :class:`UpdateRule`)."""

    def __call__(self, opt: Optimizer, W: Array, dW: Array, moments: list[Array], lr: Any,
                 eps: Any, params_in_place: bool, state_in_place: bool, /, *, xp: Any
                 ) -> tuple[Array, list[Array]]: ...


@dataclass(frozen=True)
class UpdateRule:
    """An update rule: the moving averages it keeps and how it moves one parameter.

    Attributes
    ----------
    name : str
        ``--optimizer`` value.
    moments : tuple of str
        State-key prefixes of its moving averages (``vd`` -> ``vdW1``, ``vdb1``, ...).
    update : callable or None
        ``update(opt, W, dW, moments, lr, eps, params_in_place, state_in_place, *, xp) ->
        (W', moments')``; None for plain gradient descent, which is linear in the gradient
        (its learning rate rides on the gradients; see :meth:`Optimizer.step`).
    bias_corrected : bool
        Adam's bias corrections, folded into the step's factors (:meth:`Optimizer.factors`).
    """

    name: str
    moments: tuple[str, ...]
    update: RuleUpdate | None
    bias_corrected: bool = False


def _momentum(opt: Optimizer, W: Array, dW: Array, moments: list[Array], lr: Any, eps: Any,
              params_in_place: bool, state_in_place: bool, *, xp: Any
              ) -> tuple[Array, list[Array]]:
    """Momentum: ``v = beta1 v + (1 - beta1) dW``, ``W -= lr v``."""
    v = _average(moments[0], dW, opt.beta1, state_in_place)
    return _descend(W, v, lr, params_in_place), [v]


def _rmsprop(opt: Optimizer, W: Array, dW: Array, moments: list[Array], lr: Any, eps: Any,
             params_in_place: bool, state_in_place: bool, *, xp: Any
             ) -> tuple[Array, list[Array]]:
    """RMSprop: ``s = beta2 s + (1 - beta2) dW**2``, ``W -= lr dW / (sqrt(s) + eps)``."""
    s = _average(moments[0], dW * dW, opt.beta2, state_in_place)
    return _descend(W, dW, lr, params_in_place, s, eps, xp=xp), [s]


def _adam(opt: Optimizer, W: Array, dW: Array, moments: list[Array], lr: Any, eps: Any,
          params_in_place: bool, state_in_place: bool, *, xp: Any
          ) -> tuple[Array, list[Array]]:
    """Adam: both averages, ``W -= lr_t v / (sqrt(s) + eps_t)`` (corrections in the factors)."""
    v = _average(moments[0], dW, opt.beta1, state_in_place)
    s = _average(moments[1], dW * dW, opt.beta2, state_in_place)
    return _descend(W, v, lr, params_in_place, s, eps, xp=xp), [v, s]


#: Every update rule, by name: adding one is one entry here (and its test).
UPDATE_RULES: dict[str, UpdateRule] = {rule.name: rule for rule in (
    UpdateRule("gd", (), None),
    UpdateRule("momentum", ("vd",), _momentum),
    UpdateRule("rmsprop", ("sd",), _rmsprop),
    UpdateRule("adam", ("vd", "sd"), _adam, bias_corrected=True),
)}
OPTIMIZERS = tuple(UPDATE_RULES)


@dataclass(frozen=True)
class Update:
    """How an update may write: which arrays it may reuse, and how (see :meth:`Optimizer.step`).

    The default, :data:`FUNCTIONAL`, writes into nothing: new arrays come back and the
    inputs are untouched. The training loop passes one of four prepared instances per step.

    Attributes
    ----------
    donate_params, donate_state : bool
        The caller will not read the old parameters / moving averages again: the update
        may be written into them (as with JAX's ``donate_argnums``). A permission, not a
        promise: plain gradient descent returns new arrays.
    block_bytes : int or None
        With both donated, update momentum, RMSprop and Adam in row blocks of about this
        many bytes per array, so that all their passes over a block run in the CPU cache.
        The blocks are written through basic-slice views, which the standard leaves to the
        library: give it only for one whose slices are views (``Backend.update_block_bytes``
        says which).
    in_place : bool
        The update MUST be written into the given parameter and state arrays (which implies
        both donations). A captured CUDA graph needs this: its replays read and write the
        same memory every time.
    factors : (lr_t, eps_t) or None
        0-d device arrays (a stack's: ``(k, 1, 1)``) replacing :meth:`Optimizer.factors`'s
        two floats (a captured step refills them before each replay instead of baking one
        value in). Not used by plain gradient descent, whose learning rate rides on the
        gradients.
    """

    donate_params: bool = False
    donate_state: bool = False
    block_bytes: int | None = None
    in_place: bool = False
    factors: tuple[Array, Array] | None = None


#: Write into nothing: the default of :meth:`Optimizer.step`.
FUNCTIONAL = Update()


def donation_updates(mutable_arrays: bool, block_bytes: int | None
                     ) -> dict[tuple[bool, bool], Update]:
    """The four donation cases a loop picks from per step, made once (a frozen dataclass
    per step costs ~1.5 us of the flower's ~35 us iteration), by ``(params, state)``
    donated.

    Where arrays cannot be written in place (``Backend.mutable_arrays`` False: JAX) all
    four are :data:`FUNCTIONAL`: an in-place operator there rebinds a name instead of
    writing an array, so a donated update would lose the writes made through views (the
    row blocks) and leave the caller's arrays as they were.
    """
    return {(params, state): Update(params, state, block_bytes) if mutable_arrays
            else FUNCTIONAL for params in (False, True) for state in (False, True)}


@dataclass(frozen=True)
class Optimizer:
    """One of ``gd``, ``momentum``, ``rmsprop``, ``adam`` with its hyper-parameters.

    Attributes
    ----------
    name : str
        The update rule.
    beta1 : float or array
        Decay of the first moment (momentum's ``beta``, Adam's ``beta1``).
    beta2 : float or array
        Decay of the second moment (RMSprop's and Adam's ``beta2``).
    epsilon : float or array
        Added to ``sqrt(s)`` to avoid division by zero.

    For a stack of models each may be a ``(k, 1, 1)`` device array of per-model values
    (:func:`nnbackend.training.stack.ModelStack.optimizer` builds one); one model's are floats.
    """

    name: str = "gd"
    beta1: float | Array = 0.9
    beta2: float | Array = 0.999
    epsilon: float | Array = 1e-8

    def __post_init__(self) -> None:
        if self.name not in UPDATE_RULES:
            raise NNBackendError(f"unknown optimizer {self.name!r}; choose one of "
                                 f"{', '.join(OPTIMIZERS)}")

    @cached_property
    def rule(self) -> UpdateRule:
        """The update rule named ``name`` (looked up once: it is read on every step)."""
        return UPDATE_RULES[self.name]

    @property
    def moments(self) -> tuple[str, ...]:
        """Prefixes of the moving averages kept per parameter: ``vd`` (first), ``sd``."""
        return self.rule.moments

    def init(self, params: dict[str, Array], *, xp: Any) -> State:
        """Zero moving averages shaped like the parameters (none for ``gd``)."""
        state: State = {"t": 0}
        for name, value in params.items():
            for prefix in self.moments:
                state[f"{prefix}{name}"] = xp.zeros_like(value)
        return state

    @property
    def is_linear(self) -> bool:
        """True when the update is ``W - lr * dW``: lr can then scale the gradients."""
        return self.rule.update is None

    def factors(self, t: int, lr: float | Array) -> tuple[Any, Any]:
        """This step's learning rate and epsilon as the update applies them.

        For Adam the bias corrections are folded into two Python floats:
        ``lr * (v / c1) / (sqrt(s / c2) + eps) == lr_t * v / (sqrt(s) + eps_t)`` with
        ``lr_t = lr * sqrt(c2) / c1`` and ``eps_t = eps * sqrt(c2)``, which saves two passes
        over every parameter. The other rules use ``lr`` and ``epsilon`` as they are.

        Parameters
        ----------
        t : int
            The step being taken, counted from 1.
        lr : float or array
            The step's learning rate (after decay); a stack's may be per model.

        Returns
        -------
        lr_t, eps_t
            Python floats, or per-model arrays where a stack's hyper-parameters are.
        """
        if not self.rule.bias_corrected:
            return lr, self.epsilon
        c1, c2 = 1.0 - self.beta1**t, 1.0 - self.beta2**t
        # Per-model betas as arrays: ``** 0.5`` (NumPy and PyTorch take a sqrt). The array
        # power of ``beta**t`` may differ from Python's by an ulp: a stack that must equal
        # its single runs takes its corrections from stack.StackedOptimizer instead.
        root_c2 = math.sqrt(c2) if isinstance(c2, float) else c2**0.5
        return lr * root_c2 / c1, self.epsilon * root_c2

    def step(
        self, params: dict[str, Array], grads: dict[str, Array], state: State, lr: float, *,
        update: Update = FUNCTIONAL, xp: Any,
    ) -> tuple[dict[str, Array], State]:
        """Apply one update and return the new parameters and state.

        By default the update is functional: the inputs are left untouched and the result
        is new arrays. A caller that will never read the old parameters or state again can
        *donate* them (as with JAX's ``donate_argnums``): the update is then written into
        those arrays, which saves allocating and filling new ones. The training loop
        donates only arrays its own previous step created and nothing else refers to.

        Parameters
        ----------
        params : dict
            ``W1, b1, ...``.
        grads : dict
            ``dW1, db1, ...`` shaped like the parameters (never modified).
        state : dict
            From :meth:`init` or the previous step; ``t`` counts the steps taken.
        lr : float or array
            This step's learning rate (after decay); for a stack of models it may be a
            ``(k, 1, 1)`` array of per-model rates.
        update : Update
            Which arrays the update may (or must) write into, and how; by default none.
        xp : module
            The arrays' namespace (for ``sqrt``).

        Returns
        -------
        params, state : dict
            New dicts; their arrays are the donated ones where donated, else new.
        """
        t = state["t"] + 1
        new_state: State = {"t": t}
        new_params: dict[str, Array] = {}
        in_place = update.in_place
        rule = self.rule
        if rule.update is None:
            # Plain gradient descent, the notes' update: one pass, so writing in place
            # gains nothing (0.61 vs 0.63 ms on the wide benchmark's parameters), and on
            # tiny arrays NumPy's overlap check makes ``-=`` slower than ``-``; only a
            # captured graph needs it. (Only the fields it reads are read: this branch runs
            # every step of the notes' tiny network, where each lookup shows.)
            plain = isinstance(lr, float) and lr == 1.0  # lr already rides on dW (the loop)
            for name, W in params.items():
                dW = grads["d" + name]
                if not plain:
                    new_params[name] = _descend(W, dW, lr, in_place)
                elif in_place:
                    W -= dW
                    new_params[name] = W
                else:
                    new_params[name] = W - dW
            return new_params, new_state
        factors, block_bytes = update.factors, update.block_bytes
        donate_params = in_place or update.donate_params
        donate_state = in_place or update.donate_state
        step_lr, eps = self.factors(t, lr) if factors is None else factors
        prefixes = rule.moments
        # Row blocks need both donated (they are written through views); all parameters
        # share one dtype, so its size is looked up once per step. A stack's rows are its
        # models, whose per-model factors a block would have to slice too: stacks update
        # whole arrays.
        first = next(iter(params.values()))
        block_bytes = (block_bytes if donate_params and donate_state and first.ndim == 2
                       else None)
        itemsize = _itemsize(first, xp=xp) if block_bytes else 0
        for name, W in params.items():
            dW = grads["d" + name]
            moments = [state[prefix + name] for prefix in prefixes]
            rows = W.shape[0]
            block = max(1, block_bytes // (W.shape[-1] * itemsize)) if block_bytes else rows
            if block >= rows:
                W, moments = self._update(W, dW, moments, step_lr, eps, donate_params,
                                          donate_state, xp=xp)
            else:
                for start in range(0, rows, block):
                    part = (slice(start, min(start + block, rows)), ...)
                    self._update(W[part], dW[part], [m[part] for m in moments], step_lr, eps,
                                 True, True, xp=xp)
            new_params[name] = W
            for prefix, moment in zip(prefixes, moments, strict=True):
                new_state[prefix + name] = moment
        return new_params, new_state

    def _update(self, W: Array, dW: Array, moments: list[Array], lr: Any, eps: Any,
                params_in_place: bool, state_in_place: bool, *, xp: Any
                ) -> tuple[Array, list[Array]]:
        """One parameter's update with moving averages: ``(W, moments) -> (W', moments')``.

        ``lr`` and ``eps`` are the step's factors (Adam's bias-corrected ones for Adam).
        (Plain gradient descent is :meth:`step`'s short path.)
        """
        update = self.rule.update
        assert update is not None
        return update(self, W, dW, moments, lr, eps, params_in_place, state_in_place, xp=xp)


def _itemsize(x: Array, *, xp: Any) -> int:
    """Bytes per element of a floating-point array."""
    return int(xp.finfo(x.dtype).bits) // 8


# The helpers below use in-place operators (standard Array API) on arrays they have just
# created, and on the inputs only when those are donated. Each in-place operation saves
# allocating an array, and updating donated arrays keeps the working set at one copy of
# the parameters and state instead of two. Measured on the deep benchmark's Adam step
# (567k float32 parameters, this project's 2-core machine, medians of 7 interleaved runs):
# 6.77 ms for the plain expressions, 5.81 ms with in-place operations on fresh arrays,
# 4.71 ms donated.


def _average(old: Array, new: Array, beta: float, in_place: bool) -> Array:
    """The moving average ``beta * old + (1 - beta) * new``; written into ``old`` if asked."""
    if in_place:
        old *= beta
        average = old
    else:
        average = old * beta
    average += new * (1.0 - beta)
    return average


def _descend(W: Array, direction: Array, lr: Any, in_place: bool, s: Array | None = None,
             eps: Any = 0.0, *, xp: Any = None) -> Array:
    """``W - lr * direction``, or ``W - lr * direction / (sqrt(s) + eps)`` given ``s``.

    Written into ``W`` when ``in_place``; otherwise a new array. ``lr`` and ``eps`` are
    Python floats, or 0-d device arrays of ``W``'s dtype (a captured step's factors), or a
    stack's per-model ``(k, 1, 1)`` arrays.
    """
    if s is None and isinstance(lr, float) and lr == 1.0:  # gd: lr already rides on dW
        if in_place:
            W -= direction
            return W
        return W - direction
    # A fresh array holding -lr * step (or +lr * step when it is subtracted in place),
    # so the functional result can be accumulated into it without another allocation.
    scale = lr if in_place else -lr
    if s is None:
        step = direction * scale
    else:
        step = xp.sqrt(s)
        step += eps
        step = direction / step
        step *= scale
    if in_place:
        W -= step
        return W
    step += W
    return step


def make_optimizer(name: str, beta1: float = 0.9, beta2: float = 0.999,
                   epsilon: float = 1e-8) -> Optimizer:
    """Build an optimizer by name, checking its hyper-parameters.

    Raises
    ------
    NNBackendError
        For an unknown name or a beta outside ``[0, 1)``.
    """
    if name not in UPDATE_RULES:
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
