"""The settings table is the one place defaults live: every interface takes them from it."""

from __future__ import annotations

import inspect
from dataclasses import fields

import click
import pytest

from nnbackend import NNClassifier, NNRegressor
from nnbackend.cli import cli
from nnbackend.errors import SettingError
from nnbackend.model import Model
from nnbackend.training.settings import (
    REGRESSOR_LEARNING_RATE,
    SETTINGS,
    TRAINING_SETTINGS,
    check,
    estimator_name,
    flag,
)
from nnbackend.training.trainer import TrainingOptions


def test_training_options_are_the_training_settings() -> None:
    assert tuple(f.name for f in fields(TrainingOptions)) == TRAINING_SETTINGS
    for f in fields(TrainingOptions):
        assert f.default == SETTINGS[f.name].default, f.name


def test_model_defaults_come_from_the_table() -> None:
    for name, parameter in inspect.signature(Model).parameters.items():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            continue  # unknown keywords, refused with a "did you mean"
        expected = SETTINGS[name].default
        assert parameter.default == expected, name


@pytest.mark.parametrize("estimator", [NNClassifier, NNRegressor])
def test_estimator_defaults_come_from_the_table(estimator: type) -> None:
    by_estimator_name = {s.estimator: s for s in SETTINGS.values() if s.estimator}
    parameters = inspect.signature(estimator).parameters
    assert set(parameters) == set(by_estimator_name)
    for name, parameter in parameters.items():
        expected = by_estimator_name[name].default
        if estimator is NNRegressor and name == "learning_rate":
            expected = REGRESSOR_LEARNING_RATE
        assert parameter.default == expected, name


def _cli_options(command: str) -> dict[str, click.Option]:
    params = cli.commands[command].params  # type: ignore[attr-defined]
    return {p.name: p for p in params if isinstance(p, click.Option)}


def test_train_options_come_from_the_table() -> None:
    options = _cli_options("train")
    covered = [s for s in SETTINGS.values() if s.flag and s.name in options]
    # Every setting with a flag is an option of train, under its library name.
    assert {s.name for s in covered} == {s.name for s in SETTINGS.values() if s.flag}
    for setting in covered:
        option = options[setting.name]
        assert setting.flag in option.opts
        default = (",".join(map(str, setting.default)) if setting.kind is tuple
                   else setting.default)
        assert option.default == (default if setting.kind is not bool else False), setting.name
        assert setting.help in (option.help or ""), setting.name
        if setting.choices is not None:
            assert list(option.type.choices) == list(setting.choices)


def test_errors_name_the_setting_in_each_interfaces_spelling() -> None:
    with pytest.raises(SettingError) as info:
        check("print_every", 0)
    error = info.value
    assert str(error) == "print_every must be >= 1, got 0"
    assert error.spelled(flag) == "--print-every must be >= 1, got 0"
    assert error.spelled(estimator_name) == "record_every must be >= 1, got 0"
    with pytest.raises(SettingError) as info:
        check("learning_rate", float("nan"))
    assert info.value.spelled(flag) == "--lr must be a finite number, got nan"


def test_values_with_braces_are_not_taken_for_fields() -> None:
    with pytest.raises(SettingError, match=r"^unknown optimizer '\{x\}'"):
        check("optimizer", "{x}")


@pytest.mark.parametrize(("name", "good", "bad"), [
    ("batch_size", [1, None, 10**9], [0, -1, 1.5, True, "8"]),
    ("keep_prob", [1.0, 0.5, 1], [0.0, 1.01, float("inf")]),
    ("beta1", [0.0, 0.9], [1.0, -0.1]),
    ("layers", [(), (4,), [20, 7, 5]], [(0,), "4", (1.5,), 4]),
    ("standardize", [True, False, 0, 1], [2, "yes"]),
    ("dtype", [None, "float32"], ["float16", 32]),
])
def test_checks_follow_the_declared_ranges(name: str, good: list, bad: list) -> None:
    for value in good:
        check(name, value)
    for value in bad:
        with pytest.raises(SettingError, match=f"^(unknown )?{name}"):
            check(name, value)


def test_cli_reports_library_setting_errors_as_flags() -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(cli, ["train", "--data-on", "host", "--iterations", "2"])
    assert result.exit_code == 2
    assert "give --batch-size smaller than the data set (or --data-on device)" in result.stderr


def test_the_naming_table_of_the_python_docs_is_the_settings_table() -> None:
    import re
    from pathlib import Path

    page = (Path(__file__).resolve().parent.parent / "docs" / "python.md").read_text()
    rows = re.findall(r"^\| `(\w+)` \| `(--[\w-]+)` \| `(\w+)` \|$", page, flags=re.M)
    assert rows, "docs/python.md lost its table of names"
    for name, cli_flag, estimator in rows:
        assert (flag(name), estimator_name(name)) == (cli_flag, estimator), name
    # Every setting whose three spellings are not one name is in the table.
    differing = {s.name for s in SETTINGS.values() if s.flag and s.estimator
                 and len({s.name, s.flag[2:].replace("-", "_"), s.estimator}) > 1}
    assert differing == {name for name, _, _ in rows}
