"""scikit-learn style estimators: :class:`NNClassifier` and :class:`NNRegressor`.

    >>> from nnbackend import NNClassifier
    >>> from nnbackend.datasets import flower
    >>> X, y = flower()                                   # (400, 2), labels 0/1
    >>> clf = NNClassifier(iterations=2000).fit(X, y)     # the notes' 2-4-1 network
    >>> clf.predict_proba(X[:2]).shape
    (2, 2)

They follow scikit-learn's conventions without importing it: constructor arguments are
stored unmodified and checked in ``fit``, ``fit`` returns ``self``, fitted attributes end
in ``_``, ``get_params``/``set_params`` work, and fitted estimators pickle. With
scikit-learn installed they pass its estimator checks and work in ``Pipeline``,
``GridSearchCV`` and ``cross_val_score``.

Arrays in, arrays out: NumPy in gives NumPy out; a CuPy, PyTorch or array-api-strict
array gives outputs in that library, on that device. Unless ``backend`` or ``device`` is
set, such an input also picks the computation backend (its library and device), and a
float32/float64 input picks the dtype. Inputs are validated once on the host in float64
(:func:`nnbackend.data.check_features`) and then copied to the backend.
"""

from __future__ import annotations

import inspect
import math
import numbers
import operator
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

import numpy as np
from array_api_compat import (
    array_namespace,
    is_array_api_obj,
    is_array_api_strict_namespace,
    is_cupy_array,
    is_numpy_array,
    is_pydata_sparse_array,
    is_torch_array,
)
from array_api_compat import device as array_device

from .activations import get_hidden_activation
from .backend import Backend, host_rng, resolve_backend
from .data import Targets, check_features, encode_targets, split_validation
from .errors import NNBackendError
from .losses import OUTPUT_LAYERS
from .network import Network
from .training import TrainingOptions, train

Array = Any
T = TypeVar("T", bound=type)
E = TypeVar("E", bound="_NNEstimator")


class NotFittedError(NNBackendError, AttributeError):
    """``predict``, ``predict_proba`` or ``score`` was called before ``fit``.

    Like scikit-learn's ``NotFittedError`` it is both a ``ValueError`` and an
    ``AttributeError``; once scikit-learn is imported, the error raised is also an
    instance of scikit-learn's class.
    """


class DataConversionWarning(UserWarning):
    """A column vector ``y`` of shape ``(n, 1)`` was flattened for a classifier."""


class _FeatureTypeError(NNBackendError, TypeError):
    """Features that are not numbers (e.g. a dict in an object array)."""


_SKLEARN_TWINS: dict[type, type] = {}


def _with_sklearn(own: T, module: str, name: str) -> T:
    """``own``, or a subclass of both ``own`` and scikit-learn's class of the same role.

    scikit-learn is looked up in ``sys.modules`` only, never imported: code that
    catches scikit-learn's class has imported it already.
    """
    theirs = getattr(sys.modules.get(module), name, None)
    if not isinstance(theirs, type) or issubclass(own, theirs):
        return own
    if own not in _SKLEARN_TWINS:
        qualname = f"_Sklearn{own.__name__}"
        twin = type(own.__name__, (own, theirs),
                    {"__module__": __name__, "__qualname__": qualname, "__doc__": own.__doc__})
        globals()[qualname] = twin  # so that pickle finds it
        _SKLEARN_TWINS[own] = twin
    return _SKLEARN_TWINS[own]  # type: ignore[return-value]


# ----------------------------------------------------------------------------------------
# The caller's arrays: where they live, to the host and back


@dataclass(frozen=True)
class _Origin:
    """Where the caller's array lives, so that outputs can be put back there.

    ``xp`` is None for NumPy arrays and for anything that is not an array-API array
    (lists, memmaps, data frames): their outputs are NumPy arrays.
    """

    library: str
    xp: Any
    device: Any
    dtype_name: str | None


