"""Many networks at once: a model trained in a stack equals its own single run.

Each single run is the real training loop (``nnbackend.train``, as ``nnbackend train`` runs
it: one generator for the weights, the shuffles and the masks); the stack is the same
``train_step`` called in a plain loop on stacked parameters
(:class:`nnbackend.training.stack.ModelStack`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnbackend as nb
from nnbackend.core.activations import HIDDEN_ACTIVATIONS, get_hidden_activation
from nnbackend.core.backend import Backend
from nnbackend.core.gradcheck import gradient_check
from nnbackend.core.losses import OUTPUT_LAYERS
from nnbackend.core.metrics import output_accuracy
from nnbackend.core.network import Network, compute_cost, forward_propagation
from nnbackend.core.optimizers import OPTIMIZERS, Optimizer
from nnbackend.errors import NNBackendError
from nnbackend.training.stack import ModelStack
from nnbackend.training.step import Batch, StepSpec, train_step

#: max |parameter difference| allowed between a stacked model and its single run (float64).
EXACT = 1e-12


def steps_for(backend: Backend, numpy_steps: int) -> int:
    """Fewer steps where a backend is slow (array-api-strict ~12x, PyTorch ~2x NumPy)."""
    name = backend.name
    return numpy_steps if name == "numpy" else numpy_steps // (10 if "strict" in name else 2)


def skip_torch_amplified(backend: Backend, optimizer: str, task: str) -> None:
    """Where PyTorch cannot reach :data:`EXACT`: a one-output model under RMSprop or Adam.

    PyTorch computes such a model's ``db[L] = dZ[L] @ ones``, a (1, m) @ (m, 1) product,
    with a kernel that no batched product reaches: the stack's sum differs by about 1e-17.
    On the balanced flower that sum is nearly zero, and RMSprop and Adam divide by the
    gradients' own size: the first step already differs by 4e-12, 1,000 steps by 6e-5.
    Two outputs (the multiclass cases) take the same kernel in both and stay exact.

    JAX goes further: XLA compiles a stack and a single model into different programs
    (each step is compiled whole, its products and sums fused differently), for one
    output or two; under RMSprop and Adam the ulps grow to 7e-9 in 500 flower steps
    (measured; gradient descent and momentum stay within 1e-12). Eager JAX steps are no
    closer (7e-5: a batched product's kernel differs, as PyTorch's).
    """
    if optimizer in ("rmsprop", "adam") and (
            backend.name == "jax" or backend.name == "torch" and task == "binary"):
        pytest.skip(f"{backend.name} computes a stack's products with other kernels than "
                    "a single model's; RMSprop and Adam amplify the ulps (see the docstring)")


def flower(backend: Backend, m: int | None = None, task: str = "binary"
           ) -> tuple[Any, Any]:
    """The course's flower data on ``backend``: rows ``X (m, 2)``, targets ``Y (1, m)``
    (``(2, m)`` one-hot for ``multiclass``)."""
    X, y = nb.load_dataset("flower")
    Y = nb.encode_targets(y, task).Y
    if m is not None:
        X, Y = X[:m], Y[:, :m]
    return backend.asarray(X), backend.asarray(Y)


def single_run(backend: Backend, X: Any, Y: Any, sizes: tuple[int, ...], seed: int,
               activation: str = "tanh", init_scale: float = 1.0, task: str = "binary",
               **options: Any) -> dict[str, Any]:
    """One model trained by the real loop, as ``nnbackend train`` does (one generator)."""
    rng = nb.host_rng(seed)
    net = Network.create(sizes, backend, activation, task, "small", rng=rng,
                         init_scale=init_scale)
    nb.train(net, X, Y, nb.TrainingOptions(**options), rng=rng)
    return net.params


def max_difference(stacked: dict[str, Any], single: dict[str, Any], backend: Backend) -> float:
    return max(float(np.max(np.abs(backend.to_host(stacked[name])
                                   - backend.to_host(single[name])))) for name in single)


def stacked_run(stack: ModelStack, X: Any, Y: Any, steps: int, optimizer: str = "gd", *,
                lr: Any = 1.2, l2: Any = 0.0, keep_prob: Any = 1.0, init_scale: Any = 1.0,
                batch_size: int | None = None, task: str = "binary", **betas: Any
                ) -> tuple[dict[str, Any], dict[str, Any]]:
    """The stack trained by ``train_step`` in a plain loop: full batch, or mini-batches
    with each model's own epoch permutation (as the training loop draws them). Returns
    the parameters and the optimizer state."""
    backend = stack.backend
    xp = backend.xp
    params = stack.init_params(init_scale=init_scale)
    opt = stack.optimizer(optimizer, **betas)
    spec = StepSpec(stack.hidden, OUTPUT_LAYERS[task], opt, stack.per_model(l2, "l2"))
    state = opt.init(params, xp=xp)
    rate = stack.per_model(lr, "lr")
    m = X.shape[0]
    batch = m if batch_size is None else batch_size
    step, order = 0, None
    while step < steps:
        if batch < m:
            order = stack.permutations(m)
        for start in range(0, m, batch):
            if step == steps:
                break
            end = min(start + batch, m)
            masks = stack.masks(end - start, keep_prob)
            if order is None:
                Xb, Yb = X, Y
            else:
                Xb, Yb = stack.gather(X, Y, order[:, start:end])
            ones = xp.ones_like(X[:end - start, :1])
            params, state, _ = train_step(params, state, Batch(Xb, Yb, masks, ones), rate,
                                          spec, xp=xp)
            step += 1
    return params, state


@pytest.mark.parametrize("optimizer", OPTIMIZERS)
@pytest.mark.parametrize("regularised", [False, True], ids=["plain", "dropout-l2"])
@pytest.mark.parametrize("task", ["binary", "multiclass"])
def test_stacked_models_equal_their_single_runs(backend64: Backend, optimizer: str,
                                                regularised: bool, task: str) -> None:
    """Mixed seeds, learning rates, init scales, betas, epsilons and (regularised) keep_prob
    and L2 strengths: every model of the stack ends where its own single run ends."""
    skip_torch_amplified(backend64, optimizer, task)
    X, Y = flower(backend64, task=task)
    n_out = Y.shape[0]
    steps = steps_for(backend64, 1000)
    seeds, scales = [3, 4, 5], [1.0, 2.0, 1.0]
    lrs = [1.2, 0.5, 0.9] if optimizer in ("gd", "momentum") else [0.01, 0.005, 0.02]
    beta1, beta2, eps = [0.9, 0.8, 0.95], [0.999, 0.99, 0.9], [1e-8, 1e-7, 1e-8]
    keep = [0.8, 1.0, 0.7] if regularised else [1.0] * 3
    l2 = [0.3, 0.0, 0.1] if regularised else [0.0] * 3
    stack = ModelStack([(2, 4, n_out)] * 3, backend64, get_hidden_activation("tanh"), seeds)
    stacked, _ = stacked_run(stack, X, Y, steps, optimizer, lr=lrs, l2=l2, keep_prob=keep,
                          init_scale=scales, beta1=beta1, beta2=beta2, epsilon=eps,
                          task=task)
    for i in range(3):
        # A single run takes only the moving-average settings its optimizer has (the others
        # are refused there; the stack ignores them as the optimizer does).
        moments = {name: values[i] for name, values, used_by in (
            ("beta1", beta1, ("momentum", "adam")), ("beta2", beta2, ("rmsprop", "adam")),
            ("epsilon", eps, ("rmsprop", "adam"))) if optimizer in used_by}
        single = single_run(backend64, X, Y, (2, 4, n_out), seeds[i], init_scale=scales[i],
                            task=task, learning_rate=lrs[i], iterations=steps,
                            optimizer=optimizer, **moments, keep_prob=keep[i], l2=l2[i])
        assert max_difference(stack.model(stacked, i), single, backend64) <= EXACT, i


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_stacked_mini_batches_equal_single_runs(backend64: Backend, optimizer: str) -> None:
    """Per-model epoch permutations (per-model batches ``(k, b, n[0])``) with dropout: each
    model sees exactly the batches and masks of its single run."""
    skip_torch_amplified(backend64, optimizer, "binary")
    X, Y = flower(backend64)
    steps = steps_for(backend64, 200)
    seeds, keep = [3, 11], [0.9, 0.8]
    lrs = [0.5, 0.3] if optimizer == "gd" else [0.01, 0.02]
    stack = ModelStack([(2, 5, 3, 1)] * 2, backend64, get_hidden_activation("relu"), seeds)
    stacked, _ = stacked_run(stack, X, Y, steps, optimizer, lr=lrs, keep_prob=keep,
                          batch_size=64)
    for i in range(2):
        single = single_run(backend64, X, Y, (2, 5, 3, 1), seeds[i], "relu",
                            learning_rate=lrs[i], iterations=steps, batch_size=64,
                            optimizer=optimizer, keep_prob=keep[i])
        assert max_difference(stack.model(stacked, i), single, backend64) <= EXACT, i


@pytest.mark.parametrize("optimizer", ["gd", "momentum"])
def test_padded_hidden_sizes_equal_single_runs(backend64: Backend, optimizer: str) -> None:
    """The course's hidden sizes in one stack padded to 50 units (sigmoid, whose
    g(0) = 0.5 needs the unit masks, with dropout on two models) equal their single runs.

    Padding lengthens the inner sums of the products after a padded layer, and BLAS may
    add the same terms in another order there (1 ulp: OpenBLAS's one-row products of
    length 3 or 7, measured). Gradient descent and momentum keep that at 1e-13 over 1,000
    flower steps; RMSprop and Adam, which divide by the gradients' own size, can amplify
    it (3 hidden units: 2e-4), so for them padding is exact only to rounding (see
    docs/math.md).
    """
    X, Y = flower(backend64)
    steps = steps_for(backend64, 1000)
    hidden = (1, 2, 3, 4, 5, 20, 50)
    keep = [1.0, 0.9, 1.0, 1.0, 0.8, 1.0, 1.0]
    lr = 1.2
    stack = ModelStack([(2, n, 1) for n in hidden], backend64,
                       get_hidden_activation("sigmoid"), range(1, 8))
    assert stack.unit_masks is not None and stack.width == (2, 50, 1)
    stacked, _ = stacked_run(stack, X, Y, steps, optimizer, lr=lr, keep_prob=keep)
    for i, n in enumerate(hidden):
        single = single_run(backend64, X, Y, (2, n, 1), i + 1, "sigmoid",
                            learning_rate=lr, iterations=steps, optimizer=optimizer,
                            keep_prob=keep[i])
        assert max_difference(stack.model(stacked, i), single, backend64) <= EXACT, n


@pytest.mark.parametrize("activation", list(HIDDEN_ACTIVATIONS))
@pytest.mark.parametrize("optimizer", OPTIMIZERS)
def test_padded_units_stay_exactly_zero(backend: Backend, activation: str,
                                        optimizer: str) -> None:
    """Every activation and update rule, with L2 and dropout: the padding of a model never
    moves off zero (its weights, biases and moving averages)."""
    X, Y = flower(backend, 100)
    sizes = [(2, 3, 2, 1), (2, 6, 4, 1)]
    stack = ModelStack(sizes, backend, get_hidden_activation(activation), [1, 2])
    lr = 0.5 if optimizer in ("gd", "momentum") else 0.01
    params, state = stacked_run(stack, X, Y, 20, optimizer, lr=lr, l2=[0.5, 0.1],
                                keep_prob=[0.8, 1.0])
    arrays = {**params, **{name: value for name, value in state.items() if name != "t"}}
    assert len(arrays) == 6 * (1 + len(stack.optimizer(optimizer).moments))
    for name, value in arrays.items():
        host = backend.to_host(value)
        W = name.lstrip("dvs")  # W2 of vdW2
        l = int(W[1:])  # noqa: E741
        # Model 0's padding: the rows of its padded units in layer l, and the columns that
        # read its padded units of layer l - 1.
        rows, columns = stack.sizes[0][l], stack.sizes[0][l - 1]
        assert np.all(host[0, rows:] == 0.0), name
        if W.startswith("W"):
            assert np.all(host[0, :, columns:] == 0.0), name
    assert np.any(backend.to_host(params["W1"])[0, :3] != 0.0)  # the real units trained


def test_per_model_costs_and_accuracies(backend64: Backend) -> None:
    """Costs (with L2) and accuracies come back as ``(k,)`` device arrays, each model's
    equal to its single network's."""
    X, Y = flower(backend64)
    xp = backend64.xp
    sizes, seeds, l2 = [(2, 4, 1), (2, 2, 1), (2, 9, 1)], [3, 4, 5], [0.5, 0.0, 2.0]
    stack = ModelStack(sizes, backend64, get_hidden_activation("sigmoid"), seeds)
    params = stack.init_params(init_scale=[100.0, 50.0, 80.0])  # accuracies away from 0.5
    output = OUTPUT_LAYERS["binary"]
    cache = forward_propagation(params, X.T, stack.hidden, output, stack.unit_masks, xp=xp)
    costs = compute_cost(params, cache, Y, output, stack.per_model(l2), xp=xp)
    accuracies = output_accuracy("binary", cache.A[-1], Y, xp=xp)
    assert costs.shape == (3,) and accuracies.shape == (3,)
    # The training step's batch statistics (the records' sums) are per model too.
    spec = StepSpec(stack.hidden, output, stack.optimizer(), 0.0)
    batch = Batch(X, Y, stack.unit_masks, xp.ones_like(X[:, :1]))
    stats = train_step(params, {"t": 0}, batch, 0.1, spec, with_stats=True, xp=xp)[2]
    assert stats is not None and stats.hits_sum is not None
    m = X.shape[0]
    np.testing.assert_allclose(backend64.to_host(stats.cost_sum),
                               backend64.to_host(output.cost(cache.Z[-1], Y, xp=xp)) * m,
                               rtol=1e-15)
    np.testing.assert_array_equal(backend64.to_host(stats.hits_sum),
                                  backend64.to_host(accuracies) * m)
    for i, (s, seed) in enumerate(zip(sizes, seeds, strict=True)):
        net = Network.create(s, backend64, "sigmoid", seed=seed,
                             init_scale=[100.0, 50.0, 80.0][i])
        single = net.forward(X.T)
        J = backend64.to_float(net.cost(single, Y, l2[i]))
        acc = backend64.to_float(output_accuracy("binary", single.A[-1], Y, xp=xp))
        assert backend64.to_host(costs)[i] == pytest.approx(J, rel=1e-13)
        assert backend64.to_host(accuracies)[i] == acc


