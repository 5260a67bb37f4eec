"""Callbacks around the training loop, from Python: the order of the hooks, checkpoints
every N steps and at the end, Ctrl-C as a clean stop."""

from __future__ import annotations

import signal

import pytest

from nnbackend.core.backend import host_rng
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets
from nnbackend.training.callbacks import Callback, Checkpoints, StopOnInterrupt
from nnbackend.training.trainer import Trainer, TrainingOptions

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)


class Log(Callback):
    def __init__(self) -> None:
        self.events: list[str] = []

    def on_begin(self, trainer):
        self.events.append("begin")

    def on_step(self, trainer):
        self.events.append(f"step {trainer.state.step}")

    def on_record(self, trainer, record):
        self.events.append(f"record {record['epoch']}")

    def on_epoch_end(self, trainer):
        self.events.append(f"epoch {trainer.state.epoch}")

    def on_end(self, trainer, result):
        self.events.append(f"end {result.stop_reason}")


def trainer(reference, options, callbacks):
    net = Network.create((2, 3, 1), reference, seed=3)
    return Trainer(net, reference.asarray(X_FLOWER), reference.asarray(TARGETS.Y), options,
                   host_rng(0), callbacks=callbacks)


def test_hooks_run_in_order(reference):
    log = Log()
    trainer(reference, TrainingOptions(batch_size=200, epochs=2, print_every=1), [log]).run()
    assert log.events == ["begin", "step 1", "record 1", "epoch 1", "step 2", "step 3",
                          "record 2", "epoch 2", "step 4", "end completed 2 epochs (4 steps)"]


def test_checkpoints_every_n_steps_and_at_the_end(reference):
    saved = []
    every = Checkpoints(3, lambda t: saved.append(t.state.step))
    trainer(reference, TrainingOptions(iterations=7), [every]).run()
    assert saved == [3, 6, 7]


def test_ctrl_c_stops_after_the_current_step_and_the_handler_is_restored(reference):
    before = signal.getsignal(signal.SIGINT)

    class PressCtrlC(Callback):
        def on_step(self, trainer):
            if trainer.state.step == 5:
                signal.raise_signal(signal.SIGINT)

    result = trainer(reference, TrainingOptions(iterations=50),
                     [StopOnInterrupt(), PressCtrlC()]).run()
    assert result.steps == 5 and result.stop_reason == "interrupted after 5 iterations"
    assert signal.getsignal(signal.SIGINT) is before


def test_the_end_hook_runs_when_the_loop_raises(reference):
    ended = []

    class Boom(Callback):
        def on_step(self, trainer):
            raise RuntimeError("boom")

    class End(Callback):
        def on_end(self, trainer, result):
            ended.append(result)

    with pytest.raises(RuntimeError, match="boom"):
        trainer(reference, TrainingOptions(iterations=5), [Boom(), End()]).run()
    assert ended == [None]


def test_a_failing_begin_leaves_nothing_behind(reference):
    """Ctrl-C's handler is put back and no worker thread outlives the run."""
    import threading

    before = signal.getsignal(signal.SIGINT)

    class Broken(Callback):
        def on_begin(self, trainer):
            raise RuntimeError("no")

    net = Network.create((2, 3, 1), reference, seed=3)
    run = Trainer(net, X_FLOWER, TARGETS.Y, TrainingOptions(iterations=5, batch_size=50),
                  host_rng(0), data_on="host", callbacks=[StopOnInterrupt(), Broken()])
    with pytest.raises(RuntimeError, match="no"):
        run.run()
    assert signal.getsignal(signal.SIGINT) is before
    assert not [t for t in threading.enumerate() if t.name == "nnbackend-batch-gather"]


def test_torch_runs_hand_back_ordinary_tensors():
    """The loop runs under torch.inference_mode; what it returns accepts in-place updates."""
    pytest.importorskip("torch")
    from nnbackend.core.backend import resolve_backend

    backend = resolve_backend("cpu", "torch", "float64")
    net = Network.create((2, 3, 1), backend, seed=3)
    X, Y = backend.asarray(X_FLOWER), backend.asarray(TARGETS.Y)
    run = Trainer(net, X, Y, TrainingOptions(learning_rate=0.01, optimizer="adam",
                                             batch_size=100, epochs=2, print_every=1),
                  host_rng(0), validation=(X[:50], Y[:, :50]))
    run.run()
    net.params["W1"] += 1.0
    run.state.optimizer_state["vdW1"] += 1.0
    assert run.state.best_params is not None
    run.state.best_params["W1"] += 1.0
