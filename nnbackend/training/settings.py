"""Every user setting, declared once: name, type, default, allowed range, help text, and
how each interface spells it.

The library's :class:`~nnbackend.training.trainer.TrainingOptions` and
:class:`~nnbackend.model.Model` take their defaults and checks from here; the command
line builds its click options from it (``nnbackend.cli.options.setting_option``), and the
scikit-learn estimators their constructor parameters. Library errors name settings by
their library name inside a :class:`~nnbackend.errors.SettingError` template, and each
interface re-spells them at its boundary with :func:`flag` or :func:`estimator_name`.
``tests/test_settings.py`` checks that every interface's defaults come from this table.
"""

from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from ..core.activations import HIDDEN_ACTIVATIONS
from ..core.backend import BACKENDS, DTYPES, SEED_HIGH
from ..core.initializers import WEIGHT_SCALES
from ..core.optimizers import OPTIMIZERS
from ..data.encoding import TASKS
from ..errors import SettingError, literal


@dataclass(frozen=True)
class Requires:
    """What another setting must be for this one to mean anything.

    Attributes
    ----------
    setting : str
        The other setting's library name.
    met : callable
        ``met(value of the other setting) -> bool``.
    text : str
        The condition as a message template: ``{optimizer} momentum or adam``.
    fix : str
        How to meet it, as a template: ``set {optimizer} to adam``.
    """

    setting: str
    met: Callable[[Any], bool]
    text: str
    fix: str


def one_of(setting: str, *values: str) -> Requires:
    """The other setting must be one of ``values`` (``beta1`` needs an optimizer that has
    a first moment)."""
    return Requires(setting, lambda value: value in values,
                    f"{{{setting}}} {' or '.join(values)}", f"set {{{setting}}} to {values[-1]}")


@dataclass(frozen=True)
class Setting:
    """One setting.

    Attributes
    ----------
    name : str
        The library's name (a ``TrainingOptions`` field or a ``Model`` argument).
    kind : type
        ``int``, ``float``, ``str`` or ``bool``; ``tuple`` for layer sizes.
    default : object
        The default everywhere (None: unset, see the help text for what that means).
    help : str
        One or two sentences for ``--help`` and the docs.
    low, high : float or None
        Allowed range of numbers; ``low_open``/``high_open`` exclude the bound itself.
    choices : tuple of str, optional
        The allowed words.
    flag : str
        The command line's spelling (``--lr``); None when the CLI has no such option.
    estimator : str or None
        The estimators' parameter name (``random_state``); None when they have none.
    requires : Requires or None
        The other setting this one only means something beside: a value other than the
        default is refused (by :func:`check_requirements`) when that one does not meet it.
    """

    name: str
    kind: type
    default: Any
    help: str
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] | None = None
    flag: str | None = ""
    estimator: str | None = ""
    requires: Requires | None = None

    def __post_init__(self) -> None:
        # "" means "the name itself" (with dashes for the flag): most settings.
        if self.flag == "":
            object.__setattr__(self, "flag", "--" + self.name.replace("_", "-"))
        if self.estimator == "":
            object.__setattr__(self, "estimator", self.name)

    @property
    def optional(self) -> bool:
        """Whether None is allowed (it is exactly when None is the default)."""
        return self.default is None

    def range_text(self) -> str:
        """``> 0``, ``in (0, 1]``, ``>= 1``: the allowed range in words ('' if none)."""
        low, high = self.low, self.high
        if low is not None and high is not None:
            return (f"in {'(' if self.low_open else '['}{_number(low)}, {_number(high)}"
                    f"{')' if self.high_open else ']'}")
        if low is not None:
            return f"{'>' if self.low_open else '>='} {_number(low)}"
        if high is not None:
            return f"{'<' if self.high_open else '<='} {_number(high)}"
        return ""

    def check(self, value: Any) -> Any:
        """``value`` as this setting's type, or a :class:`SettingError` naming it.

        Numbers are converted to Python ``int``/``float`` (NumPy scalars would change the
        dtype of the arithmetic they enter); bools are not numbers here.
        """
        if value is None and self.optional:
            return None
        field = "{" + self.name + "}"
        if self.kind in (int, float):
            wanted = numbers.Integral if self.kind is int else numbers.Real
            if isinstance(value, bool) or not isinstance(value, wanted) or (
                    self.kind is float and not math.isfinite(float(value))):
                noun = "an integer" if self.kind is int else "a finite number"
                raise SettingError(f"{field} must be {noun}{' or None' * self.optional}, "
                                   f"got {_shown(value)}")
            # (value passed the isinstance check above: Integral for int settings)
            number = int(cast(numbers.Integral, value)) if self.kind is int else float(value)
            if not self._in_range(number):
                raise SettingError(f"{field} must be {self.range_text()}, got {_shown(number)}")
            return number
        if self.kind is bool:
            if not isinstance(value, (bool, numbers.Integral)) or value not in (0, 1):
                raise SettingError(f"{field} must be True or False, got {_shown(value)}")
            return bool(value)
        if self.kind is str:
            if not isinstance(value, str):
                raise SettingError(f"{field} must be a string, got {_shown(value)}")
            if self.choices is not None and value not in self.choices:
                raise SettingError(f"unknown {field} {_shown(value)}; choose one of "
                                   f"{', '.join(self.choices)}")
            return value
        return _layer_sizes(field, value)

    def _in_range(self, value: float) -> bool:
        if self.low is not None and (value < self.low or (self.low_open and value == self.low)):
            return False
        return not (self.high is not None
                    and (value > self.high or (self.high_open and value == self.high)))


