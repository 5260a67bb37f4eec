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
