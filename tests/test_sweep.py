"""``nnbackend.sweep``: a grid trained in stacks, each model equal to its own single run
(``Model(...).fit`` with the same settings), and the grouping that decides the stacks."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import nnbackend as nb
from nnbackend.core.backend import Backend
from nnbackend.errors import SettingError
from nnbackend.model.scores import final_scores
from nnbackend.training.grouping import CPU, GPU, group_sizes

from .test_stack import EXACT, skip_torch_amplified, steps_for


def max_difference(a: nb.Model, b: nb.Model) -> float:
    backend = a.backend
    assert a.network is not None and b.network is not None
    return max(float(np.max(np.abs(backend.to_host(a.network.params[name])
                                   - backend.to_host(b.network.params[name]))))
               for name in b.network.params)


def single(backend: Backend, row: dict[str, Any], fixed: dict[str, Any],
           data: dict[str, Any], source: str = "flower") -> nb.Model:
    """The row's model trained on its own, as ``nnbackend train`` would."""
    figures = ("train_cost", "train_accuracy", "train_r2", "val_cost", "val_accuracy",
               "iterations", "stopped_by")
    settings = {**fixed, **{name: value for name, value in row.items() if name not in figures}}
    if "layers" in settings:
        settings["layers"] = tuple(settings["layers"])
    arch = {name: settings.pop(name) for name in ("layers", "seed", "init_scale",
                                                  "hidden_activation") if name in settings}
    return nb.Model(backend=backend, **arch).fit(source, **data, **settings)


def test_sweep_models_equal_their_single_runs(backend64: Backend) -> None:
    """Mixed hidden sizes (padded where the cost model says), seeds and rates, full batch:
    each row's model and figures are its single run's."""
    fixed = {"iterations": steps_for(backend64, 600), "print_every": 100}
    grid = {"layers": [(3,), (4,), (20,)], "learning_rate": [0.5, 1.2], "seed": [1, 2]}
    result = nb.sweep("flower", grid=grid, backend=backend64, **fixed)
    assert len(result) == 12 and result.varied == ("layers", "learning_rate", "seed")
    assert sorted(i for stack in result.stacks for i in stack) == list(range(12))
    assert result.score == "train_accuracy"
    for i, row in enumerate(result):
        own = single(backend64, row, fixed, {})
        assert max_difference(result.model(i), own) <= EXACT, row
        assert own.network is not None
        X, y = nb.load_dataset("flower")
        scores = final_scores(own.network, backend64.asarray(X),
                              backend64.asarray(nb.encode_targets(y).Y), 0.0, False)
        assert row["train_cost"] == pytest.approx(scores["cost"], rel=1e-10)
        assert row["train_accuracy"] == scores["accuracy"]
        assert row["iterations"] == fixed["iterations"] and row["stopped_by"] == "completed"
    best = result.best_model
    assert best is not None and result.best is not None
    assert result.ranked()[0] is result[result.best]
    assert result[result.best]["train_accuracy"] == max(r["train_accuracy"] for r in result)
    assert best.predict(nb.load_dataset("flower")[0][:5]).shape == (5,)


@pytest.mark.parametrize("optimizer", ["gd", "adam"])
def test_mini_batches_dropout_and_a_validation_split(backend64: Backend,
                                                     optimizer: str) -> None:
    """Per-model batches and masks; with a validation split each seed draws its own split,
    so seeds are stacked apart and each row's validation figures are its single run's."""
    skip_torch_amplified(backend64, optimizer, "binary")
    fixed = {"epochs": steps_for(backend64, 20) // 2 or 1, "batch_size": 64,
             "optimizer": optimizer,
             "learning_rate": 0.3 if optimizer == "gd" else 0.01}
    data = {"validation_fraction": 0.25}
    grid = {"keep_prob": [1.0, 0.8], "l2": [0.0, 0.5], "seed": [1, 2]}
    result = nb.sweep("flower", grid=grid, backend=backend64, **data, **fixed)
    assert len(result.stacks) == 2  # one per seed: their data differ
    assert result.score == "val_accuracy"
    for i, row in enumerate(result):
        own = single(backend64, row, fixed, data)
        assert max_difference(result.model(i), own) <= EXACT, row
        assert own.history[-1]["val_cost"] == pytest.approx(row["val_cost"], rel=1e-9)


def test_a_diverging_model_is_a_row_not_a_failure(reference: Backend) -> None:
    fixed = {"iterations": 300, "print_every": 50}
    result = nb.sweep("flower", grid={"learning_rate": [1.2, 1e308, 0.5]},
                      backend=reference, **fixed)
    assert [row["stopped_by"] for row in result] == ["completed", "diverged", "completed"]
    assert result[1]["train_cost"] is None and result[1]["train_accuracy"] is None
    assert result.ranked()[-1] is result[1]
    for i in (0, 2):
        own = single(reference, result[i], fixed, {})
        assert max_difference(result.model(i), own) <= EXACT


def test_early_stopping_per_model(reference: Backend) -> None:
    """Each model stops when its own run would (its iterations and history), and the best
    parameters are restored; the other models go on."""
    fixed = {"epochs": 20, "batch_size": 32, "print_every": 1, "patience": 5}
    data = {"validation_fraction": 0.25}
    result = nb.sweep("flower", grid={"learning_rate": [0.5, 5.0]}, backend=reference,
                      **data, **fixed)
    assert [row["stopped_by"] for row in result] == ["completed", "early_stopping"]
    assert [row["iterations"] for row in result] == [200, 120]
    for i, row in enumerate(result):
        own = single(reference, row, fixed, data)
        assert own.result is not None and own.result.stopped_by == row["stopped_by"]
        assert own.result.steps == row["iterations"]
        mine = result.model(i)
        assert len(mine.history) == len(own.history)
        assert max_difference(mine, own) <= EXACT