def test_gradient_check_of_a_padded_stack(reference: Backend) -> None:
    """The analytic backward pass of a padded sigmoid stack, per-model L2 and per-model
    data, agrees with central differences of the sum of the models' costs."""
    X, Y = flower(reference, 30)
    sizes = [(2, 3, 1), (2, 5, 1)]
    stack = ModelStack(sizes, reference, get_hidden_activation("sigmoid"), [1, 2])
    params = stack.init_params(init="xavier")
    Xk, Yk = stack.gather(X, Y, np.stack([np.arange(30), np.arange(30)[::-1]]))
    net = Network(stack.width, stack.hidden, OUTPUT_LAYERS["binary"], reference, params)
    l2 = stack.per_model([0.3, 0.7])
    result = gradient_check(net, Xk, Yk, l2=l2, masks=stack.unit_masks)
    assert result.passed, result
    assert set(result.per_parameter) == {"W1", "b1", "W2", "b2"}


def test_stack_rejects_what_cannot_share_it(reference: Backend) -> None:
    tanh = get_hidden_activation("tanh")
    with pytest.raises(NNBackendError, match="one depth and the same input and output"):
        ModelStack([(2, 4, 1), (2, 4, 4, 1)], reference, tanh)
    with pytest.raises(NNBackendError, match="one seed per model"):
        ModelStack([(2, 4, 1)] * 2, reference, tanh, [1])
    stack = ModelStack([(2, 4, 1)] * 2, reference, tanh)
    with pytest.raises(NNBackendError, match="3 values of lr for 2 models"):
        stack.per_model([0.1, 0.2, 0.3], "lr")
    with pytest.raises(NNBackendError, match="beta1 must be in"):
        stack.optimizer("adam", beta1=[0.9, 1.5])
    # Shared values stay Python floats (the single run's own numbers, no array operation).
    assert stack.per_model([0.5, 0.5]) == 0.5 and isinstance(stack.per_model(0.5), float)


