"""Steps replayed as CUDA graphs give exactly the eager steps' results.

On the CPU backends a stand-in capture (replay = call the function again) exercises what
graphs need of the loop: every step works on the runner's static arrays, updated in
place; batch rows, dropout masks and Adam's factors are refilled before each replay; the
learning rate of plain gradient descent is baked in (a decay recaptures). A step that kept
a Python value from its capture, or returned new arrays instead of updating its own,
would drift from the eager run here. On a CUDA machine the same comparisons run through
PyTorch's real graphs.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from nnbackend.core.backend import Backend, GraphCapture, host_rng, resolve_backend
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets
from nnbackend.errors import NNBackendError
from nnbackend.training.trainer import Trainer, TrainingOptions, use_cuda_graphs

from .helpers import skip_unless_mutable

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)


def stand_in(backend: Backend) -> tuple[Backend, dict[str, int]]:
    """``backend`` with a capture whose replays call the captured function again."""
    calls = {"warm_up": 0, "capture": 0, "replay": 0}

    def warm_up(fn):
        calls["warm_up"] += 1
        return fn()

    def capture(fn):
        calls["capture"] += 1  # records only: nothing runs until a replay

        def replay() -> None:
            calls["replay"] += 1
            fn()

        return replay

    return dataclasses.replace(backend, graph_capture=GraphCapture(warm_up, capture)), calls


def fit(backend: Backend, options: TrainingOptions, layers=(2, 5, 1), graphs="off",
        validation=False):
    """Train on the flower; the history and the final parameters on the host."""
    net = Network.create(layers, backend, "tanh", "binary", "xavier", seed=3)
    X, Y = backend.asarray(X_FLOWER), backend.asarray(TARGETS.Y)
    val = (X[:80, :], Y[:, :80]) if validation else None
    trainer = Trainer(net, X, Y, options, host_rng(0), val, cuda_graph=graphs)
    result = trainer.run()
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    return history, {k: backend.to_host(v) for k, v in net.params.items()}, result


CONFIGS = {
    "notes-full-batch-gd": TrainingOptions(learning_rate=1.2, iterations=300, print_every=100),
    "adam-dropout-two-batch-sizes": TrainingOptions(
        learning_rate=0.01, optimizer="adam", batch_size=64, epochs=4, print_every=1,
        keep_prob=0.8, lr_decay=0.3),
    "gd-decay-recaptures": TrainingOptions(learning_rate=0.5, batch_size=100, epochs=3,
                                           print_every=1, lr_decay=1.0),
    "momentum-l2-patience": TrainingOptions(learning_rate=0.3, optimizer="momentum",
                                            batch_size=50, epochs=6, print_every=1, l2=0.2,
                                            patience=2),
    "rmsprop-regression-style-iterations": TrainingOptions(
        learning_rate=0.01, optimizer="rmsprop", batch_size=128, iterations=20,
        print_every=5),
}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_graphed_steps_equal_eager_steps_exactly(backend, name):
    skip_unless_mutable(backend)  # a graph's static arrays are written in place
    options = CONFIGS[name]
    validation = options.patience is not None
    eager_history, eager_params, _ = fit(backend, options, validation=validation)
    graphed, calls = stand_in(backend)
    history, params, result = fit(graphed, options, graphs="on", validation=validation)
    assert history == eager_history
    for key, value in eager_params.items():
        np.testing.assert_array_equal(params[key], value, err_msg=key)
    assert calls["capture"] >= 1 and calls["replay"] >= 1
    assert calls["warm_up"] + calls["replay"] == result.steps


def test_one_capture_per_batch_shape_and_learning_rate(reference):
    graphed, calls = stand_in(reference)
    # 400 rows in batches of 64: sizes 64 and 16, every epoch recorded (with statistics).
    fit(graphed, TrainingOptions(learning_rate=0.01, optimizer="adam", batch_size=64,
                                 epochs=5, print_every=1), graphs="on")
    assert calls == {"warm_up": 2, "capture": 2, "replay": 5 * 7 - 2}
    graphed, calls = stand_in(reference)
    # Plain gd bakes lr into the graph: a new rate (decay every epoch) is a new capture.
    fit(graphed, TrainingOptions(learning_rate=0.5, batch_size=200, epochs=4, print_every=1,
                                 lr_decay=1.0), graphs="on")
    assert calls == {"warm_up": 4, "capture": 4, "replay": 4}


def test_the_callers_arrays_are_never_written(reference):
    graphed, _ = stand_in(reference)
    net = Network.create((2, 4, 1), graphed, seed=3)
    before = {k: v.copy() for k, v in net.params.items()}
    X, Y = graphed.asarray(X_FLOWER), graphed.asarray(TARGETS.Y)
    initial = dict(net.params)
    Trainer(net, X, Y, TrainingOptions(iterations=20), cuda_graph="on").run()
    for key, value in initial.items():
        np.testing.assert_array_equal(value, before[key])


def test_modes_and_their_errors(reference):
    assert use_cuda_graphs("auto", reference) is False
    assert use_cuda_graphs("off", reference) is False
    with pytest.raises(NNBackendError, match="cuda_graph on cannot run on numpy on cpu, "
                                             "float64: CUDA graphs need a CUDA device"):
        use_cuda_graphs("on", reference)
    with pytest.raises(NNBackendError,
                       match="unknown cuda_graph 'sometimes'; choose one of auto, on, off"):
        use_cuda_graphs("sometimes", reference)
    graphed, _ = stand_in(reference)
    assert use_cuda_graphs("auto", graphed) is True


def test_the_command_line_says_when_steps_are_graphs(monkeypatch):
    from click.testing import CliRunner

    from nnbackend.cli import cli

    result = CliRunner().invoke(cli, ["train", "--cuda-graph", "on", "--iterations", "5"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: --cuda-graph on cannot run on numpy on cpu, float64: CUDA "
                             "graphs need a CUDA device; or use --cuda-graph auto\n")
    result = CliRunner().invoke(cli, ["train", "--iterations", "5", "--json"])
    assert '"cuda_graph": false' in result.stdout
    assert "CUDA graph" not in result.stderr


def torch_cuda() -> Backend:
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("no CUDA device for PyTorch")
    return resolve_backend("cuda", "torch", "float64")


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(CONFIGS))
def test_real_cuda_graphs_equal_eager_steps(name):
    backend = torch_cuda()
    options = CONFIGS[name]
    validation = options.patience is not None
    eager_history, eager_params, _ = fit(backend, options, validation=validation)
    history, params, _ = fit(backend, options, graphs="on", validation=validation)
    for mine, theirs in zip(history, eager_history, strict=True):
        assert mine.keys() == theirs.keys()
        for key in mine:
            assert mine[key] == pytest.approx(theirs[key], rel=1e-12, abs=1e-12), key
    for key, value in eager_params.items():
        np.testing.assert_allclose(params[key], value, rtol=1e-12, atol=1e-12, err_msg=key)


# -- stacks of models through the same runner ---------------------------------------------

def fit_stack(backend: Backend, sizes, seeds, options, activation="tanh", graphs="off",
              validation=False, data_on="device", task="binary", eager=False):
    """Train a stack on the flower through the one loop (data on the device, or host
    NumPy arrays streamed); its history and final stacked parameters on the host, and
    which models were frozen for what. ``eager``: never compile the step (JAX), for
    bit-for-bit comparisons of two programs that XLA would fuse differently."""
    from nnbackend.core.activations import get_hidden_activation
    from nnbackend.training.stack import ModelStack
    from nnbackend.training.stacked import StackedModels

    stack = ModelStack(sizes, backend, get_hidden_activation(activation), seeds)
    models = StackedModels(stack, options, task, has_validation=validation)
    targets = encode_targets(Y_FLOWER, task).Y
    if data_on == "host":
        X, Y = np.asarray(X_FLOWER, dtype=backend.dtype_name), targets.astype(
            backend.dtype_name)
    else:
        X, Y = backend.asarray(X_FLOWER), backend.asarray(targets)
    val = ((backend.asarray(X_FLOWER[:80]), backend.asarray(targets[:, :80]))
           if validation else None)
    trainer = Trainer(models.network, X, Y, options[0], validation=val, cuda_graph=graphs,
                      data_on=data_on, stack=models)
    if eager:
        trainer.compiled = False
    result = trainer.run()
    history = [{k: v for k, v in r.items() if k != "time"} for r in result.history]
    params = {k: backend.to_host(v) for k, v in models.network.params.items()}
    return history, params, result, (models.stopped_by, models.steps)


def stack_options(k: int, **each) -> list[TrainingOptions]:
    """``k`` models' options: ``each`` maps a setting to one value per model, or one for
    all (the stack's shared settings)."""
    return [TrainingOptions(**{name: value[i] if isinstance(value, list) else value
                               for name, value in each.items()}) for i in range(k)]


#: (sizes, seeds, options, hidden activation, with validation): what a stack's graphs must
#: reproduce. Rates differ per model (a static array) or are shared (baked in); a model
#: frozen by divergence has a rate of 0 from its record on.
STACKS = {
    "full-batch-gd-per-model-decay-one-diverges": (
        [(2, 4, 1), (2, 3, 1), (2, 4, 1)], [3, 4, 5],
        stack_options(3, learning_rate=[1.2, 0.5, 1e308], iterations=120, print_every=40,
                      lr_decay=[0.01, 0.0, 0.0]),
        "tanh", False),
    "full-batch-gd-shared-rate-padded-sigmoid": (
        [(2, 5, 1), (2, 2, 1)], [3, 7],
        stack_options(2, learning_rate=1.2, iterations=60, print_every=20), "sigmoid", False),
    "mini-batch-adam-dropout-per-model-betas-decay": (
        [(2, 5, 3, 1), (2, 4, 3, 1)], [3, 11],
        stack_options(2, learning_rate=[0.01, 0.02], optimizer="adam", batch_size=64,
                      epochs=3, print_every=1, keep_prob=[0.8, 1.0], beta1=[0.9, 0.8],
                      l2=[0.0, 0.2], lr_decay=[0.3, 0.0]),
        "relu", False),
    "mini-batch-gd-shared-decay-recaptures": (
        [(2, 4, 1), (2, 6, 1)], [1, 2],
        stack_options(2, learning_rate=0.5, batch_size=100, epochs=3, print_every=1,
                      lr_decay=1.0, keep_prob=0.9),
        "tanh", False),
    "momentum-early-stopping-freezes": (
        [(2, 4, 1), (2, 5, 1)], [3, 9],
        stack_options(2, learning_rate=[0.3, 2.5], optimizer="momentum", batch_size=50,
                      epochs=6, print_every=1, l2=0.2, patience=1),
        "tanh", True),
}


def assert_same_run(mine, theirs) -> None:
    """Histories and parameters equal bit for bit (NaN where NaN)."""
    history, params, _, stops = mine
    eager_history, eager_params, _, eager_stops = theirs
    np.testing.assert_equal(history, eager_history)
    assert stops == eager_stops
    for key, value in eager_params.items():
        np.testing.assert_array_equal(params[key], value, err_msg=key)


@pytest.mark.parametrize("name", list(STACKS))
def test_graphed_stack_equals_eager_stack_exactly(backend, name):
    skip_unless_mutable(backend)  # a graph's static arrays are written in place
    sizes, seeds, options, activation, validation = STACKS[name]
    eager = fit_stack(backend, sizes, seeds, options, activation, validation=validation)
    graphed, calls = stand_in(backend)
    mine = fit_stack(graphed, sizes, seeds, options, activation, graphs="on",
                     validation=validation)
    assert_same_run(mine, eager)
    assert calls["capture"] >= 1 and calls["replay"] >= 1
    assert calls["warm_up"] + calls["replay"] == mine[2].steps


def test_stack_freezes_and_decays_through_one_static_rate(reference):
    """Per-model rates are refilled in place: a frozen model (rate 0) and a decay
    recapture nothing, unlike a rate shared by every model, which is baked in."""
    sizes, seeds = [(2, 4, 1), (2, 3, 1), (2, 4, 1)], [3, 4, 5]
    options = stack_options(3, learning_rate=[1.2, 0.5, 1e308], iterations=120,
                            print_every=40, lr_decay=[0.5, 0.0, 0.0])
    graphed, calls = stand_in(reference)
    _, _, result, (stopped_by, _) = fit_stack(graphed, sizes, seeds, options, graphs="on")
    assert stopped_by == ["completed", "completed", "diverged"]
    # Full batch, no statistics: one warm-up, one capture, and replays for the rest.
    assert calls == {"warm_up": 1, "capture": 1, "replay": result.steps - 1}
    graphed, calls = stand_in(reference)
    shared = stack_options(2, learning_rate=0.5, batch_size=200, epochs=4, print_every=1,
                           lr_decay=1.0)
    fit_stack(graphed, [(2, 4, 1), (2, 6, 1)], [1, 2], shared, graphs="on")
    assert calls == {"warm_up": 4, "capture": 4, "replay": 4}


def test_auto_picks_graphs_for_a_stack_where_they_capture(reference):
    from nnbackend.core.activations import get_hidden_activation
    from nnbackend.training.stack import ModelStack
    from nnbackend.training.stacked import StackedModels

    graphed, _ = stand_in(reference)
    stack = ModelStack([(2, 4, 1), (2, 3, 1)], graphed, get_hidden_activation("tanh"))
    models = StackedModels(stack, stack_options(2, iterations=5), "binary")
    X, Y = graphed.asarray(X_FLOWER), graphed.asarray(TARGETS.Y)
    assert Trainer(models.network, X, Y, models.options[0], stack=models).use_graphs
    assert not Trainer(models.network, X, Y, models.options[0], stack=models,
                       cuda_graph="off").use_graphs


@pytest.mark.gpu
@pytest.mark.parametrize("name", list(STACKS))
def test_real_cuda_graphs_over_a_stack_equal_eager_stacks(name):
    backend = torch_cuda()
    sizes, seeds, options, activation, validation = STACKS[name]
    eager = fit_stack(backend, sizes, seeds, options, activation, validation=validation)
    mine = fit_stack(backend, sizes, seeds, options, activation, graphs="on",
                     validation=validation)
    assert mine[3] == eager[3]  # the same models stopped, for the same reasons, then
    for record, theirs in zip(mine[0], eager[0], strict=True):
        assert record.keys() == theirs.keys()
        for key in record:
            np.testing.assert_allclose(record[key], theirs[key], rtol=1e-12, atol=1e-12,
                                       err_msg=key)
    for key, value in eager[1].items():
        np.testing.assert_allclose(mine[1][key], value, rtol=1e-12, atol=1e-12, err_msg=key)