def test_the_best_model_is_an_ordinary_model_file(reference: Backend, tmp_path) -> None:
    result = nb.sweep("flower", grid={"layers": [(2,), (4,)]}, backend=reference,
                      iterations=300)
    assert result.best_model is not None
    path = result.best_model.save(tmp_path / "best.npz")
    loaded = nb.Model.load(path, backend=reference)
    X = nb.load_dataset("flower")[0]
    np.testing.assert_array_equal(loaded.predict(X), result.best_model.predict(X))
    assert loaded.layers == tuple(result[result.best]["layers"])


def test_bad_grids_are_one_line_errors(reference: Backend) -> None:
    with pytest.raises(SettingError, match="did you mean learning_rate"):
        nb.sweep("flower", grid={"lr": [0.1]}, backend=reference)
    with pytest.raises(SettingError, match="non-empty list"):
        nb.sweep("flower", grid={"seed": []}, backend=reference)
    with pytest.raises(SettingError, match="keep_prob"):
        nb.sweep("flower", grid={"keep_prob": [1.5]}, backend=reference)


def test_grouping_pads_only_where_it_pays() -> None:
    """On a CPU the course's sizes go in separate stacks (20 and 50 each alone); on a GPU,
    where padding is nearly free, in one; models of one size always share one."""
    sizes = [(2, n, 1) for n in (1, 2, 3, 4, 5, 20, 50)]
    cpu = group_sizes(sizes, 400, CPU)
    assert [5] in cpu and [6] in cpu and len(cpu) > 2
    assert group_sizes(sizes, 400, GPU) == [list(range(7))]
    assert group_sizes([(2, 4, 1)] * 256, 400, CPU) == [list(range(256))]
    assert group_sizes([(2, 4, 1)] * 5, 400, CPU, max_stack=2) == [[0, 1], [2, 3], [4]]
    # RMSprop and Adam can amplify a padded product's last bit: no padding for them.
    assert group_sizes(sizes, 400, GPU, pad=False) == [[i] for i in range(7)]


def test_adam_stacks_only_models_of_one_size(reference: Backend) -> None:
    """Padding is exact to rounding only under RMSprop and Adam: a sweep pads only for the
    other update rules, so every Adam model equals its single run."""
    fixed = {"iterations": 200, "learning_rate": 0.01, "optimizer": "adam"}
    result = nb.sweep("flower", grid={"layers": [(3,), (4,)], "seed": [1, 2]},
                      backend=reference, **fixed)
    assert sorted(result.stacks) == [(0, 1), (2, 3)]
    for i, row in enumerate(result):
        assert max_difference(result.model(i), single(reference, row, fixed, {})) <= EXACT
    gd = nb.sweep("flower", grid={"layers": [(3,), (4,)]}, backend=reference,
                  iterations=10)
    assert gd.stacks == [(0, 1)]  # padding pays for gradient descent on a CPU


def test_depths_activations_and_optimizers_go_in_separate_stacks(reference: Backend) -> None:
    fixed = {"iterations": 100, "learning_rate": 0.1}
    grid = {"layers": [(3,), (3, 2)], "hidden_activation": ["tanh", "relu"],
            "optimizer": ["gd", "momentum"]}
    result = nb.sweep("flower", grid=grid, backend=reference, **fixed)
    assert len(result.stacks) == 8
    for i, row in enumerate(result):
        own = single(reference, row, fixed, {})
        assert max_difference(result.model(i), own) <= EXACT, row


def test_regression_rows_rank_by_r2(reference: Backend) -> None:
    fixed = {"iterations": 200, "layers": (8,)}
    result = nb.sweep("sine", grid={"learning_rate": [0.01, 0.1]}, backend=reference,
                      **fixed)
    assert result.score == "train_r2"
    assert set(result[0]) == {"learning_rate", "train_cost", "train_r2", "iterations",
                              "stopped_by"}
    assert result.ranked()[0]["train_r2"] >= result.ranked()[1]["train_r2"]
    for i, row in enumerate(result):
        own = single(reference, row, fixed, {}, "sine")
        assert max_difference(result.model(i), own) <= EXACT, row
        assert own.network is not None
        X, y = nb.load_dataset("sine")
        targets = nb.encode_targets(y, "regression")
        scores = final_scores(own.network, reference.asarray(X), reference.asarray(targets.Y),
                              0.0, False)
        assert row["train_r2"] == pytest.approx(scores["r2"], rel=1e-12)


def test_a_stack_that_would_not_fit_the_free_memory_is_split(
        reference: Backend, monkeypatch: pytest.MonkeyPatch) -> None:
    """With room for three flower models, seven are trained in stacks of three, said in
    one line, and each is still its single run."""
    from nnbackend.data import memory
    from nnbackend.model.sweep import sweep_prepared
    from nnbackend.training.memory import training_bytes

    one = training_bytes((2, 4, 1), 400, 8, 0)
    monkeypatch.setattr(memory, "host_available", lambda: 3 * one + one // 2)
    said: list[str] = []
    fixed = {"iterations": 50}
    result = sweep_prepared(
        lambda seed: nb.Model(backend=reference).prepare("flower"),
        {"seed": list(range(1, 8))}, reference, False, say=said.append, **fixed)
    assert result.stacks == [(0, 1, 2), (3, 4, 5), (6,)]
    assert said == result.notes == ["a stack of 7 models would not fit the free memory: "
                                    "trained in stacks of 3"]
    assert max_difference(result.model(6), single(reference, result[6], fixed, {})) <= EXACT