def _origin(x: Any) -> _Origin:
    """Describe the library, device and floating dtype of ``x``."""
    if is_numpy_array(x) or not is_array_api_obj(x) or is_pydata_sparse_array(x):
        kind = getattr(x, "dtype", None) if is_numpy_array(x) else None
        name = str(kind) if kind in (np.float32, np.float64) else None
        return _Origin("numpy", None, "cpu", name)
    xp = array_namespace(x)
    if is_cupy_array(x):
        library = "cupy"
    elif is_torch_array(x):
        library = "torch"
    elif is_array_api_strict_namespace(xp):
        library = "array-api-strict"
    else:
        library = xp.__name__
    dtype_name = next((n for n in ("float32", "float64") if x.dtype == getattr(xp, n)), None)
    return _Origin(library, xp, array_device(x), dtype_name)


def _device_label(origin: _Origin) -> str:
    """The ``device`` string that :func:`resolve_backend` understands for ``origin``."""
    dev = origin.device
    if origin.library == "cupy":
        return f"cuda:{dev.id}"
    if origin.library == "torch":
        return "cpu" if dev.type == "cpu" else f"{dev.type}:{dev.index or 0}"
    if dev == origin.xp.__array_namespace_info__().default_device():
        return "cpu"
    return repr(dev).split("'")[1]  # array_api_strict.Device('device1') -> device1


def _to_numpy(x: Any, origin: _Origin) -> Any:
    """A host copy of a device array (anything else is returned as it is)."""
    if origin.xp is None:
        return x
    if origin.library == "cupy":
        return x.get()
    if origin.library == "torch":
        return x.detach().cpu().numpy()
    if origin.library == "array-api-strict":
        return np.asarray(x.to_device(origin.xp.__array_namespace_info__().default_device()))
    return np.asarray(x)


def _from_numpy(host: np.ndarray, origin: _Origin) -> Any:
    """Put a host result in the caller's library and device (labels that are not
    numbers, e.g. strings, stay NumPy)."""
    if origin.xp is None or host.dtype.kind not in "biuf":
        return host
    return origin.xp.asarray(host, device=origin.device)


def _host_features(X: Any, origin: _Origin) -> np.ndarray:
    """``X`` as a checked 2-D float64 host array (examples as rows).

    Raises
    ------
    NNBackendError
        Sparse, complex, empty, ragged, non-numeric or non-finite data (a
        ``TypeError`` too for values that are not numbers at all).
    """
    if X is None:
        raise NNBackendError("X is None; pass the features as a 2-D array (examples as rows)")
    if hasattr(X, "tocsr") or is_pydata_sparse_array(X):
        raise NNBackendError("sparse input is not supported; pass a dense array (X.toarray())")
    try:
        raw = np.asarray(_to_numpy(X, origin))
    except ValueError as exc:
        raise NNBackendError(f"features must be a 2-D array of numbers ({exc})") from None
    if raw.dtype.kind == "c":
        raise NNBackendError("Complex data not supported; pass real-valued features")
    if raw.ndim != 2:
        raise NNBackendError(
            f"features must be a 2-D array (examples as rows), got shape {raw.shape}. Reshape "
            "your data: X.reshape(-1, 1) for one feature, X.reshape(1, -1) for one example"
        )
    if 0 in raw.shape:
        what = "sample(s)" if raw.shape[0] == 0 else "feature(s)"
        raise NNBackendError(
            f"Found array with 0 {what} (shape={raw.shape}) while a minimum of 1 is required."
        )
    try:
        values = raw.astype(np.float64)
    except TypeError as exc:
        raise _FeatureTypeError(f"features must be numbers: {exc}") from None
    except ValueError as exc:
        raise NNBackendError(
            f"features must be numbers ({exc}); encode text or categories as numbers first"
        ) from None
    return check_features(values)


