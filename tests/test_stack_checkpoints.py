"""A stack of models stopped at any step and resumed from its checkpoint ends exactly
where the uninterrupted stack ends: parameters, records, each model's stop and best
record, bit for bit on the same backend; and a checkpoint never holds a model that is
still training with non-finite parameters."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from nnbackend.core.activations import get_hidden_activation
from nnbackend.core.backend import Backend
from nnbackend.errors import NNBackendError
from nnbackend.model.sweep_state import SweepCheckpoint
from nnbackend.persistence.checkpoints import save_checkpoint
from nnbackend.persistence.stack_checkpoints import (
    load_stack_checkpoint,
    read_sweep_file,
    save_stack_checkpoint,
    write_sweep_file,
)
from nnbackend.training.callbacks import Callback, Checkpoints
from nnbackend.training.divergence import DivergedError
from nnbackend.training.stack import ModelStack
from nnbackend.training.stacked import StackedModels
from nnbackend.training.trainer import Trainer, TrainingOptions, TrainingResult

from .test_stack import flower

ROWS = (0, 1, 2)


class StopAt(Callback):
    """Stop the run after step ``step``, as a stop signal does."""

    def __init__(self, step: int | None) -> None:
        self.step, self.taken = step, 0

    def on_step(self, trainer: Trainer) -> None:
        self.taken += 1  # steps this process took
        if trainer.state.step == self.step:
            trainer.request_stop()


def run(backend: Backend, data: Any, case: dict[str, Any], stop: int | None = None,
        keep: SweepCheckpoint | None = None
        ) -> tuple[StackedModels, TrainingResult, Trainer]:
    """One stack of ``case`` trained through the real loop, perhaps stopped at ``stop``
    and kept in (or resumed from) ``keep``."""
    (X, Y), validation = data
    stack = ModelStack(case["sizes"], backend, get_hidden_activation(case["activation"]),
                       case["seeds"])
    models = StackedModels(stack, case["options"], "binary",
                           has_validation=validation is not None)
    state = None if keep is None else keep.resumed_state(ROWS, models)
    callbacks = [StopAt(stop)] + ([] if keep is None else [keep.callback(ROWS, models)])
    trainer = Trainer(models.network, X, Y, case["options"][0], validation=validation,
                      stack=models, state=state, callbacks=callbacks)
    return models, trainer.run(), trainer


def without_time(value: Any) -> Any:
    """Records (and best records) without their wall-clock ``time``."""
    if isinstance(value, dict):
        return {k: without_time(v) for k, v in value.items() if k != "time"}
    if isinstance(value, list):
        return [without_time(v) for v in value]
    return value


def assert_same_run(backend: Backend, a: tuple[StackedModels, TrainingResult, Trainer],
                    b: tuple[StackedModels, TrainingResult, Trainer]) -> None:
    (ma, ra, ta), (mb, rb, tb) = a, b
    for name, value in ta.state.params.items():
        np.testing.assert_array_equal(backend.to_host(value),
                                      backend.to_host(tb.state.params[name]), err_msg=name)
    np.testing.assert_equal(without_time(ra.history), without_time(rb.history))
    assert (ra.steps, ra.stopped_by) == (rb.steps, rb.stopped_by)
    np.testing.assert_equal(without_time(ma.bookkeeping()), without_time(mb.bookkeeping()))


def cases() -> dict[str, dict[str, Any]]:
    return {
        # Gradient descent on the whole set; the middle model diverges at once and is
        # frozen at the record of iteration 50, its NaN kept in the checkpoint.
        "full batch, a diverged model": dict(
            sizes=[(2, 4, 1), (2, 4, 1), (2, 7, 1)], seeds=[3, 4, 5], activation="tanh",
            options=[TrainingOptions(learning_rate=lr, iterations=200, print_every=50)
                     for lr in (1.2, 1e308, 0.5)],
            stops=[73, 150], validation=False),
        # Mini-batches (a stop in the middle of an epoch), Adam, dropout, padded sigmoid
        # units, early stopping per model.
        "mini-batches, Adam, dropout, early stopping": dict(
            sizes=[(2, 3, 1), (2, 6, 1), (2, 6, 1)], seeds=[1, 2, 3], activation="sigmoid",
            options=[TrainingOptions(learning_rate=lr, epochs=40, batch_size=64,
                                     optimizer="adam", keep_prob=keep, patience=3)
                     for lr, keep in ((0.05, 1.0), (0.3, 0.8), (0.01, 0.9))],
            stops=[37, 153], validation=True),
    }


def data_for(backend: Backend, validation: bool) -> Any:
    X, Y = flower(backend)
    if not validation:
        return (X, Y), None
    xp, order = backend.xp, np.random.RandomState(0).permutation(400)
    rows = backend.asarray(order, dtype="int64")
    X, Y = xp.take(X, rows, axis=0), xp.take(Y, rows, axis=1)
    return (X[:300, :], Y[:, :300]), (X[300:, :], Y[:, 300:])


@pytest.mark.parametrize("name", list(cases()))
def test_a_stopped_stack_resumes_bit_for_bit(backend: Backend, tmp_path: Path,
                                             name: str) -> None:
    case = cases()[name]
    data = data_for(backend, case["validation"])
    whole = run(backend, data, case)
    if case["validation"]:  # the case means something: some model stopped early
        assert "early_stopping" in whole[0].stopped_by
    else:
        assert whole[0].stopped_by[1] == "diverged"
    path = tmp_path / "sweep.npz"
    for stop in case["stops"]:  # stopped twice, resumed twice, through the file
        keep = SweepCheckpoint(path, resume=path if path.exists() else None)
        first = run(backend, data, case, stop=stop, keep=keep)
        assert first[1].stopped_by == "interrupted" and first[1].steps == stop
        assert keep.written
    resumed = run(backend, data, case, keep=SweepCheckpoint(resume=path))
    assert_same_run(backend, whole, resumed)
    taken = next(c.taken for c in resumed[2].callbacks if isinstance(c, StopAt))
    assert taken == whole[1].steps - case["stops"][-1]  # it went on from the last stop


@pytest.mark.parametrize("name", list(cases()))
def test_the_trainers_checkpoints_of_a_stack(reference: Backend, tmp_path: Path,
                                             name: str) -> None:
    """``Checkpoints`` with :func:`save_stack_checkpoint`, as for a single run: stopped
    and resumed with :func:`load_stack_checkpoint`, the stack ends as the straight run."""
    case = cases()[name]
    (X, Y), validation = data_for(reference, case["validation"])
    path = tmp_path / "stack.npz"

    def stacked(stop: int | None, resume: bool) -> tuple[StackedModels, TrainingResult,
                                                          Trainer]:
        stack = ModelStack(case["sizes"], reference,
                           get_hidden_activation(case["activation"]), case["seeds"])
        models = StackedModels(stack, case["options"], "binary",
                               has_validation=validation is not None)
        state = load_stack_checkpoint(path, models) if resume else None
        callbacks = [StopAt(stop), Checkpoints(25, lambda t: save_stack_checkpoint(path, t))]
        trainer = Trainer(models.network, X, Y, case["options"][0], validation=validation,
                          stack=models, state=state, callbacks=callbacks)
        return models, trainer.run(), trainer

    whole = stacked(None, False)
    path.unlink()
    stopped = stacked(case["stops"][1], False)
    assert stopped[1].stopped_by == "interrupted"
    resumed = stacked(None, True)
    assert_same_run(reference, whole, resumed)
    taken = next(c.taken for c in resumed[2].callbacks if isinstance(c, StopAt))
    assert taken == whole[1].steps - case["stops"][1]
    with pytest.raises(NNBackendError, match="save_stack_checkpoint"):
        save_checkpoint(tmp_path / "model.npz", stopped[2], {})
    if not case["validation"]:  # before the record that freezes the NaN model
        refused: list[Exception] = []

        class SaveAt30(Callback):
            def on_step(self, trainer: Trainer) -> None:
                if trainer.state.step == 30:
                    with pytest.raises(DivergedError, match="still training") as error:
                        save_stack_checkpoint(tmp_path / "nan.npz", trainer)
                    refused.append(error.value)

        stack = ModelStack(case["sizes"], reference, get_hidden_activation("tanh"),
                           case["seeds"])
        models = StackedModels(stack, case["options"], "binary")
        Trainer(models.network, X, Y, case["options"][0], stack=models,
                callbacks=[SaveAt30()]).run()
        assert refused and not (tmp_path / "nan.npz").exists()


def test_a_model_still_training_with_nan_is_never_kept(reference: Backend,
                                                       tmp_path: Path) -> None:
    """Stopped before the record that freezes it, a diverged model's NaN keeps the stack
    out of the checkpoint (the earlier one stays); once frozen, it blocks nothing."""
    case = cases()["full batch, a diverged model"]
    data = data_for(reference, False)
    path = tmp_path / "sweep.npz"
    keep = SweepCheckpoint(path)
    run(reference, data, case, stop=30, keep=keep)
    assert not keep.written and not path.exists()
    keep = SweepCheckpoint(path, every=10)
    run(reference, data, case, stop=60, keep=keep)
    header, _ = read_sweep_file(path)
    saved = header["running"]["0,1,2"]
    assert saved["state"]["step"] == 60  # written at 50 (frozen by then) and at 60
    assert saved["models"]["stopped_by"] == ["completed", "diverged", "completed"]


def test_a_changed_file_is_refused(tmp_path: Path) -> None:
    """A byte changed in an array is zip's CRC error; a re-packed archive with another
    array is the checksum's: both one line."""
    path = tmp_path / "sweep.npz"
    write_sweep_file(path, {"finished": {}, "running": {}}, {"a": np.arange(3.0)})
    assert read_sweep_file(path)[1]["a"].tolist() == [0.0, 1.0, 2.0]
    with np.load(path) as archive:
        members = {name: archive[name] for name in archive.files}
    members["a"] = np.arange(1.0, 4.0)
    np.savez(path, **members)
    with pytest.raises(NNBackendError, match="checksum mismatch"):
        read_sweep_file(path)
    raw = bytearray(path.read_bytes())
    raw[raw.index(np.arange(1.0, 4.0).tobytes())] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(NNBackendError, match="cannot be read"):
        read_sweep_file(path)
    np.savez(path, W1=np.zeros((2, 2)))
    with pytest.raises(NNBackendError, match="not a sweep checkpoint"):
        read_sweep_file(path)
