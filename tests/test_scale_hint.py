"""Features far from unit scale without --standardize: one hint before training, never an
error (the digits' raw 0-16 pixels at lr 1.2 otherwise end at chance in silence)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend import Model, NNClassifier, load_dataset
from nnbackend.cli import cli
from nnbackend.data.scale import FeatureScaleWarning, scale_hint

HINT = ("Hint: the features are far from unit scale (root-mean-square up to 12.9), which "
        "can leave training stuck at chance or diverging; add --standardize")


def test_the_command_line_hints_once_on_stderr_before_training() -> None:
    result = CliRunner().invoke(cli, ["train", "--data", "digits", "--layers", "8",
                                      "--iterations", "2", "--print-every", "1"])
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [HINT]
    assert "Hint" not in result.stdout
    scaled = CliRunner().invoke(cli, ["train", "--data", "digits", "--layers", "8",
                                      "--iterations", "2", "--standardize"])
    assert scaled.exit_code == 0 and scaled.stderr == ""


@pytest.mark.parametrize("data", ["flower", "moons", "spiral", "iris"])
def test_unit_scale_data_gets_no_hint(data: str) -> None:
    result = CliRunner().invoke(cli, ["train", "--data", data, "--iterations", "2"])
    assert result.exit_code == 0, result.output
    assert result.stderr == ""


def test_tiny_features_get_the_hint_too() -> None:
    X, _ = load_dataset("flower")
    assert "root-mean-square up to 0.0002" in str(scale_hint(X * 1e-4, "--standardize"))
    assert scale_hint(X, "--standardize") is None


def test_model_fit_warns_and_the_estimators_leave_scaling_to_the_pipeline() -> None:
    X, y = load_dataset("digits")
    with pytest.warns(FeatureScaleWarning, match=r"far from unit scale .* add "
                                                 r"standardize=True$"):
        Model((8,), device="cpu").fit(X, y, iterations=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error", FeatureScaleWarning)
        Model((8,), device="cpu").fit(X, y, iterations=2, standardize=True)
        NNClassifier(hidden_layer_sizes=(8,), iterations=2).fit(X, y)


def test_memory_mapped_features_are_judged_too(tmp_path) -> None:
    X = np.lib.format.open_memmap(tmp_path / "X.npy", mode="w+", dtype=np.float64,
                                  shape=(200_000, 3))
    X[:] = 100.0
    assert "up to 100" in str(scale_hint(X, "--standardize"))


def test_all_zero_features_get_no_hint() -> None:
    assert scale_hint(np.zeros((5, 2)), "--standardize") is None