def _host_targets(y: Any, n_samples: int, owner: str) -> np.ndarray:
    """``y`` as a host array with one entry (or row) per example."""
    if y is None:
        raise NNBackendError(f"{owner} requires y to be passed, but the target y is None")
    if hasattr(y, "tocsr") or is_pydata_sparse_array(y):
        raise NNBackendError("sparse targets are not supported; pass a dense array")
    try:
        values = np.asarray(_to_numpy(y, _origin(y)))
    except ValueError as exc:
        raise NNBackendError(f"y must be a 1-D array of targets ({exc})") from None
    if values.dtype.kind == "c":
        raise NNBackendError("Complex data not supported; pass real-valued targets")
    if values.ndim == 0 or values.shape[0] != n_samples:
        count = 1 if values.ndim == 0 else values.shape[0]
        raise NNBackendError(
            f"X has {n_samples} examples but y has {count}; pass one target per row of X"
        )
    return values


# ----------------------------------------------------------------------------------------
# Parameter checks (in fit, as scikit-learn asks)

#: CLI flag spellings in errors from shared code -> the estimator's parameter names.
_FLAG_NAMES = ("lr_decay_every", "validation_fraction", "learning_rate", "batch_size",
               "keep_prob", "lr_decay", "iterations", "epochs", "patience", "device",
               "backend", "dtype")


@contextmanager
def _parameter_names() -> Iterator[None]:
    """Re-raise errors of shared code with ``--batch-size`` written as ``batch_size``."""
    try:
        yield
    except NNBackendError as exc:
        message = str(exc)
        message = message.replace("print-every", "record_every")
        for name in _FLAG_NAMES:
            dashed = name.replace("_", "-")
            message = message.replace(f"--{dashed}", name)
            if "-" in dashed:
                message = message.replace(dashed, name)
        if message == str(exc):
            raise
        raise type(exc)(message) from None


def _real(name: str, value: Any) -> float:
    """A finite real number as a Python float (NumPy scalars would upcast float32)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(
            float(value)):
        raise NNBackendError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _count(name: str, value: Any) -> int | None:
    """None or a Python int."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise NNBackendError(f"{name} must be an integer or None, got {value!r}")
    return int(value)


def _text(name: str, value: Any, optional: bool = False) -> Any:
    """A string (or None when ``optional``)."""
    if (value is None and optional) or isinstance(value, str):
        return value
    raise NNBackendError(f"{name} must be a string, got {value!r}")


def _hidden_sizes(value: Any) -> tuple[int, ...]:
    """``hidden_layer_sizes`` as a tuple of positive ints (an int means one layer)."""
    try:
        if isinstance(value, (str, bool)):
            raise TypeError
        items = (value,) if isinstance(value, numbers.Integral) else value
        sizes = tuple(operator.index(n) for n in items)
        if all(n >= 1 for n in sizes):
            return sizes
    except TypeError:
        pass
    raise NNBackendError(
        f"hidden_layer_sizes must be a tuple of positive integers such as (4,) or (16, 8), "
        f"got {value!r}"
    )


def _generator(random_state: Any) -> tuple[np.random.RandomState, int | None]:
    """The run's host generator and the seed of the validation split."""
    if isinstance(random_state, np.random.RandomState):
        return random_state, int(random_state.randint(2**31 - 1))
    seed = None if random_state is None else _count("random_state", random_state)
    if seed is not None and not 0 <= seed < 2**32:
        raise NNBackendError(f"random_state must be in [0, 2**32), got {seed}")
    return host_rng(seed), seed


# ----------------------------------------------------------------------------------------
# The estimators


