"""The L-layer network of the notes: forward propagation, backward propagation, update.

Inside the math the notes' column convention holds: ``A[0] = X`` has shape ``(n[0], m)``,
``W[l]`` is ``(n[l], n[l-1])``, ``b[l]`` is ``(n[l], 1)``::

    forward   Z[l] = W[l] @ A[l-1] + b[l];   A[l] = g[l](Z[l])
    output    dZ[L] = A[L] - Y
    backward  dW[l] = dZ[l] @ A[l-1].T / m;   db[l] = sum(dZ[l], axis=1, keepdims=True) / m
              dA[l-1] = W[l].T @ dZ[l];       dZ[l-1] = dA[l-1] * g'[l-1](Z[l-1])
    update    W[l] = W[l] - lr * dW[l];       b[l] = b[l] - lr * db[l]

The 2-layer shallow network (tanh hidden layer, sigmoid output) is the case ``L = 2``.
The public methods take examples as rows, ``X`` of shape ``(m, n[0])``, and hand the math
``X.T``: a free view, so data stays row-major in memory (fast mini-batch slicing) while
the equations read exactly as in the notes.

The same functions train a stack of ``k`` networks at once (:mod:`nnbackend.training.stack`):
every array then has a leading model axis (``W[l]`` is ``(k, n[l], n[l-1])``, ``A[l]`` is
``(k, n[l], m)``, ``X`` is shared or ``(k, n[0], m)``), ``@`` broadcasts over it, the
transposes become the standard's ``matrix_transpose`` and costs come back per model.

Only operators (``@``, ``*``, ``.T`` on 2-D arrays) and standard functions of the
namespace ``xp`` are used, so NumPy, CuPy, PyTorch and array-api-strict run this code
unchanged. In-place operators (``+=``, ``*=``, standard too) write only into arrays the
same function has just made, never into parameters, data or a cache it was given.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any, NamedTuple

from ..errors import NNBackendError
from .activations import Activation, get_hidden_activation
from .axes import is_float, matrix_transposer
from .backend import Backend, host_rng
from .initializers import initialize_parameters
from .losses import OUTPUT_LAYERS, OutputLayer
from .regularization import l2_cost

Array = Any


@cache
def layer_names(L: int) -> tuple[tuple[str, str, str, str], ...]:
    """``(W{l}, b{l}, dW{l}, db{l})`` for ``l = 1..L``, built once per depth.

    The notes' names are dictionary keys on the hot path; formatting them anew in every
    iteration cost about 2 us of a 35 us flower iteration.
    """
    return tuple((f"W{l}", f"b{l}", f"dW{l}", f"db{l}") for l in range(1, L + 1))  # noqa: E741


class Cache(NamedTuple):
    """What backward propagation needs from the forward pass (index ``l = 0..L``).

    Attributes
    ----------
    Z : list
        ``Z[l]`` of shape ``(n[l], m)``; ``Z[0]`` is None.
    A : list
        ``A[l] = g(Z[l])``, before dropout (``g'`` is computed from it); ``A[0] = X``.
    A_in : list
        What layer ``l + 1`` consumed: ``A[l] * D[l]`` under dropout, else ``A[l]``.
    D : list or None
        Inverted-dropout masks already divided by ``keep_prob`` (None entries for the
        input and output layers), or None without dropout.
    """

    Z: list[Any]
    A: list[Any]
    A_in: list[Any]
    D: list[Any] | None


def forward_propagation(
    params: dict[str, Array], X: Array, hidden: Activation, output: OutputLayer,
    masks: list[Any] | None = None, *, xp: ModuleType,
) -> Cache:
    """Compute every layer's ``Z[l]`` and ``A[l]``.

    Parameters
    ----------
    params : dict
        ``W1, b1, ..., WL, bL``.
    X : array, shape (n[0], m)
        The input layer ``A[0]``, examples as columns. With stacked parameters (a leading
        model axis) it is shared, or per model ``(k, n[0], m)``.
    hidden, output
        ``g[1..L-1]`` and the output layer ``g[L]``.
    masks : list, optional
        Inverted-dropout masks ``D[l] / keep_prob`` of shape ``(n[l], m)`` for the hidden
        layers (see :func:`nnbackend.core.regularization.dropout_masks`); training only.
    xp : module
        The standard namespace of the arrays.

    Returns
    -------
    Cache
        ``A[L]`` (``cache.A[-1]``) is the network's output.
    """
    L = len(params) // 2
    Zs: list[Any] = [None]
    As: list[Any] = [X]
    A_in = As if masks is None else [X]
    A = X
    for l, (W, b, _, _) in enumerate(layer_names(L), start=1):  # noqa: E741 -- notes' index
        Z = params[W] @ A
        Z += params[b]  # into the product just made: one (n[l], m) allocation fewer
        g = output.activation if l == L else hidden
        A = g.forward(Z, xp=xp)
        Zs.append(Z)
        As.append(A)
        if masks is not None:
            if l < L:
                A = A * masks[l]  # inverted dropout: scaled so E[A] is unchanged
            A_in.append(A)
    return Cache(Zs, As, A_in, masks)


def _back_through(W: Array, dZ: Array, mT: Callable[[Array], Array] | None) -> Array:
    """``W[l].T @ dZ[l]``: the gradient reaching ``A[l-1]`` (a new array); ``mT`` is a
    stack's transpose (None: one model's ``.T``).

    Where layer ``l`` has one unit (a binary or one-target output layer), the product has
    an inner size of 1: each entry is one product and nothing is summed, so the
    broadcast product ``W.T * dZ`` gives the same numbers. NumPy's ``matmul`` of such an
    outer product is 2-3x slower than the broadcast: 42 against 20 us for the flower's
    50 hidden units, and 39 against 13 us for a stack of five flower models, where the
    matmul was the largest array operation of the step.
    """
    W_T = mT(W) if mT is not None else W.T
    return W_T * dZ if dZ.shape[-2] == 1 else W_T @ dZ


def backward_propagation(
    params: dict[str, Array], cache: Cache, Y: Array | None, hidden: Activation,
    l2: float = 0.0, *, dA_L: Array | None = None, output: OutputLayer | None = None,
    keep_dA: bool = False, ones: Array | None = None, scale: float = 1.0, xp: ModuleType,
) -> dict[str, Array]:
    """The notes' backward pass, from ``dZ[L] = A[L] - Y`` down to ``dW1, db1``.

    Parameters
    ----------
    params : dict
        ``W1, b1, ..., WL, bL``.
    cache : Cache
        From :func:`forward_propagation` on the same parameters.
    Y : array, shape (n[L], m)
        Targets in the output layer's encoding (0/1, one-hot, or real values); for a
        stack, shared or per model ``(k, n[L], m)``.
    hidden : Activation
        The hidden layers' ``g`` (its derivative is used).
    l2 : float or array
        L2 strength ``lambda``: adds ``lambda / m * W[l]`` to ``dW[l]`` (a stack's may be a
        ``(k, 1, 1)`` array of per-model strengths).
    dA_L : array, shape (n[L], m), optional
        Start from this ``dA[L] = dJ/dA[L]`` instead of the fused ``dZ[L] = A[L] - Y``
        (``Y`` is then unused): ``dZ[L] = dA[L] * g'[L](Z[L])``, the course's separate
        activation backward. Needs ``output`` with an element-wise derivative (sigmoid,
        identity; softmax has none).
    output : OutputLayer, optional
        The output layer, for ``dA_L``.
    keep_dA : bool
        Also return ``dA{l}`` for ``l = 0 .. L-1`` (and ``dA{L}`` when given), as the
        course's ``L_model_backward`` does: one more array per layer, for inspection.
        Under dropout a hidden layer's ``dA{l}`` is the course's
        ``backward_propagation_with_dropout`` one, after its mask: ``dA[l] * D[l] /
        keep_prob``.
    ones, scale
        Hooks for the training step (:func:`nnbackend.training.step.gradients`); their
        defaults give the notes' gradients. ``ones``: a column of ones of shape ``(m, 1)``
        in the arrays' dtype and device, reused from step to step (made here when not
        given). ``scale`` multiplies every gradient (default 1): plain gradient descent
        passes its learning rate, one multiply of ``dZ[L]`` instead of one per parameter
        (a stack's: a float or per-model ``(k, 1, 1)`` rates).
    xp : module
        The standard namespace of the arrays.

    Returns
    -------
    dict
        ``dW{l}`` shaped like ``W{l}`` and ``db{l}`` shaped like ``b{l}`` (and ``dA{l}``
        shaped like ``A[l]`` with ``keep_dA``).
    """
    Zs, As, A_in, masks = cache
    L = len(Zs) - 1
    m = As[L].shape[-1]
    # A stack of models (a leading model axis, see core/axes.py) transposes its last two
    # axes (mT); one model keeps the notes' .T (decided once per call).
    stacked = As[L].ndim > 2
    mT = matrix_transposer(As[L], xp=xp) if stacked else None
    # A stack's l2 may be a (k, 1, 1) array of per-model strengths (no truth value); one
    # model's is a float, tested as it is (no call added to the notes' hot path).
    penalised = (not isinstance(l2, (int, float)) or l2) if stacked else l2
    grads: dict[str, Array] = {}
    g_prime = hidden.derivative
    if g_prime is None:
        raise NNBackendError(f"{hidden.name} cannot be a hidden activation (no derivative)")
    if ones is None:
        ones = (mT(xp.ones_like(As[L][..., :1, :])) if mT is not None
                else xp.ones_like(As[0][:1, :]).T)
    names = layer_names(L)
    # The notes' 1/m of every dW[l] and db[l], applied once to dZ[L]: backpropagation is
    # linear in dZ[L], so each dZ[l] below is the notes' dZ[l] / m and the per-layer
    # divisions (two small array operations per layer) disappear.
    if dA_L is None:
        if Y is None:
            raise NNBackendError("backward_propagation needs Y, or dA_L and the output layer")
        dZ = As[L] - Y
        dZ *= scale / m  # into the difference just made: one allocation fewer
    else:
        derivative = None if output is None else output.activation.derivative
        if derivative is None:
            raise NNBackendError(
                "dA_L needs the output layer and an element-wise output derivative; "
                "softmax has none: start from dZ[L] = A[L] - Y (pass Y) instead")
        dZ = dA_L * derivative(Zs[L], As[L], xp=xp)
        dZ *= scale / m
        if keep_dA:
            grads[f"dA{L}"] = dA_L
    for l in range(L, 0, -1):  # noqa: E741 -- the notes' layer index
        W, _, dW_name, db_name = names[l - 1]
        dW = dZ @ (mT(A_in[l - 1]) if mT is not None else A_in[l - 1].T)
        if penalised:
            dW = dW + (l2 * scale / m) * params[W]
        grads[dW_name] = dW
        # sum(dZ, axis=1, keepdims=True) as a product with a column of ones: the same sum,
        # one BLAS call (2.5 us on the flower) instead of a reduction (6.5 us through
        # array-api-compat), and standard on every backend.
        grads[db_name] = dZ @ ones
        if keep_dA:
            # The notes' dA[l-1] (the 1/m and the scale folded into dZ taken back out);
            # under dropout the course's backward_propagation_with_dropout returns it
            # masked, dA[l-1] * D[l-1] / keep_prob: the gradient that reaches Z[l-1].
            dA_kept = _back_through(params[W], dZ, mT) * (m / scale)
            if masks is not None and masks[l - 1] is not None:
                dA_kept = dA_kept * masks[l - 1]
            grads[f"dA{l - 1}"] = dA_kept
        if l > 1:
            # In place into the product just made (nothing else refers to it): fewer
            # allocations of (n[l-1], m) arrays, about 5% of forward plus backward on the
            # deep benchmark's network (medians of 9, interleaved; noisy: 1-8%).
            dA_prev = _back_through(params[W], dZ, mT)
            if masks is not None:
                dA_prev *= masks[l - 1]  # only the kept units pass gradient
            dA_prev *= g_prime(Zs[l - 1], As[l - 1], xp=xp)
            dZ = dA_prev
    return grads


def compute_cost(params: dict[str, Array], cache: Cache, Y: Array, output: OutputLayer,
                 l2: float = 0.0, *, xp: ModuleType) -> Array:
    """The notes' ``compute_cost``: the loss from the logits ``Z[L]``, plus the L2 penalty.

    Parameters
    ----------
    params : dict
        The parameters ``cache`` was computed with (their ``W`` are penalised).
    cache : Cache
        A forward pass; only ``cache.Z[-1]``, shape ``(n[L], m)``, is used.
    Y : array, shape (n[L], m)
    output : OutputLayer
    xp : module
    l2 : float or array
        ``lambda`` of ``lambda / (2m) * sum W**2`` (0 = none); a stack's may be per model,
        ``(k, 1, 1)``.

    Returns
    -------
    array, shape () or (k,)
        On the arrays' device (one cost per model of a stack); read it only when it is
        needed (a GPU sync).
    """
    J = output.cost(cache.Z[-1], Y, xp=xp)
    if not is_float(l2) or l2:
        J = J + l2_cost(params, l2, Y.shape[-1], xp=xp)
    return J


def update_parameters(
    params: dict[str, Array], grads: dict[str, Array], learning_rate: float
) -> dict[str, Array]:
    """Gradient descent: ``W[l] - lr * dW[l]``, ``b[l] - lr * db[l]`` (a new dict).

    ``learning_rate`` must be a Python float: a NumPy scalar would silently upcast
    float32 parameters to float64.
    """
    return {name: value - learning_rate * grads["d" + name] for name, value in params.items()}


@dataclass
class Network:
    """A fully-connected network: its shape, activations, parameters and backend.

    Attributes
    ----------
    layer_sizes : tuple of int
        ``(n[0], ..., n[L])``.
    hidden : Activation
        ``g`` of every hidden layer.
    output : OutputLayer
        Output activation and loss (``binary``: sigmoid + cross-entropy, ``multiclass``:
        softmax + categorical cross-entropy, ``regression``: identity + MSE).
    backend : Backend
        Where the parameters live.
    params : dict
        ``W1, b1, ..., WL, bL`` on ``backend.device`` with ``backend.dtype``.
    """

    layer_sizes: tuple[int, ...]
    hidden: Activation
    output: OutputLayer
    backend: Backend
    params: dict[str, Array] = field(repr=False)

    @classmethod
    def create(
        cls,
        layer_sizes: Sequence[int],
        backend: Backend,
        hidden_activation: str = "tanh",
        task: str = "binary",
        init: str = "small",
        seed: int | None = 3,
        rng: Any = None,
        init_scale: float = 1.0,
    ) -> Network:
        """Build a network with freshly initialised parameters.

        Parameters
        ----------
        layer_sizes : sequence of int
            ``(n[0], n[1], ..., n[L])``, at least an input and an output size.
        backend : Backend
            From :func:`nnbackend.resolve_backend`.
        hidden_activation : str
            ``tanh`` (the notes'), ``relu``, ``leaky_relu``, ``sigmoid`` or ``identity``.
        task : str
            ``binary``, ``multiclass`` or ``regression``: picks the output layer.
        init : str
            ``small`` (the notes' ``randn * 0.01``), ``zeros``, ``xavier``, ``he`` or
            ``random`` (plain ``randn``, for ``init_scale``).
        seed : int or None
            Seeds the host generator when ``rng`` is not given.
        rng : numpy.random.RandomState, optional
            A generator to draw from (shared with shuffles and dropout of the same run).
        init_scale : float
            Multiplies the initializer's factor (``random`` with 10: the course's
            ``randn * 10``, the "too large" example).
        """
        sizes = tuple(int(n) for n in layer_sizes)
        if len(sizes) < 2 or any(n < 1 for n in sizes):
            raise NNBackendError(
                f"layer sizes must be at least two positive integers, got {list(sizes)}"
            )
        if task not in OUTPUT_LAYERS:
            raise NNBackendError(
                f"unknown task {task!r}; choose one of {', '.join(OUTPUT_LAYERS)}"
            )
        generator = host_rng(seed) if rng is None else rng
        params = initialize_parameters(sizes, init, generator, backend, init_scale)
        return cls(sizes, get_hidden_activation(hidden_activation), OUTPUT_LAYERS[task],
                   backend, params)

    @property
    def depth(self) -> int:
        """``L``: the number of layers with parameters (hidden layers + output)."""
        return len(self.layer_sizes) - 1

    def forward(self, X: Array) -> Cache:
        """:func:`forward_propagation` on this network; ``X`` is ``(n[0], m)``."""
        return forward_propagation(self.params, X, self.hidden, self.output, xp=self.backend.xp)

    def backward(self, cache: Cache, Y: Array) -> dict[str, Array]:
        """:func:`backward_propagation` on this network; ``Y`` is ``(n[L], m)``."""
        return backward_propagation(self.params, cache, Y, self.hidden, xp=self.backend.xp)

    def cost(self, cache: Cache, Y: Array, l2: float = 0.0) -> Array:
        """:func:`compute_cost` of a forward pass of this network's parameters."""
        return compute_cost(self.params, cache, Y, self.output, l2, xp=self.backend.xp)

    def predict_proba(self, X: Array) -> Array:
        """The output layer ``A[L]`` for examples as rows.

        Parameters
        ----------
        X : array, shape (m, n[0])
            On this network's device, in its dtype.

        Returns
        -------
        array, shape (m, n[L])
            Binary: ``P(y = 1)``; multiclass: class probabilities; regression: predictions.
        """
        return self.forward(X.T).A[-1].T

    def predict(self, X: Array) -> Array:
        """Class indices (binary: ``A > 0.5``; multiclass: argmax) or regression values.

        Parameters
        ----------
        X : array, shape (m, n[0])

        Returns
        -------
        array
            Shape ``(m,)`` of int64 class indices for classifiers, ``(m, n[L])`` of
            predictions for regression.
        """
        xp = self.backend.xp
        A = self.predict_proba(X)
        if self.output.task == "binary":
            return xp.astype(A[:, 0] > 0.5, xp.int64)
        if self.output.task == "multiclass":
            return xp.argmax(A, axis=1)
        return A
