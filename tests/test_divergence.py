"""A run whose cost or parameters become NaN is caught whatever the record cadence: the
parameters are checked before every save and at the end, and a diverged run writes no
model, claims no checkpoint it did not write, and raises (Python) or exits 3 (CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend import Model
from nnbackend.cli import cli
from nnbackend.core.backend import Backend, host_rng
from nnbackend.core.network import Network
from nnbackend.data.datasets import flower
from nnbackend.data.encoding import encode_targets
from nnbackend.distributed import run_ranks
from nnbackend.estimator import NNClassifier, NNRegressor
from nnbackend.training.callbacks import Checkpoints
from nnbackend.training.divergence import DivergedError
from nnbackend.training.trainer import Trainer, TrainingOptions

from .test_graphed import stand_in

X_FLOWER, Y_FLOWER = flower()
TARGETS = encode_targets(Y_FLOWER)
#: One record, at iteration 0, before any update: the divergence happens after it.
BETWEEN_RECORDS = TrainingOptions(learning_rate=1e308, iterations=40, print_every=10**6)


def run(*args: object) -> Any:
    return CliRunner().invoke(cli, [str(a) for a in args])


def flower_trainer(backend: Backend, options: TrainingOptions, **kwargs: Any) -> Trainer:
    net = Network.create((2, 4, 1), backend, seed=3)
    return Trainer(net, backend.asarray(X_FLOWER), backend.asarray(TARGETS.Y), options,
                   host_rng(0), **kwargs)


def test_a_divergence_after_the_last_record_is_caught_at_the_end(backend: Backend) -> None:
    trainer = flower_trainer(backend, BETWEEN_RECORDS)
    result = trainer.run()
    assert [r["iteration"] for r in result.history] == [0]
    assert np.isfinite(result.history[0]["cost"])
    assert result.stopped_by == "diverged"
    assert result.stop_reason.startswith(
        "diverged: the parameters became NaN or infinite after iteration 0 (found at step "
        "40, the end of the run); lower the learning rate")
    assert not trainer.parameters_finite()


def test_a_cost_overflowing_after_the_last_record_is_caught_at_the_end(backend) -> None:
    """Finite parameters whose cost is infinite (outputs that square past the largest
    float): the last record's cost was finite, the run's end is not."""
    net = Network.create((2, 4, 1), backend, task="regression", seed=3)
    huge = float(np.finfo(backend.dtype_name).max) ** 0.75
    targets = backend.asarray(X_FLOWER[:, :1].T)

    def blow_up(t: Trainer) -> None:
        if t.state.step == 40:  # the last step, after the last record (at 30)
            t.state.params = {**t.state.params, "b2": t.state.params["b2"] + huge}

    trainer = Trainer(net, backend.asarray(X_FLOWER), targets,
                      TrainingOptions(iterations=40, print_every=10), host_rng(0),
                      on_step=blow_up)
    result = trainer.run()
    assert [r["iteration"] for r in result.history][-1] == 30 and trainer.parameters_finite()
    assert result.stopped_by == "diverged"
    assert result.stop_reason.startswith(
        "diverged: the training cost became inf after the last record (found at step 40")


def test_graphed_steps_are_checked_at_the_end_too(reference: Backend) -> None:
    graphed, calls = stand_in(reference)
    result = flower_trainer(graphed, BETWEEN_RECORDS, cuda_graph="on").run()
    assert calls["replay"] > 0 and result.stopped_by == "diverged"


def test_every_rank_of_a_data_parallel_run_finds_the_divergence(reference: Backend) -> None:
    options = TrainingOptions(learning_rate=1e308, iterations=20, batch_size=100,
                              print_every=10**6)
    results = run_ranks(2, lambda comm: flower_trainer(reference, options, comm=comm).run())
    assert [r.stopped_by for r in results] == ["diverged", "diverged"]


def test_a_finite_run_is_not_marked_diverged(reference: Backend) -> None:
    options = TrainingOptions(learning_rate=1.2, iterations=40, print_every=10**6)
    assert flower_trainer(reference, options).run().stopped_by == "completed"


def test_an_interrupted_run_with_nan_parameters_is_reported_diverged(reference) -> None:
    trainer = flower_trainer(reference, BETWEEN_RECORDS, on_step=lambda t: (
        t.request_stop() if t.state.step == 30 else None))
    result = trainer.run()
    assert result.stopped_by == "diverged" and result.steps == 30


def test_no_checkpoint_is_claimed_when_none_was_finite(reference: Backend) -> None:
    saved: list[int] = []
    checkpoints = Checkpoints(10, lambda t: saved.append(t.state.step))
    trainer = flower_trainer(reference, BETWEEN_RECORDS, callbacks=[checkpoints])
    trainer.run()
    assert saved == [] and checkpoints.written is None
    fine = Checkpoints(10, lambda t: saved.append(t.state.step))
    flower_trainer(reference, TrainingOptions(iterations=25), callbacks=[fine]).run()
    assert saved == [10, 20, 25] and fine.written == 25


def test_model_fit_raises_and_save_keeps_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "good.npz"
    good = Model(device="cpu").fit("flower", iterations=50)
    good.save(path)
    before = path.read_bytes()
    bad = Model(device="cpu")
    with pytest.raises(DivergedError, match="^training diverged: the parameters became NaN"
                                            ".*lower the learning rate") as caught:
        bad.fit("flower", learning_rate=1e308, iterations=40, print_every=10**6)
    assert caught.value.result.stopped_by == "diverged" and bad.history
    with pytest.raises(DivergedError, match=f"nothing was written to {path}"):
        bad.save(path)
    assert path.read_bytes() == before


def test_estimators_raise_instead_of_predicting_nan() -> None:
    X = X_FLOWER
    with pytest.raises(DivergedError, match="^NNClassifier training diverged "
                                            r"\(the .*\); lower learning_rate"):
        NNClassifier(learning_rate=1e308, iterations=40, device="cpu").fit(X, Y_FLOWER)
    fitted = NNRegressor(iterations=20, device="cpu").fit(X, X[:, 0])
    before = fitted.predict(X)
    with pytest.raises(DivergedError, match="^NNRegressor training diverged"):
        fitted.set_params(learning_rate=1e308).fit(X, X[:, 0])
    np.testing.assert_array_equal(fitted.predict(X), before)  # the earlier fit is kept


def test_cli_between_records_exits_3_and_keeps_the_old_model(tmp_path: Path) -> None:
    model, checkpoint = tmp_path / "good.npz", tmp_path / "ck.npz"
    assert run("train", "--iterations", "50", "--save", model, "-q").exit_code == 0
    before = model.read_bytes()
    result = run("train", "--lr", "1e308", "--iterations", "100", "--save", model,
                 "--checkpoint", checkpoint, "--json", "-q")
    assert result.exit_code == 3, result.output
    assert model.read_bytes() == before and not checkpoint.exists()
    assert f"Checkpoint: {checkpoint}" not in result.output
    assert f"No checkpoint written to {checkpoint}" in result.stderr
    assert result.stderr.splitlines()[-1].startswith("Error: training diverged (the ")
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["stopped_by"] == "diverged" and "checkpoint" not in summary


def test_cli_sine_run_diverging_between_records_exits_3(tmp_path: Path) -> None:
    model = tmp_path / "s.npz"
    result = run("train", "--data", "sine", "--lr", "2", "--iterations", "500", "--save",
                 model, "--json", "-q")
    assert result.exit_code == 3, result.output
    assert not model.exists()
    assert json.loads(result.stdout.splitlines()[-1])["stopped_by"] == "diverged"


def test_save_checkpoint_refuses_nan_parameters_and_keeps_the_file(reference,
                                                                    tmp_path: Path) -> None:
    from nnbackend.persistence.checkpoints import save_checkpoint

    path = tmp_path / "ck.npz"
    good = flower_trainer(reference, TrainingOptions(iterations=5))
    good.run()
    save_checkpoint(path, good, {})
    before = path.read_bytes()
    bad = flower_trainer(reference, BETWEEN_RECORDS)
    bad.run()
    with pytest.raises(DivergedError, match=f"nothing was written to {path}"):
        save_checkpoint(path, bad, {})
    assert path.read_bytes() == before