class _NNEstimator:
    """What the classifier and the regressor share: parameters, fit, pickling, repr."""

    _estimator_type: ClassVar[str]
    # Fitted attributes (set by fit; absent before).
    n_features_in_: int
    n_outputs_: int
    backend_: Backend
    network_: Network
    history_: list[dict[str, Any]]
    loss_curve_: list[float]
    n_iter_: int
    stop_reason_: str

    def __init__(
        self,
        hidden_layer_sizes: Any = (4,),
        activation: str = "tanh",
        init: str = "small",
        learning_rate: float = 1.2,
        iterations: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str = "gd",
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        l2: float = 0.0,
        keep_prob: float = 1.0,
        lr_decay: float = 0.0,
        lr_decay_every: int = 1,
        validation_fraction: float | None = None,
        patience: int | None = None,
        record_every: int | None = None,
        random_state: Any = 3,
        device: str = "auto",
        backend: str = "auto",
        dtype: str | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.init = init
        self.learning_rate = learning_rate
        self.iterations = iterations
        self.epochs = epochs
        self.batch_size = batch_size
        self.optimizer = optimizer
        self.beta1 = beta1
        self.beta2 = beta2
        self.epsilon = epsilon
        self.l2 = l2
        self.keep_prob = keep_prob
        self.lr_decay = lr_decay
        self.lr_decay_every = lr_decay_every
        self.validation_fraction = validation_fraction
        self.patience = patience
        self.record_every = record_every
        self.random_state = random_state
        self.device = device
        self.backend = backend
        self.dtype = dtype

    # -- parameters ----------------------------------------------------------------------

    @classmethod
    def _param_names(cls) -> list[str]:
        """The constructor's keyword names, which are the estimator's parameters."""
        signature = inspect.signature(cls.__init__)
        return [p.name for p in signature.parameters.values() if p.name != "self"]

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters and their values.

        Parameters
        ----------
        deep : bool
            Accepted for scikit-learn compatibility; no parameter is an estimator.
        """
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params: Any) -> _NNEstimator:
        """Set constructor parameters (checked at the next ``fit``); returns ``self``."""
        valid = self._param_names()
        for name, value in params.items():
            if name not in valid:
                raise NNBackendError(
                    f"invalid parameter {name!r} for {type(self).__name__}; valid "
                    f"parameters are: {', '.join(valid)}"
                )
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = inspect.signature(type(self).__init__).parameters
        changed = [f"{name}={value!r}" for name, value in self.get_params().items()
                   if repr(value) != repr(defaults[name].default)]
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- fitting -------------------------------------------------------------------------

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        """Encode ``y``; also return the fitted attributes that depend on it."""
        raise NotImplementedError

    def _compute_backend(self, origin: _Origin) -> Backend:
        """The backend to train on: the input's library and device unless ``backend`` or
        ``device`` says otherwise; the input's float dtype unless ``dtype`` does."""
        device, backend = _text("device", self.device), _text("backend", self.backend)
        dtype = _text("dtype", self.dtype, optional=True)
        if (device, backend) == ("auto", "auto") and origin.library in (
                "cupy", "torch", "array-api-strict"):
            device, backend = _device_label(origin), origin.library
        chosen = resolve_backend(device, backend, dtype)
        wanted = origin.dtype_name
        if dtype is None and wanted and chosen.name == origin.library and (
                wanted != chosen.dtype_name):
            chosen = resolve_backend(device, backend, wanted)
        return chosen

    def _options(self) -> TrainingOptions:
        return TrainingOptions(
            learning_rate=_real("learning_rate", self.learning_rate),
            iterations=_count("iterations", self.iterations),
            epochs=_count("epochs", self.epochs),
            batch_size=_count("batch_size", self.batch_size),
            optimizer=_text("optimizer", self.optimizer),
            beta1=_real("beta1", self.beta1),
            beta2=_real("beta2", self.beta2),
            epsilon=_real("epsilon", self.epsilon),
            lr_decay=_real("lr_decay", self.lr_decay),
            lr_decay_every=_count("lr_decay_every", self.lr_decay_every) or 0,
            l2=_real("l2", self.l2),
            keep_prob=_real("keep_prob", self.keep_prob),
            patience=_count("patience", self.patience),
            print_every=_count("record_every", self.record_every),
        )

    def fit(self: E, X: Any, y: Any) -> E:
        """Train a fresh network on ``(X, y)``.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
            Examples as rows: a NumPy, CuPy, PyTorch or array-api-strict array, or
            anything NumPy can convert.
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
            Class labels (classifier) or real targets (regressor).

        Returns
        -------
        self
        """
        origin = _origin(X)
        features = _host_features(X, origin)
        targets, fitted = self._encode(y, features.shape[0])
        hidden = _hidden_sizes(self.hidden_layer_sizes)
        activation, init = _text("activation", self.activation), _text("init", self.init)
        generator, seed = _generator(self.random_state)
        with _parameter_names():
            options = self._options()
            backend = self._compute_backend(origin)
            X_fit, Y_fit, validation = features, targets.Y, None
            if self.validation_fraction is not None:
                fraction = _real("validation_fraction", self.validation_fraction)
                X_fit, Y_fit, X_val, Y_val = split_validation(features, targets.Y, fraction,
                                                              seed)
                validation = (backend.asarray(X_val), backend.asarray(Y_val))
            elif self.patience is not None:
                raise NNBackendError(
                    "patience needs validation data; set validation_fraction (e.g. 0.2)"
                )
            sizes = (features.shape[1], *hidden, targets.n_outputs)
            network = Network.create(sizes, backend, activation, targets.task, init,
                                     rng=generator)
            result = train(network, backend.asarray(X_fit), backend.asarray(Y_fit), options,
                           rng=generator, validation=validation)
        if not all(np.isfinite(backend.to_host(p)).all() for p in network.params.values()):
            warnings.warn(
                f"{type(self).__name__} training diverged (NaN or inf weights); lower "
                "learning_rate, or scale X and y (e.g. with StandardScaler)",
                RuntimeWarning, stacklevel=2,
            )
        self.n_features_in_ = features.shape[1]
        self.n_outputs_ = targets.n_outputs
        self.backend_ = backend
        self.network_ = network
        self.history_ = result.history
        self.loss_curve_ = [record["cost"] for record in result.history]
        self.n_iter_ = result.steps
        self.stop_reason_ = result.stop_reason
        for name, value in fitted.items():
            setattr(self, name, value)
        return self

    # -- predicting ----------------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "network_")

    def _output_layer(self, X: Any) -> tuple[Array, _Origin]:
        """``A[L]`` for ``X`` on the backend, shape (n_samples, n[L]), and X's origin."""
        if not hasattr(self, "network_"):
            raise _with_sklearn(NotFittedError, "sklearn.exceptions", "NotFittedError")(
                f"This {type(self).__name__} instance is not fitted yet; call fit(X, y) "
                "before using it"
            )
        origin = _origin(X)
        features = _host_features(X, origin)
        if features.shape[1] != self.n_features_in_:
            raise NNBackendError(
                f"X has {features.shape[1]} features, but {type(self).__name__} is "
                f"expecting {self.n_features_in_} features as input; pass the columns "
                "it was fitted on"
            )
        return self.network_.predict_proba(self.backend_.asarray(features)), origin

    def _to_caller(self, out: Array, origin: _Origin) -> Array:
        """Return a backend array in the caller's library, on its device.

        Moved across libraries or devices, a float result takes the dtype of a
        float32/float64 input (e.g. NumPy float64 in, float32 CuPy run, float64 out).
        """
        backend = self.backend_
        if backend.name == origin.library and backend.device == origin.device:
            return out
        host = backend.to_host(out)
        if origin.dtype_name is not None and host.dtype.kind == "f":
            host = host.astype(origin.dtype_name, copy=False)
        return _from_numpy(host, origin)

    # -- pickling ------------------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        # A Backend holds a module and closures, which do not pickle: store the backend
        # by name and the parameters as host arrays, and rebuild both on load.
        state = self.__dict__.copy()
        network, backend = state.pop("network_", None), state.pop("backend_", None)
        if network is not None:
            state["_network_state"] = {
                "backend": backend.as_dict(),
                "layer_sizes": network.layer_sizes,
                "activation": network.hidden.name,
                "task": network.output.task,
                "params": {k: backend.to_host(v) for k, v in network.params.items()},
            }
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        saved = state.pop("_network_state", None)
        self.__dict__.update(state)
        if saved is not None:
            try:
                backend = resolve_backend(**saved["backend"])
            except NNBackendError as exc:
                # A model fitted on a GPU must still load on a machine without one.
                backend = resolve_backend("cpu", "numpy", saved["backend"]["dtype"])
                warnings.warn(f"{type(self).__name__} was fitted on "
                              f"{saved['backend']['backend']} on {saved['backend']['device']}, "
                              f"which cannot be used here ({exc}); loaded on "
                              f"{backend.describe()}", RuntimeWarning, stacklevel=2)
            params = {k: backend.asarray(v) for k, v in saved["params"].items()}
            self.backend_ = backend
            self.network_ = Network(tuple(saved["layer_sizes"]),
                                    get_hidden_activation(saved["activation"]),
                                    OUTPUT_LAYERS[saved["task"]], backend, params)


class NNClassifier(_NNEstimator):
    """A fully-connected network classifier with the notes' math (scikit-learn style).

    Two classes train the notes' sigmoid output with binary cross-entropy; more train a
    softmax output with categorical cross-entropy. Labels may be numbers or strings.

    Parameters
    ----------
    hidden_layer_sizes : tuple of int or int, default=(4,)
        ``n[1], ..., n[L-1]``; ``()`` gives logistic regression.
    activation : str, default="tanh"
        Hidden activation: ``tanh``, ``relu``, ``leaky_relu``, ``sigmoid``, ``identity``.
    init : str, default="small"
        ``small`` (the notes' ``randn * 0.01``), ``xavier``, ``he`` or ``zeros``.
    learning_rate : float, default=1.2
        The notes' step size for full-batch gradient descent.
    iterations, epochs : int or None, default=None
        Run length, in update steps or passes over the data (not both). Neither: 10000
        iterations, as in the notes.
    batch_size : int or None, default=None
        Examples per step; None is full-batch gradient descent.
    optimizer : str, default="gd"
        ``gd``, ``momentum``, ``rmsprop`` or ``adam``, with ``beta1``, ``beta2``,
        ``epsilon``.
    l2 : float, default=0.0
        L2 regularisation strength ``lambda``.
    keep_prob : float, default=1.0
        Inverted-dropout keep probability of hidden units (1 = off).
    lr_decay, lr_decay_every : float, int, default=0.0, 1
        ``lr = lr0 / (1 + lr_decay * floor(epoch / lr_decay_every))``.
    validation_fraction : float or None, default=None
        Hold out this seeded fraction of ``(X, y)``; its cost is in ``history_``.
    patience : int or None, default=None
        Early stopping: stop after this many records without a better validation cost,
        and keep the best parameters. Needs ``validation_fraction``.
    record_every : int or None, default=None
        Add a record to ``history_`` every N iterations (every N epochs with ``epochs``);
        None: every 1000 iterations, or every epoch. Each record reads the cost from the
        device.
    random_state : int, None or numpy.random.RandomState, default=3
        Seeds initial weights, shuffles, dropout and the validation split.
    device, backend, dtype : str, default="auto", "auto", None
        As in :func:`nnbackend.resolve_backend`. With both ``auto``, a CuPy, PyTorch or
        array-api-strict ``X`` trains on its own library and device; NumPy data uses
        ``auto`` (CUDA when CuPy sees a GPU, else NumPy). ``dtype=None`` follows a
        float32/float64 ``X`` computed in its own library, else the backend's default.

    Attributes
    ----------
    classes_ : ndarray, shape (n_classes,)
        Sorted class labels (NumPy).
    n_features_in_ : int
    n_outputs_ : int
        ``n[L]``: 1 for two classes, else the number of classes.
    network_ : Network
        The trained network; ``backend_`` is the :class:`Backend` it lives on.
    history_ : list of dict
        The training records (cost, accuracy, validation cost, time).
    loss_curve_ : list of float
        The training cost of each record (before that step's update, as the notes
        print it).
    n_iter_ : int
        Update steps taken.
    stop_reason_ : str
        Why training ended.

    Notes
    -----
    ``predict`` returns labels in the input's library and device when they are numbers;
    string (or other non-numeric) labels are returned as a NumPy array for any input.
    ``predict_proba`` returns shape ``(n_samples, n_classes)`` (``[1 - p, p]`` for two
    classes) in the input's library and device.
    """

    _estimator_type = "classifier"  # how scikit-learn < 1.6 tells classifiers apart
    classes_: np.ndarray

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        labels = _host_targets(y, n_samples, type(self).__name__)
        if labels.ndim == 2 and labels.shape[1] == 1:
            warnings.warn(
                _with_sklearn(DataConversionWarning, "sklearn.exceptions",
                              "DataConversionWarning")(
                    "A column-vector y was passed when a 1d array was expected; pass y "
                    "of shape (n_samples,), e.g. y.ravel()"),
                stacklevel=3,
            )
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise NNBackendError(
                f"{type(self).__name__} needs 1-D labels, got shape {labels.shape}; "
                "multi-output classification is not supported"
            )
        if labels.dtype.kind == "f":
            if not np.isfinite(labels).all():
                raise NNBackendError("labels contain NaN or inf; drop or fix those rows first")
            if not np.all(labels == np.round(labels)):
                raise NNBackendError(
                    "Unknown label type: continuous (non-integer float labels); use "
                    "NNRegressor for real-valued targets"
                )
        try:
            classes = np.unique(labels)
        except TypeError:
            raise NNBackendError(
                "Unknown label type: mixed (e.g. numbers and strings); use labels of one type"
            ) from None
        if classes.size < 2:
            raise NNBackendError(
                f"{type(self).__name__} needs at least two classes, but y has 1 class "
                f"({classes[0]!r})"
            )
        targets = encode_targets(labels, "binary" if classes.size == 2 else "multiclass")
        return targets, {"classes_": targets.classes}

    def predict_proba(self, X: Any) -> Array:
        """Class probabilities.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples, n_classes)
            Columns in the order of ``classes_`` (``[1 - p, p]`` for two classes), in
            X's library and on its device.
        """
        out, origin = self._output_layer(X)
        if self.n_outputs_ == 1:
            out = self.backend_.xp.concat([1.0 - out, out], axis=1)
        return self._to_caller(out, origin)

    def predict(self, X: Any) -> Array:
        """Predicted class labels.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples,)
            Labels from ``classes_``: in X's library and device when they are numbers,
            NumPy otherwise.
        """
        out, origin = self._output_layer(X)
        host = self.backend_.to_host(out)
        index = (host[:, 0] > 0.5).astype(np.int64) if self.n_outputs_ == 1 else (
            np.argmax(host, axis=1))
        return _from_numpy(self.classes_[index], origin)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Accuracy of ``predict(X)`` against ``y`` (weighted by ``sample_weight``).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,)
        sample_weight : array_like, shape (n_samples,), optional
        """
        predicted = self.predict(X)
        predicted = np.asarray(_to_numpy(predicted, _origin(predicted)))
        truth = _host_targets(y, predicted.shape[0], type(self).__name__).reshape(-1)
        weights = None if sample_weight is None else _host_targets(
            sample_weight, predicted.shape[0], "score")
        return float(np.average(predicted == truth, weights=weights))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import ClassifierTags, Tags, TargetTags

        return Tags(estimator_type="classifier", target_tags=TargetTags(required=True),
                    classifier_tags=ClassifierTags(), array_api_support=True)


class NNRegressor(_NNEstimator):
    """A fully-connected network regressor with the notes' math (scikit-learn style).

    The output layer is the identity with the mean squared error
    ``J = 1/(2m) * sum((A - Y)**2)``, so ``dZ[L] = A[L] - Y`` as in the notes.
    Scale the targets (and the features) to about unit size: the default learning rate
    assumes it.

    Parameters
    ----------
    hidden_layer_sizes, activation, init, iterations, epochs, batch_size, optimizer, \