def test_adam_factors_with_per_model_betas(reference: Backend) -> None:
    """An Optimizer given per-model arrays computes each model's bias-corrected factors (to
    an ulp of the array power); the stack's own optimizer computes them exactly."""
    betas = [(0.9, 0.999, 1e-8), (0.8, 0.99, 1e-7)]
    stack = ModelStack([(2, 4, 1)] * 2, reference, get_hidden_activation("tanh"))
    b1, b2, eps = ([b[j] for b in betas] for j in range(3))
    generic = Optimizer("adam", *(stack.per_model(v) for v in (b1, b2, eps)))
    exact = stack.optimizer("adam", b1, b2, eps)
    lr = stack.per_model([0.01, 0.02])
    for t in (1, 2, 7, 100):
        for i, (beta1, beta2, epsilon) in enumerate(betas):
            want = Optimizer("adam", beta1, beta2, epsilon).factors(t, [0.01, 0.02][i])
            got = [float(np.asarray(f)[i, 0, 0]) for f in generic.factors(t, lr)]
            assert got == pytest.approx(want, rel=1e-15)
            assert [float(np.asarray(f)[i, 0, 0]) for f in exact.factors(t, lr)] == list(want)


def test_keep_dA_of_a_stack_is_each_models_own(backend64: Backend) -> None:
    """``backward_propagation(..., keep_dA=True)`` on stacked parameters: each model's
    ``dA[l]`` equals its own single network's (a stack's ``W`` is transposed per model)."""
    from nnbackend.core.network import backward_propagation

    xp = backend64.xp
    X, Y = flower(backend64, m=40)
    hidden = get_hidden_activation("tanh")
    output = OUTPUT_LAYERS["binary"]
    singles = [Network.create((2, 5, 3, 1), backend64, seed=seed, init="random").params
               for seed in (3, 4)]
    stacked = {name: xp.stack([p[name] for p in singles]) for name in singles[0]}
    cache = forward_propagation(stacked, X.T, hidden, output, xp=xp)
    grads = backward_propagation(stacked, cache, Y, hidden, keep_dA=True, xp=xp)
    for i, params in enumerate(singles):
        own = backward_propagation(params, forward_propagation(params, X.T, hidden, output,
                                                               xp=xp),
                                   Y, hidden, keep_dA=True, xp=xp)
        for name in ("dA0", "dA1", "dA2"):
            got = backend64.to_host(grads[name][i, ...])
            assert np.max(np.abs(got - backend64.to_host(own[name]))) <= EXACT, name
