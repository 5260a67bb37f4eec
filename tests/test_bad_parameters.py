"""Every parameter of ``Model``, ``Model.fit`` and the estimators, given a bad value, is
refused with one error type (``NNBackendError``, a ``ValueError``) and a one-line message.

The parameters are read from the signatures and the settings table, so a new one is
covered when it appears. Each gets, in turn, each value of :data:`VALUES`; the outcome
must be a normal fit or one ``NNBackendError`` line, never another exception. Values a
parameter's declared type and range can never take must be refused. Training stops after
two steps (the loop itself is unchanged), so a huge iteration count is accepted quickly.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from nnbackend import NNClassifier, NNRegressor, load_dataset
from nnbackend.errors import NNBackendError
from nnbackend.estimator.parameters import ESTIMATOR_SETTINGS
from nnbackend.model import Model
from nnbackend.training.settings import SETTINGS, TRAINING_SETTINGS, Setting

from .helpers import stop_runs_after_two_steps

VALUES: dict[str, Any] = {"empty": "", "negative": -1, "huge": 10**20, "nan": float("nan"),
                          "inf": float("inf"), "word": "abc", "fraction": 0.5,
                          "none": None, "bool": True, "list": [1]}
#: Model.fit's keywords besides the training settings: data preparation and the graphs.
FIT_SETTINGS = ("task", "standardize", "validation_fraction", "cuda_graph")
#: Cases that reach code owned by pending work, with the reason.
PENDING: dict[tuple[str, str], str] = {}


@pytest.fixture(autouse=True)
def short_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    stop_runs_after_two_steps(monkeypatch)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return load_dataset("blobs", n_samples=60)


def _in_range(setting: Setting, value: float) -> bool:
    low, high = setting.low, setting.high
    return not ((low is not None and (value < low or (setting.low_open and value == low)))
                or (high is not None and (value > high or (setting.high_open
                                                            and value == high))))


def must_refuse(setting: Setting, kind: str) -> bool:
    """Whether the setting's declared type and range rule the value out."""
    value = VALUES[kind]
    if kind == "none":
        # None seeds at random; None device and backend are "auto", as in scikit-learn.
        return not setting.optional and setting.name not in ("seed", "device", "backend")
    if setting.kind is bool:
        return kind not in ("bool", "fraction") or value not in (0, 1)
    if setting.kind in (int, float):
        if kind in ("empty", "word", "nan", "inf", "bool", "list"):
            return True
        if kind == "fraction" and setting.kind is int:
            return True
        return not _in_range(setting, value)
    if setting.kind is tuple:
        return kind != "list"
    return True  # a name: none of the values is one


def _cases(names: list[str], settings: dict[str, Setting]) -> Iterator[Any]:
    for name in names:
        for kind in VALUES:
            marks = ([pytest.mark.xfail(reason=PENDING[name, kind], strict=False)]
                     if (name, kind) in PENDING else [])
            yield pytest.param(name, kind, settings[name], id=f"{name}-{kind}", marks=marks)


def _outcome(call: Callable[[], Any], setting: Setting, kind: str) -> None:
    """``call()`` ends normally or with one NNBackendError line; refused when it must be."""
    try:
        call()
    except NNBackendError as exc:
        assert isinstance(exc, ValueError)
        assert "\n" not in str(exc) and str(exc), repr(exc)
        return
    assert not must_refuse(setting, kind), f"{setting.name}={VALUES[kind]!r} was not refused"


MODEL_NAMES = [name for name, p in inspect.signature(Model).parameters.items()
               if p.kind is inspect.Parameter.KEYWORD_ONLY or name == "layers"]


@pytest.mark.parametrize(("name", "kind", "setting"), list(_cases(MODEL_NAMES, SETTINGS)))
def test_model_parameter(name: str, kind: str, setting: Setting,
                         data: tuple[np.ndarray, np.ndarray]) -> None:
    # On the CPU unless the device is what is judged (the suite's figures are the CPU's).
    _outcome(lambda: Model(**{"device": "cpu", name: VALUES[kind]}).fit(*data), setting,
             kind)