def _layer_sizes(field: str, value: Any) -> tuple[int, ...]:
    """Hidden layer sizes as a tuple of positive ints (``()`` is allowed: no hidden layer)."""
    try:
        if isinstance(value, (str, bytes)):
            raise TypeError
        sizes = tuple(value)
        if all(isinstance(n, numbers.Integral) and not isinstance(n, bool) and int(n) >= 1
               for n in sizes):
            return tuple(int(n) for n in sizes)
    except TypeError:
        pass
    raise SettingError(f"{field} must be positive integers such as (4,) or (20, 7, 5), "
                       f"got {_shown(value)}")


def _number(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _shown(value: Any) -> str:
    """A value inside a template: its repr with braces doubled."""
    return repr(value).replace("{", "{{").replace("}", "}}")


_TRAINING = (
    Setting("learning_rate", float, 1.2, "Learning rate lr0 (> 0); the course's flower run "
            "uses 1.2.", low=0, low_open=True, flag="--lr"),
    Setting("iterations", int, None, "Update steps (default 10000 when epochs is not "
            "given).", low=1),
    Setting("epochs", int, None, "Passes over the data, instead of iterations.", low=1),
    Setting("batch_size", int, None, "Examples per step; default: all (the course's "
            "full-batch gradient descent). Data is reshuffled every epoch from the seed.",
            low=1),
    Setting("optimizer", str, "gd", "gd (the course's), momentum, rmsprop or adam.",
            choices=OPTIMIZERS),
    Setting("beta1", float, 0.9, "Momentum / Adam first-moment decay.", low=0, high=1,
            high_open=True, requires=one_of("optimizer", "momentum", "adam")),
    Setting("beta2", float, 0.999, "RMSprop / Adam second-moment decay.", low=0, high=1,
            high_open=True, requires=one_of("optimizer", "rmsprop", "adam")),
    Setting("epsilon", float, 1e-8, "RMSprop / Adam: added to the root of the second "
            "moment, against division by zero.", low=0, low_open=True,
            requires=one_of("optimizer", "rmsprop", "adam")),
    Setting("lr_decay", float, 0.0, "lr = lr0 / (1 + DECAY * floor(epoch / EVERY)); "
            "0 = constant.", low=0),
    Setting("lr_decay_every", int, 1, "1 = inverse-time decay each epoch; N = step decay "
            "every N epochs.", low=1,
            requires=Requires("lr_decay", lambda decay: decay != 0, "{lr_decay} above 0",
                              "set {lr_decay} (e.g. 0.1)")),
    Setting("l2", float, 0.0, "L2 strength lambda: cost + lambda/(2m) sum W^2.", low=0),
    Setting("keep_prob", float, 1.0, "Inverted-dropout keep probability of hidden units "
            "(1 = no dropout).", low=0, high=1, low_open=True,
            requires=Requires("layers", bool, "hidden layers ({layers})",
                              "give {layers} at least one hidden layer")),
    Setting("print_every", int, None, "Print a record every N iterations (default "
            "1000): the cost on all training data before that update, as the course "
            "prints it. With epochs, every N epochs (default: about ten lines): the mean of "
            "that epoch's batch costs (plus the L2 term of the epoch-end weights). The "
            "command line records more often than it prints (about 500 records per run, "
            "every epoch or every 10+ iterations) for the history and the loss curve; "
            "in Python this is the record interval.", low=1,
            estimator="record_every"),
    Setting("patience", int, None, "Stop when the validation cost has not improved for N "
            "records and restore the best parameters.",
            low=1, requires=Requires("validation_fraction", lambda f: f is not None,
                                     "{validation_fraction}",
                                     "set {validation_fraction} (e.g. 0.2)")),
)

_MODEL = (
    Setting("layers", tuple, (4,), "Hidden layer sizes: 4 is the course's shallow network, "
            "20,7,5 a deep one.", estimator="hidden_layer_sizes"),
    Setting("hidden_activation", str, "tanh", "The activation g of the hidden layers: tanh (the "
            "course's), relu, leaky_relu, sigmoid, identity, gelu (its tanh approximation: "
            "the Array API has no erf) or silu.",
            choices=tuple(HIDDEN_ACTIVATIONS), estimator="activation"),
    Setting("init", str, "small", "small = randn*0.01 (the course's), zeros shows the "
            "symmetry problem, xavier for tanh, he for relu, random = randn (with the init "
            "scale).", choices=tuple(WEIGHT_SCALES)),
    Setting("init_scale", float, 1.0, "Multiplies the initializer's factor: init random "
            "with scale 10 is the course's too-large randn*10 example.", low=0,
            requires=Requires("init", lambda init: init != "zeros", "{init} other than zeros",
                              "set {init} to random")),
    Setting("seed", int, 3, "Seed of the host generator (weights, shuffles, dropout, "
            "validation split): init small draws what the course's np.random.seed(SEED); "
            "np.random.randn(n1, n0) * 0.01 draws.", low=0, high=SEED_HIGH,
            estimator="random_state"),
)

_DATA = (
    Setting("task", str, None, "Output layer and loss: binary (sigmoid + cross-entropy), "
            "multiclass (softmax + cross-entropy), regression (identity + MSE). Inferred "
            "from the labels when omitted.", choices=TASKS, estimator=None),
    Setting("standardize", bool, False, "Scale features to mean 0, std 1 (fitted on the "
            "training split only, stored with the model)."),
    Setting("validation_fraction", float, None, "Hold out this fraction (seeded) and "
            "report its cost and accuracy.", low=0, high=1, low_open=True, high_open=True),
)

_DEVICE = (
    Setting("device", str, "auto", "auto, cpu, cuda or cuda:N. auto = CUDA when CuPy or "
            "PyTorch sees a GPU, else CPU."),
    Setting("backend", str, "auto", "Array library; auto = numpy on cpu, and on cuda the "
            "fastest installed by the measured order that nnbackend devices shows.",
            choices=BACKENDS),
    Setting("dtype", str, None, "Default: float64 on CPU, float32 on CUDA.", choices=DTYPES),
    Setting("cuda_graph", str, "auto", "Replay each training step as a CUDA graph: one "
            "launch instead of dozens of tiny kernels, the same results. auto = on where "
            "the backend can capture graphs (PyTorch on CUDA); CuPy cannot (it refuses to "
            "record matrix products).", choices=("auto", "on", "off"), estimator=None),
)

#: Every setting by its library name.
SETTINGS: dict[str, Setting] = {s.name: s for s in (*_TRAINING, *_MODEL, *_DATA, *_DEVICE)}
#: The fields of TrainingOptions, in order.
TRAINING_SETTINGS = tuple(s.name for s in _TRAINING)
#: The learning rate the regressor starts from: smaller than the classifier's, because an
#: identity output does not saturate.
REGRESSOR_LEARNING_RATE = 0.1


def default(name: str) -> Any:
    """The default of setting ``name``."""
    return SETTINGS[name].default


def check(name: str, value: Any) -> Any:
    """``SETTINGS[name].check(value)``."""
    return SETTINGS[name].check(value)


def flag(name: str) -> str:
    """The command line's spelling of a setting (``learning_rate`` -> ``--lr``); other
    names (not settings) are dashed, for messages that mention them."""
    setting = SETTINGS.get(name)
    return (setting.flag if setting is not None and setting.flag
            else "--" + name.replace("_", "-"))


def estimator_name(name: str) -> str:
    """The estimators' spelling of a setting (``seed`` -> ``random_state``)."""
    setting = SETTINGS.get(name)
    return setting.estimator if setting is not None and setting.estimator else name


def check_all(values: Mapping[str, Any]) -> dict[str, Any]:
    """Each value checked (:func:`check`), then their :func:`check_requirements`."""
    checked = {name: check(name, value) for name, value in values.items()}
    check_requirements(checked)
    return checked


def check_requirements(values: Mapping[str, Any]) -> None:
    """Refuse a setting given (other than its default) beside one that makes it meaningless.

    Parameters
    ----------
    values : mapping
        Settings by library name; a requirement whose other setting is not among them is
        not checked here (e.g. ``patience`` when the validation data comes as arrays).

    Raises
    ------
    SettingError
        ``{beta1} only applies with {optimizer} momentum or adam; ...``.
    """
    for name, value in values.items():
        setting = SETTINGS.get(name)
        need = None if setting is None else setting.requires
        if (setting is None or need is None or need.setting not in values
                or _same(value, setting.default)):
            continue
        if not need.met(values[need.setting]):
            raise SettingError(f"{{{name}}} only applies with {need.text}; drop it, or "
                               f"{need.fix}")


def _same(value: Any, default: Any) -> bool:
    """Whether ``value`` is the default (None only when the default is None)."""
    return value is default or (value is not None and default is not None and value == default)


#: Every spelling of a setting (library name, flag without dashes, estimator name) ->
#: its library name: what "did you mean" looks up first.
_SPELLINGS: dict[str, str] = {}
for _setting in SETTINGS.values():
    for _spelling in (_setting.name, _setting.estimator,
                      (_setting.flag or "").lstrip("-").replace("-", "_")):
        if _spelling:
            _SPELLINGS.setdefault(_spelling, _setting.name)


def check_known(given: Iterable[str], allowed: Iterable[str], where: str) -> None:
    """Refuse keyword names that are not settings of ``where``, with a "did you mean".

    Parameters
    ----------
    given : iterable of str
        The keywords a caller passed.
    allowed : iterable of str
        The names ``where`` takes, in its own spelling (library names for ``Model``,
        scikit-learn's for the estimators).
    where : str
        What took them (``Model.fit``), for the message.

    Raises
    ------
    SettingError
        ``Model.fit has no setting 'lr'; did you mean learning_rate?``, one line.
    """
    names = list(allowed)
    for name in given:
        if name in names:
            continue
        raise SettingError(f"{where} has no setting {_shown(name)}; "
                           + literal(_suggestion(name, names)))


def _suggestion(name: str, names: list[str]) -> str:
    """``did you mean X?`` (another spelling of the same setting, or a close name), or
    the list of names."""
    setting = SETTINGS.get(_SPELLINGS.get(name, ""))
    if setting is not None:
        for spelling in (setting.name, setting.estimator):
            if spelling in names:
                return f"did you mean {spelling}?"
    close = difflib.get_close_matches(name, names, n=1)
    if close:
        return f"did you mean {close[0]}?"
    return f"the settings are: {', '.join(names)}"

