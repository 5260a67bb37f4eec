"""Settings that only mean something beside another (``beta1`` with momentum or Adam) are
refused, in one line, when given without it: from the command line, ``Model`` and the
estimators alike, all from the settings table's ``requires``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from nnbackend import NNClassifier, load_dataset
from nnbackend.cli import cli
from nnbackend.errors import NNBackendError, SettingError
from nnbackend.model import Model
from nnbackend.model.model import ARCHITECTURE
from nnbackend.training.settings import SETTINGS, check_requirements, estimator_name, flag

#: A value other than the default for each setting that requires another.
GIVEN = {"beta1": 0.5, "beta2": 0.9, "epsilon": 1e-6, "lr_decay_every": 3, "keep_prob": 0.5,
         "patience": 3, "init_scale": 2.0}
#: For each required setting: a value that leaves the requirement unmet, one that meets it.
UNMET = {"optimizer": "gd", "lr_decay": 0.0, "layers": (), "validation_fraction": None,
         "init": "zeros"}
MET = {"optimizer": "adam", "lr_decay": 0.1, "layers": (4,), "validation_fraction": 0.2,
       "init": "random"}
DEPENDENT = sorted(name for name, s in SETTINGS.items() if s.requires is not None)


def test_every_dependent_setting_is_covered() -> None:
    assert sorted(GIVEN) == DEPENDENT
    assert {SETTINGS[name].requires.setting for name in DEPENDENT} == set(UNMET)  # type: ignore[union-attr]


def _split(values: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(Model's arguments, fit's keywords)."""
    model = {k: v for k, v in values.items() if k in ARCHITECTURE}
    return model, {k: v for k, v in values.items() if k not in ARCHITECTURE}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return load_dataset("flower")


@pytest.mark.parametrize("name", DEPENDENT)
def test_model_refuses_a_setting_without_its_partner(name: str, data: Any) -> None:
    other = SETTINGS[name].requires.setting  # type: ignore[union-attr]
    model_args, fit_args = _split({name: GIVEN[name], other: UNMET[other]})
    pattern = rf"^{name} only applies with .*\b{other}\b.*; drop it, "
    with pytest.raises(SettingError, match=pattern):
        Model(device="cpu", **model_args).fit(*data, iterations=2, **fit_args)
    model_args, fit_args = _split({name: GIVEN[name], other: MET[other]})
    if "epochs" not in fit_args:
        fit_args.update(epochs=2, batch_size=200)  # decay counts epochs
    Model(device="cpu", **model_args).fit(*data, **fit_args)  # accepted beside it


@pytest.mark.parametrize("name", DEPENDENT)
def test_estimators_refuse_it_in_their_own_names(name: str, data: Any) -> None:
    other = SETTINGS[name].requires.setting  # type: ignore[union-attr]
    params = {estimator_name(name): GIVEN[name], estimator_name(other): UNMET[other]}
    with pytest.raises(NNBackendError, match=rf"^{estimator_name(name)} only applies with "
                                             rf".*\b{estimator_name(other)}\b"):
        NNClassifier(iterations=2, **params).fit(*data)


def _flag_value(value: Any) -> list[str]:
    return [",".join(map(str, value))] if isinstance(value, tuple) else [str(value)]


@pytest.mark.parametrize("name", DEPENDENT)
def test_command_line_refuses_it_in_flags(name: str) -> None:
    other = SETTINGS[name].requires.setting  # type: ignore[union-attr]
    unmet = UNMET[other]
    if unmet == ():
        pytest.skip(f"{flag(other)} cannot be given empty on the command line")
    args = ["train", "--quiet", "--iterations", "2", flag(name), str(GIVEN[name])]
    if unmet != SETTINGS[other].default:
        args += [flag(other), *_flag_value(unmet)]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2, result.output
    assert result.stderr.startswith(f"Error: {flag(name)} only applies with ")
    assert f" {flag(other)} " in result.stderr
    assert len(result.stderr.splitlines()) == 1


def test_the_default_value_is_never_refused() -> None:
    # A default is what every run has: it says nothing beside anything.
    check_requirements({**{name: SETTINGS[name].default for name in DEPENDENT}, **UNMET})


def test_checkpoint_every_needs_a_checkpoint(tmp_path: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["train", "--iterations", "5", "--checkpoint-every",
                                      "10"])
    assert result.exit_code == 2
    assert result.stderr == ("Error: --checkpoint-every only applies with --checkpoint PATH "
                             "(where to write them); add it, or drop --checkpoint-every\n")
    done = CliRunner().invoke(cli, ["train", "--iterations", "5", "--checkpoint-every", "2",
                                    "--checkpoint", "run.npz", "--quiet"])
    assert done.exit_code == 0, done.output
    # Resuming takes the checkpoint's own --checkpoint: --checkpoint-every may change.
    again = CliRunner().invoke(cli, ["train", "--resume", "run.npz", "--iterations", "8",
                                     "--checkpoint-every", "3", "--quiet"])
    assert again.exit_code == 0, again.output