beta1, beta2, epsilon, l2, keep_prob, lr_decay, lr_decay_every, validation_fraction, \
patience, record_every, random_state, device, backend, dtype
        As in :class:`NNClassifier`.
    learning_rate : float, default=0.1
        Step size; smaller than the classifier's because the identity output does not
        saturate.

    Attributes
    ----------
    n_features_in_, n_outputs_, network_, backend_, history_, loss_curve_, n_iter_, \
stop_reason_
        As in :class:`NNClassifier`; ``n_outputs_`` is the number of targets.

    Notes
    -----
    ``y`` of shape ``(n_samples,)`` gives predictions of shape ``(n_samples,)``; a 2-D
    ``y`` gives 2-D predictions. Predictions are in X's library and on its device.
    """

    _estimator_type = "regressor"  # for scikit-learn < 1.6
    _target_ndim: int

    def __init__(
        self,
        hidden_layer_sizes: Any = (4,),
        activation: str = "tanh",
        init: str = "small",
        learning_rate: float = 0.1,
        iterations: int | None = None,
        epochs: int | None = None,
        batch_size: int | None = None,
        optimizer: str = "gd",
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        l2: float = 0.0,
        keep_prob: float = 1.0,
        lr_decay: float = 0.0,
        lr_decay_every: int = 1,
        validation_fraction: float | None = None,
        patience: int | None = None,
        record_every: int | None = None,
        random_state: Any = 3,
        device: str = "auto",
        backend: str = "auto",
        dtype: str | None = None,
    ) -> None:
        super().__init__(
            hidden_layer_sizes, activation, init, learning_rate, iterations, epochs,
            batch_size, optimizer, beta1, beta2, epsilon, l2, keep_prob, lr_decay,
            lr_decay_every, validation_fraction, patience, record_every, random_state, device,
            backend, dtype,
        )

    def _encode(self, y: Any, n_samples: int) -> tuple[Targets, dict[str, Any]]:
        values = _host_targets(y, n_samples, type(self).__name__)
        if values.ndim not in (1, 2):
            raise NNBackendError(f"y must be 1-D or 2-D, got shape {values.shape}")
        try:
            values = values.astype(np.float64)
        except (TypeError, ValueError):
            raise NNBackendError(
                "NNRegressor targets must be numbers; use NNClassifier for class labels"
            ) from None
        targets = encode_targets(values.reshape(n_samples, -1), "regression")
        return targets, {"_target_ndim": values.ndim}

    def predict(self, X: Any) -> Array:
        """Predicted targets.

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)

        Returns
        -------
        array, shape (n_samples,) or (n_samples, n_outputs)
            1-D when ``fit`` was given a 1-D ``y``; in X's library and on its device.
        """
        out, origin = self._output_layer(X)
        if self._target_ndim == 1:
            out = out[:, 0]
        return self._to_caller(out, origin)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Coefficient of determination ``R^2`` of ``predict(X)`` (averaged over outputs).

        Parameters
        ----------
        X : array_like, shape (n_samples, n_features)
        y : array_like, shape (n_samples,) or (n_samples, n_outputs)
        sample_weight : array_like, shape (n_samples,), optional
        """
        predicted = self.predict(X)
        predicted = np.asarray(_to_numpy(predicted, _origin(predicted)), dtype=np.float64)
        n = predicted.shape[0]
        truth = _host_targets(y, n, type(self).__name__).astype(np.float64).reshape(n, -1)
        predicted = predicted.reshape(n, -1)
        w = np.ones(n) if sample_weight is None else _host_targets(
            sample_weight, n, "score").astype(np.float64)
        w = w.reshape(n, 1)
        residual = np.sum(w * (truth - predicted) ** 2, axis=0)
        mean = np.sum(w * truth, axis=0) / np.sum(w)
        total = np.sum(w * (truth - mean) ** 2, axis=0)
        safe = np.where(total > 0, total, 1.0)
        r2 = np.where(total > 0, 1.0 - residual / safe, np.where(residual == 0, 1.0, 0.0))
        return float(np.mean(r2))

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import RegressorTags, Tags, TargetTags

        return Tags(estimator_type="regressor",
                    target_tags=TargetTags(required=True, multi_output=True),
                    regressor_tags=RegressorTags(), array_api_support=True)