@pytest.mark.parametrize(("name", "kind", "setting"),
                         list(_cases([*TRAINING_SETTINGS, *FIT_SETTINGS], SETTINGS)))
def test_fit_keyword(name: str, kind: str, setting: Setting,
                     data: tuple[np.ndarray, np.ndarray]) -> None:
    # patience only means something with validation data: give it some, so that its own
    # value is what is judged.
    extra = {"validation_fraction": 0.2} if name == "patience" else {}
    _outcome(lambda: Model(device="cpu").fit(*data, **{name: VALUES[kind]}, **extra),
             setting, kind)


@pytest.mark.parametrize("estimator", [NNClassifier, NNRegressor])
@pytest.mark.parametrize(("name", "kind", "setting"),
                         list(_cases(list(ESTIMATOR_SETTINGS), ESTIMATOR_SETTINGS)))
def test_estimator_parameter(estimator: type, name: str, kind: str, setting: Setting,
                             data: tuple[np.ndarray, np.ndarray]) -> None:
    X, y = data
    extra = {"validation_fraction": 0.2} if name == "patience" else {}
    params = {"device": "cpu", name: VALUES[kind], **extra}
    _outcome(lambda: estimator(**params).fit(X, y.astype(float)), setting, kind)


def test_unknown_keywords_get_a_did_you_mean(data: tuple[np.ndarray, np.ndarray]) -> None:
    with pytest.raises(NNBackendError, match=r"^Model\.fit has no setting 'lr'; did you "
                                             r"mean learning_rate\?$"):
        Model().fit(*data, lr=0.1)
    with pytest.raises(NNBackendError, match=r"^Model has no setting 'activation'; did you "
                                             r"mean hidden_activation\?$"):
        Model(activation="relu")  # type: ignore[call-arg]
    with pytest.raises(NNBackendError, match=r"did you mean epochs\?$"):
        Model().fit(*data, epoch=3)
    with pytest.raises(NNBackendError, match=r"did you mean activation\?$"):
        NNClassifier().set_params(hidden_activation="relu")
    with pytest.raises(NNBackendError, match=r"^NNRegressor has no setting 'seed'; did you "
                                             r"mean random_state\?$"):
        NNRegressor().set_params(seed=3)


def test_device_names_with_odd_digits_are_refused_in_one_line() -> None:
    from nnbackend import resolve_backend

    for name in ("cuda:\u00b2", "cuda:-1", "cuda:", "cuda:1.5"):
        with pytest.raises(NNBackendError, match=r"^unknown device"):
            resolve_backend(name)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "3", True])
def test_every_seed_of_the_library_is_checked_in_one_line(seed: Any) -> None:
    # The generators behind the data sets, the network's weights and the estimators.
    from nnbackend import Network, host_rng, resolve_backend

    calls = [lambda: host_rng(seed), lambda: load_dataset("moons", seed=seed),
             lambda: Network.create((2, 3, 1), resolve_backend("cpu"), "tanh", "binary",
                                    "small", seed)]
    for call in calls:
        with pytest.raises(NNBackendError, match=r"seed must be an integer from 0 to "
                                                 r"4294967295 \(2\*\*32 - 1\) or None, got "):
            call()


@pytest.mark.parametrize("kind", list(VALUES))
@pytest.mark.parametrize("name", ["callbacks", "options"])
def test_fit_callbacks_and_options(name: str, kind: str,
                                   data: tuple[np.ndarray, np.ndarray]) -> None:
    # Not settings of the table: a list of Callback objects and a TrainingOptions. None
    # is none (the default options); every other value of the sweep is refused.
    call = lambda: Model(device="cpu").fit(*data, **{name: VALUES[kind]})  # noqa: E731
    if kind == "none":
        call()
        return
    with pytest.raises(NNBackendError, match=rf"^{name} must be ") as caught:
        call()
    assert "\n" not in str(caught.value)
