"""The training options and the gradcheck command, driven as a user would."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nnbackend.cli import cli


def run(*args: str):
    return CliRunner().invoke(cli, list(args))


def test_adam_minibatch_epochs_json():
    result = run("train", "--optimizer", "adam", "--lr", "0.1", "--batch-size", "32",
                 "--epochs", "20", "--print-every", "5", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[-1])
    # Every epoch recorded (the history, the loss curve), every fifth printed.
    assert [h["epoch"] for h in payload["history"]] == list(range(1, 21))
    printed = [line.split(":")[0] for line in result.stderr.splitlines()
               if line.startswith("Cost after")]
    assert printed == [f"Cost after epoch {e}" for e in (5, 10, 15, 20)]
    assert payload["options"]["optimizer"] == "adam" and payload["epochs"] == 20
    assert payload["steps"] == 20 * 13  # ceil(400 / 32) steps per epoch
    assert payload["train_accuracy"] >= 0.88
    assert all("time" in h and "accuracy" in h for h in payload["history"])
    assert "Cost after epoch 5:" in result.stderr


def test_validation_and_early_stopping_report_where_and_why():
    result = run("train", "--layers", "30,30", "--hidden-activation", "relu", "--init", "he",
                 "--optimizer", "adam", "--lr", "0.05", "--batch-size", "50", "--epochs",
                 "300", "--validation-fraction", "0.25", "--patience", "5", "--json")
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[-1])
    assert "val_cost" in payload["history"][0] and "val_accuracy" in payload
    assert payload["stop_reason"].startswith("early stopping") or payload["epochs"] == 300
    assert "Stopped: " in result.stderr
    assert "300 training examples + 100 validation" in result.stderr


def test_regularisation_and_decay_options_run():
    result = run("train", "--iterations", "300", "--print-every", "100", "--l2", "0.5",
                 "--keep-prob", "0.9", "--lr-decay", "0.001", "--optimizer", "momentum")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("Cost after iteration") == 3


@pytest.mark.parametrize(("args", "match"), [
    (["--keep-prob", "0"], "--keep-prob"),
    (["--keep-prob", "1.5"], "--keep-prob"),
    (["--batch-size", "0"], "--batch-size"),
    (["--patience", "3"], "--patience only applies with --validation-fraction"),
    (["--iterations", "10", "--epochs", "2"], "--iterations or --epochs, not both"),
    (["--validation-fraction", "1"], "--validation-fraction"),
    (["--optimizer", "sgd"], "'sgd' is not one of"),
    # A file takes no generator options, named as the command line spells them (its
    # --seed is another option, valid with files).
    (["--data", "X.npy", "--data-seed", "5"], "seed (--data-seed) only apply to built-in"),
    (["--target", "label"], "target (--target) applies to CSV files only"),
    (["--data", "moons", "--n-samples", "1"], "moons needs --n-samples to be an integer >= 2"),
    (["--data", "blobs", "--n-samples", "2"], "blobs needs --n-samples to be an integer >= 3"),
    (["--task", "regression", "--hidden-activation", "tanh", "--l2", "-1"], "--l2"),
])
def test_bad_training_input_is_one_line_exit_2(args, match):
    result = run("train", *args)
    assert result.exit_code == 2, result.output
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("Error: ")
    assert match in result.stderr


def test_gradcheck_passes_and_prints_per_parameter():
    result = run("gradcheck", "--layers", "5,3", "--hidden-activation", "relu", "--init", "he",
                 "--l2", "0.7")
    assert result.exit_code == 0, result.output
    assert "Passed: relative difference" in result.stdout
    for name in ("dW1", "db1", "dW2", "db2", "dW3", "db3"):
        assert name in result.stdout


def test_gradcheck_fails_and_names_the_worst_parameter(monkeypatch):
    """Break one derivative: the command must fail with exit 1 and point at layer 1."""
    from nnbackend.core import activations

    broken = activations.Activation("tanh", activations.tanh,
                                     lambda Z, A, *, xp: 1.0 - 0.5 * A * A)
    monkeypatch.setitem(activations.HIDDEN_ACTIVATIONS, "tanh", broken)
    result = run("gradcheck", "--init", "xavier")
    assert result.exit_code == 1, result.output
    assert "FAILED: relative difference" in result.stdout
    assert "worst is dW1" in result.stdout or "worst is db1" in result.stdout


@pytest.mark.parametrize("args", [[], ["--data", "spiral", "--layers", "6"],
                                  ["--data", "sine", "--layers", "6", "--l2", "0.2"]],
                         ids=["default", "multiclass", "regression-l2"])
def test_gradcheck_passes_on_each_task(args):
    result = run("gradcheck", *args)
    assert result.exit_code == 0, result.output
    assert "Passed: relative difference" in result.stdout


def test_the_courses_too_large_initialisation():
    """``--init random --init-scale 10`` is the course's ``randn * 10``: a huge first cost
    that gradient descent then works down, far slower than the notes' ``* 0.01``."""
    result = CliRunner().invoke(cli, ["train", "--init", "random", "--init-scale", "10",
                                      "--iterations", "1000", "--print-every", "500",
                                      "--json"])
    assert result.exit_code == 0, result.output
    payload = json.loads(result.stdout.splitlines()[-1])
    costs = [r["cost"] for r in payload["history"]]
    assert costs[0] > 5.0 > 1.0 > costs[-1]  # notes' init: 0.693 at iteration 0
    assert payload["train_accuracy"] < 0.85  # the notes' init reaches ~0.9 by now
    bad = CliRunner().invoke(cli, ["train", "--init-scale", "-1"])
    assert bad.exit_code == 2 and "--init-scale" in bad.stderr


def test_the_init_scale_multiplies_the_draws_exactly():
    import numpy as np

    from nnbackend.core.backend import host_rng, resolve_backend
    from nnbackend.core.initializers import initialize_parameters

    backend = resolve_backend("cpu", "numpy", "float64")
    params = initialize_parameters((2, 4, 1), "random", host_rng(3), backend, 10.0)
    np.random.seed(3)  # the course's draws  # noqa: NPY002
    np.testing.assert_array_equal(params["W1"], np.random.randn(4, 2) * 10)  # noqa: NPY002
    default = initialize_parameters((2, 4, 1), "small", host_rng(3), backend)
    np.random.seed(3)  # noqa: NPY002
    np.testing.assert_array_equal(default["W1"], np.random.randn(4, 2) * 0.01)  # noqa: NPY002
