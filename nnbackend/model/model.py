"""``Model``: a network with everything needed to use it on real data.

A :class:`~nnbackend.core.network.Network` is the notes' math only: parameters and the
forward/backward equations on class indices and encoded targets. A :class:`Model` adds
what turns it into a tool: the target encoding (the original class labels), the feature
standardisation fitted in training, the run's description and history, and the verbs
``fit``, ``predict``, ``predict_proba``, ``evaluate``, ``save`` and ``load``. The command
line and the scikit-learn estimators are thin layers over it, and model files are written
and read here only (through :mod:`nnbackend.persistence.models`).

    >>> from nnbackend import Model
    >>> model = Model(layers=(4,), device="cpu").fit("flower", iterations=1000)
    >>> model.evaluate(*nnbackend.load_dataset("flower"))["accuracy"]   # doctest: +SKIP

Inputs and outputs are host (NumPy-convertible) arrays: features as rows
``(m, n_features)``, labels as ``(m,)``; the network runs on the model's backend.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import numpy as np

from ..core.backend import Backend, host_rng, resolve_backend
from ..core.network import Network
from ..data.columns import Columns, names_of, select_columns
from ..data.datasets import load_labelled
from ..data.encoding import check_features
from ..data.pipeline import PreparedData, prepare_arrays
from ..data.preprocessing import Standardizer
from ..data.scale import FeatureScaleWarning, scale_hint
from ..errors import NNBackendError, SettingError
from ..persistence.models import load_model, model_from_bytes, model_to_bytes, save_model
from ..training.callbacks import Callback, checked_callbacks
from ..training.divergence import refuse_diverged, refuse_non_finite
from ..training.memory import check_network_fits
from ..training.settings import TRAINING_SETTINGS, check, check_all, check_known, default
from ..training.trainer import Trainer, TrainingOptions, TrainingResult
from .scores import confusion_matrix, r2_score

Array = Any

#: The architecture settings a Model is built with (see :class:`Model`).
ARCHITECTURE = ("layers", "hidden_activation", "init", "init_scale", "seed")


class Model:
    """A network plus its target encoding, standardisation, description and history.

    Parameters
    ----------
    layers : sequence of int
        Hidden layer sizes ``n[1], ..., n[L-1]``: ``(4,)`` is the notes' shallow network,
        ``(20, 7, 5)`` a deep one, ``()`` logistic regression.
    hidden_activation : str
        ``g`` of the hidden layers: ``tanh`` (the notes'), ``relu``, ``leaky_relu``,
        ``sigmoid``, ``identity``, ``gelu`` (tanh approximation), ``silu``.
    init : str
        ``small`` (the notes' ``randn * 0.01``), ``zeros``, ``xavier``, ``he``, ``random``.
    init_scale : float
        Multiplies the initializer's factor (``init="random", init_scale=10`` is the
        course's too-large initialisation).
    seed : int, None or numpy.random.RandomState
        Seeds the weights, shuffles, dropout masks and the validation split.
    device, backend, dtype : str
        As in :func:`nnbackend.resolve_backend`; or pass a resolved
        :class:`~nnbackend.core.backend.Backend` as ``backend``.

    Attributes
    ----------
    network : Network or None
        The parameters and the math (None before ``fit``).
    task : str or None
        ``binary``, ``multiclass`` or ``regression``.
    classes : ndarray or None
        The original label of class index ``k`` is ``classes[k]`` (None for regression).
    standardizer : Standardizer or None
        The feature scaling fitted on the training split, applied before every use.
    columns : Columns or None
        The training data's feature and target column names (from a CSV header or a data
        frame's columns), or None. Data frames given later are matched by these names
        (reordered, the target column dropped); plain arrays by position.
    history : list of dict
        The training records (cost, accuracy, validation figures, time).
    result : TrainingResult or None
        The last ``fit``'s steps, epochs and stop reason.
    run : dict
        JSON-ready description of how the model was made (architecture, options, data),
        stored in model files and checkpoints.
    """

    def __init__(self, layers: Sequence[int] = (4,), *, hidden_activation: str = "tanh",
                 init: str = "small", init_scale: float = 1.0,
                 seed: int | None | np.random.RandomState = 3, device: str = "auto",
                 backend: str | Backend = "auto", dtype: str | None = None,
                 **unknown: Any) -> None:
        # A misspelt keyword (the estimators' "activation") gets the settings' one line.
        check_known(unknown, [*ARCHITECTURE, "device", "backend", "dtype"], "Model")
        self.layers: tuple[int, ...] = check("layers", layers)
        self.hidden_activation: str = check("hidden_activation", hidden_activation)
        self.init: str = check("init", init)
        self.init_scale: float = check("init_scale", init_scale)
        self.seed = (seed if seed is None or isinstance(seed, np.random.RandomState)
                     else check("seed", seed))
        self.backend = _backend(device, backend, dtype)
        self.network: Network | None = None
        self.task: str | None = None
        self.classes: np.ndarray | None = None
        self.standardizer: Standardizer | None = None
        self.columns: Columns | None = None
        self.history: list[dict[str, Any]] = []
        self.result: TrainingResult | None = None
        self.run: dict[str, Any] = {}
        self.header: dict[str, Any] = {}  # the model file's, after load
        self._rng: np.random.RandomState | None = None
        self._split_seed: int | None = None

    # -- building from a network or a file -----------------------------------------------

    @classmethod
    def from_network(cls, network: Network, *, classes: Any = None,
                     standardization: dict[str, Any] | None = None,
                     extra: dict[str, Any] | None = None,
                     columns: Columns | None = None) -> Model:
        """Wrap a trained network (e.g. read from a model file or a checkpoint)."""
        run = dict((extra or {}).get("run") or {})
        model = cls(run.get("layers", network.layer_sizes[1:-1]),
                    hidden_activation=network.hidden.name,
                    init=run.get("init", default("init")),
                    init_scale=run.get("init_scale", default("init_scale")),
                    seed=run.get("seed", default("seed")), backend=network.backend)
        model.network, model.task, model.run = network, network.output.task, run
        if classes is None and model.task != "regression":
            classes = list(range(2 if model.task == "binary" else network.layer_sizes[-1]))
        model.classes = None if classes is None else np.asarray(classes)
        model.standardizer = (None if standardization is None
                              else Standardizer.from_dict(standardization))
        model.history = list((extra or {}).get("history") or [])
        model.columns = columns
        return model

    @classmethod
    def load(cls, path: str | os.PathLike[str], *, device: str = "auto",
             backend: str | Backend = "auto", dtype: str | None = None) -> Model:
        """Read a model file (``Model.save``, ``nnbackend train --save``) onto a backend.

        The parameters are cast to the backend's dtype (default: float64 on the CPU,
        float32 on CUDA). Every problem with the file is a one-line ``NNBackendError``.
        """
        return cls._from_file(load_model(path, _backend(device, backend, dtype)))

    @classmethod
    def from_bytes(cls, data: bytes, *, device: str = "auto", backend: str | Backend = "auto",
                   dtype: str | None = None) -> Model:
        """Read the bytes of :meth:`to_bytes`, with the checks of :meth:`load`."""
        return cls._from_file(model_from_bytes(data, _backend(device, backend, dtype)))

    @classmethod
    def _from_file(cls, loaded: tuple[Network, dict[str, Any]]) -> Model:
        network, header = loaded
        model = cls.from_network(network, classes=header.get("classes"),
                                 standardization=header.get("standardization"),
                                 extra=header.get("extra"),
                                 columns=Columns.from_header(header))
        model.header = header
        return model

    def save(self, path: str | os.PathLike[str], **extra: Any) -> Path:
        """Write the model file atomically (weights, classes, standardisation, history).

        ``extra`` adds JSON-ready entries to the header's ``extra`` (e.g. a final
        accuracy). A failed write leaves any existing file untouched, and so do
        parameters that are NaN or infinite (:class:`~nnbackend.training.divergence.
        DivergedError`).
        """
        network, record, labels = self._file_contents(extra)
        refuse_non_finite(network.backend, network.params, path)  # never a NaN model
        return save_model(path, network, record, **labels)

    def to_bytes(self, **extra: Any) -> bytes:
        """The bytes of the model file :meth:`save` writes (for pickling, databases)."""
        network, record, labels = self._file_contents(extra)
        return model_to_bytes(network, record, **labels)

    def to_onnx(self, path: str | os.PathLike[str], dtype: str = "float32") -> Path:
        """Write the model as an ONNX file, atomically: raw features in, standardisation,
        labels and probabilities (or predictions) out, computed in ``dtype``; see
        :func:`nnbackend.model.onnx_export.build_onnx`. Needs ``pip install onnx``."""
        from .onnx_export import export_onnx  # the onnx package is an optional extra

        return export_onnx(self, path, dtype)

    def _file_contents(self, extra: dict[str, Any]
                       ) -> tuple[Network, dict[str, Any], dict[str, Any]]:
        """What a model file holds: the network, the header's ``extra``, and the classes
        and standardisation (keywords of :func:`save_model`)."""
        network = self._fitted()
        record = {"run": self.run, "history": self.history, **extra}
        if self.result is not None:
            record.setdefault("stop_reason", self.result.stop_reason)
        return network, record, {"classes": self.classes,
                                 "standardization": self.standardization,
                                 "columns": self.columns}

    # -- training ------------------------------------------------------------------------

    @property
    def rng(self) -> np.random.RandomState:
        """The run's host generator (weights, shuffles, dropout), made once from ``seed``."""
        if self._rng is None:
            self._rng = (self.seed if isinstance(self.seed, np.random.RandomState)
                         else host_rng(self.seed))
        return self._rng

    @property
    def split_seed(self) -> int | None:
        """The seed of the validation split: ``seed``, or for a given generator one draw
        from it (made once, before the weights are drawn)."""
        if not isinstance(self.seed, np.random.RandomState):
            return self.seed
        if self._split_seed is None:
            self._split_seed = int(self.rng.randint(2**31 - 1))
        return self._split_seed

    def prepare(self, X: Any, y: Any = None, *, task: str | None = None,
                standardize: bool = False, validation_fraction: float | None = None,
                target: str | None = None) -> PreparedData:
        """Check, encode, split and standardise data for :meth:`fit_prepared`.

        ``X`` is a feature array ``(m, n_features)`` with labels ``y``, or the name of a
        built-in data set or a data file (``.csv``, ``.npz``, ``.npy``; ``target`` names
        a CSV's label column) with ``y`` None. The column names of a CSV, or of a data
        frame ``X`` (anything with string ``columns``), are kept for matching later data.
        """
        columns = None
        if isinstance(X, (str, os.PathLike)):
            if y is not None:
                raise NNBackendError("give a data set name or file without y, or arrays X "
                                     "and y")
            loaded = load_labelled(os.fspath(X), target)
            X, y, columns = loaded.X, loaded.y, loaded.columns
        elif y is None:
            raise NNBackendError("fit needs labels y with the features X (or the name of a "
                                 "data set or file instead of X)")
        elif target is not None:
            raise NNBackendError("target names a CSV file's label column; with arrays X and "
                                 "y there is none, drop it")
        else:
            names = names_of(X)
            label = getattr(y, "name", None)  # a pandas Series' column name
            if names is not None:
                columns = Columns(tuple(names), label if isinstance(label, str) else None)
        return prepare_arrays(X, y, task=check("task", task),
                              standardize=check("standardize", standardize),
                              validation_fraction=check("validation_fraction",
                                                        validation_fraction),
                              split_seed=self.split_seed, columns=columns)

    def fit(self, X: Any, y: Any = None, *, task: str | None = None,
            standardize: bool = False, validation_fraction: float | None = None,
            target: str | None = None, options: TrainingOptions | None = None,
            callbacks: Sequence[Callback] = (), cuda_graph: str = "auto",
            **training: Any) -> Model:
        """Train on ``(X, y)`` (or a data set name or file) and return ``self``.

        Parameters
        ----------
        X, y, task, standardize, validation_fraction, target
            The data, as for :meth:`prepare`.
        options : TrainingOptions, optional
            How to train; ``**training`` overrides single fields (``learning_rate=0.5``,
            ``epochs=100``, ``batch_size=64``, ``optimizer="adam"``, ...).
        callbacks : sequence of Callback
            Called by the loop (see :mod:`nnbackend.training.callbacks`).
        cuda_graph : str
            ``auto``, ``on`` or ``off``: replay each step as a CUDA graph.

        Returns
        -------
        Model
            ``self``, trained in place: ``network``, ``history`` and ``result`` are set.

        Raises
        ------
        DivergedError
            The cost or the parameters became NaN or infinite: lower the learning rate,
            or standardize the features (``history`` and ``result`` are still set).
        """
        data = self.prepare(X, y, task=task, standardize=standardize,
                            validation_fraction=validation_fraction, target=target)
        hint = None if data.standardizer is not None else scale_hint(data.X_train,
                                                                      "standardize=True")
        if hint is not None:
            warnings.warn(hint, FeatureScaleWarning, stacklevel=2)
        refuse_diverged(self.trainer(data, options, callbacks=callbacks,
                                     cuda_graph=cuda_graph, **training).run())
        return self

    def fit_prepared(self, data: PreparedData, options: TrainingOptions | None = None,
                     **kwargs: Any) -> TrainingResult:
        """Train on prepared data; ``kwargs`` as for :meth:`trainer`.

        Raises
        ------
        DivergedError
            The cost or the parameters became NaN or infinite (``history`` and
            ``result`` are still set).
        """
        result = self.trainer(data, options, **kwargs).run()
        refuse_diverged(result)
        return result

    def trainer(self, data: PreparedData, options: TrainingOptions | None = None, *,
                callbacks: Sequence[Callback] = (), cuda_graph: str = "auto",
                data_on: str = "device", state: Any = None, rng: Any = None,
                comm: Any = None, **training: Any) -> Trainer:
        """The :class:`Trainer` that fits this model on ``data``; call its ``run()``.

        It builds the network on first use (sizes from the data; one whose training would
        not fit the free memory is refused first), adopts the data's
        target encoding and standardisation, and stores the history and result in the
        model when the run ends, however it ends.

        Parameters
        ----------
        data : PreparedData
            From :meth:`prepare` (or :func:`nnbackend.data.pipeline.prepare`).
        options : TrainingOptions, optional
            Overridden field by field by ``**training``.
        callbacks, cuda_graph
            As for :meth:`fit`.
        data_on : str
            ``device`` (copied to the device once) or ``host`` (batches streamed).
        state : TrainingState, optional
            Resume this state (from a checkpoint).
        rng : numpy.random.RandomState, optional
            The generator to continue (from a checkpoint); default :attr:`rng`.
        comm : Communicator, optional
            Train data-parallel over its ranks (:mod:`nnbackend.distributed`); every rank
            calls this with the same data, settings and seed.
        """
        check_known(training, TRAINING_SETTINGS, "Model.fit")
        if options is not None and not isinstance(options, TrainingOptions):
            raise NNBackendError(f"options must be a TrainingOptions (or None), got "
                                 f"{options!r}; or give its fields as keywords")
        callbacks = checked_callbacks(callbacks)
        options = replace(options or TrainingOptions(), **training)
        # Settings that mean nothing beside others (beta1 with gd, keep_prob without
        # hidden layers) are refused before any work.
        check_all({**asdict(options), "layers": self.layers, "init": self.init,
                   "init_scale": self.init_scale})
        targets, n_features = data.targets, data.X_train.shape[1]
        if self.network is None:
            sizes = (n_features, *self.layers, targets.n_outputs)
            check_network_fits(sizes, self.layers, data.X_train.shape[0], options,
                               self.backend)
            self.network = Network.create(sizes, self.backend, self.hidden_activation,
                                          targets.task, self.init, rng=rng or self.rng,
                                          init_scale=self.init_scale)
        elif (self.network.layer_sizes[0], self.network.layer_sizes[-1],
              self.network.output.task) != (n_features, targets.n_outputs, targets.task):
            raise NNBackendError(
                f"this model takes {self.network.layer_sizes[0]} features for a "
                f"{self.network.output.task} output of size {self.network.layer_sizes[-1]}, "
                f"the data has {n_features} features and a {targets.task} target of size "
                f"{targets.n_outputs}; use data like the training data, or a new Model"
            )
        self.task, self.classes, self.standardizer = (targets.task, targets.classes,
                                                      data.standardizer)
        self.columns = data.columns
        _check_range(data, self.backend)
        backend = self.backend
        validation = (None if data.X_val is None
                      else (backend.asarray(data.X_val), backend.asarray(data.Y_val)))
        X, Y = ((data.X_train, data.Y_train) if data_on == "host"
                else (backend.asarray(data.X_train), backend.asarray(data.Y_train)))
        trainer = Trainer(self.network, X, Y, options, rng or self.rng, validation,
                          state=state, cuda_graph=cuda_graph, data_on=data_on,
                          callbacks=[*callbacks, _Remember(self)], comm=comm)
        self.run = {**self.run, **{name: getattr(self, name) for name in ARCHITECTURE
                                   if name != "seed"},
                    "layers": list(self.layers), "options": asdict(trainer.options)}
        if not isinstance(self.seed, np.random.RandomState):
            self.run["seed"] = self.seed
        return trainer

    # -- using the model -----------------------------------------------------------------

    @property
    def n_features(self) -> int:
        """``n[0]``, the number of input features."""
        return self._fitted().layer_sizes[0]

    @property
    def standardization(self) -> dict[str, Any] | None:
        """The stored feature scaling as a JSON-ready dict, or None."""
        return None if self.standardizer is None else self.standardizer.to_dict()

    def describe(self) -> str:
        """``2-4-1, tanh hidden, binary``."""
        network = self._fitted()
        sizes = "-".join(map(str, network.layer_sizes))
        return f"{sizes}, {network.hidden.name} hidden, {network.output.task}"

    def rows(self, X: Any) -> Array:
        """Host features ``(m, n_features)`` -> standardised device rows, as in training.

        A data frame (string ``columns``) is matched to the training columns by name
        when the model knows them (:attr:`columns`): reordered, the target column
        dropped, a missing or unknown column refused. Arrays are taken by position.
        """
        features = check_features(self.features(X))
        if features.shape[1] != self.n_features:
            raise NNBackendError(f"X has {features.shape[1]} feature column(s), but the model "
                                 f"takes {self.n_features}; pass the training columns")
        if self.standardizer is not None:
            features = self.standardizer.transform(features)
        return self.backend.asarray(features)

    def features(self, X: Any) -> Any:
        """``X`` with its columns in the model's order: a data frame's picked by name (see
        :meth:`rows`), anything else as given."""
        names = names_of(X)
        if names is None or self.columns is None:
            return X
        picked, _ = select_columns(names, self.n_features, self.columns, None,
                                   "the data frame")
        return np.asarray(X)[:, picked]

    def output(self, X: Any) -> Array:
        """The output layer ``A[L]`` for ``X`` as device rows, shape ``(m, n[L])``."""
        return self._fitted().predict_proba(self.rows(X))

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities, shape ``(m, n_classes)`` (``[1 - p, p]`` for two classes),
        columns in the order of :attr:`classes`."""
        if self.task == "regression":
            raise NNBackendError("predict_proba is for classifiers; this model is a "
                                 "regression model, use predict")
        P = self.backend.to_host(self.output(X))
        return np.concatenate([1.0 - P, P], axis=1) if P.shape[1] == 1 else P

    def predict(self, X: Any) -> np.ndarray:
        """Predicted labels (from :attr:`classes`), shape ``(m,)``; for regression the
        predicted targets, ``(m,)`` with one target, else ``(m, k)``."""
        out = self.backend.to_host(self.output(X))
        if self.task == "regression":
            return out[:, 0] if out.shape[1] == 1 else out
        assert self.classes is not None
        index = (out[:, 0] > 0.5).astype(np.int64) if out.shape[1] == 1 else out.argmax(1)
        return self.classes[index]

    def evaluate(self, X: Any, y: Any, source: str = "y") -> dict[str, Any]:
        """Score the model on labelled data.

        Parameters
        ----------
        X : array_like, shape (m, n_features)
            Host features, before standardisation (applied here).
        y : array_like, shape (m,) or (m, k)
            Labels the model knows, or regression targets.
        source : str
            How errors name the data (e.g. its file name).

        Returns
        -------
        dict
            Classifiers: ``accuracy``, ``correct``, ``cost`` (cross-entropy from the
            logits, without L2), ``classes`` and ``confusion_matrix`` (rows: true class,
            columns: predicted class). Regression: ``mse``, ``r2`` (averaged over
            targets) and ``cost`` (``1/(2m) * sum of squared errors``).
        """
        network, backend = self._fitted(), self.backend
        rows = self.rows(X)
        if self.task == "regression":
            targets = self.targets(y, source)
            cache = network.forward(rows.T)
            cost = backend.to_float(network.output.cost(cache.Z[-1],
                                                        backend.asarray(targets.T), xp=backend.xp))
            predicted = backend.to_host(cache.A[-1]).T.astype(np.float64)
            return {"mse": float(np.mean((predicted - targets) ** 2)),
                    "r2": r2_score(targets, predicted), "cost": cost}
        true = self.class_indices(y, source)
        K, m = len(self.class_list), true.shape[0]
        if self.task == "binary":
            Y = true.astype(np.float64).reshape(1, m)
        else:
            Y = np.zeros((K, m))
            Y[true, np.arange(m)] = 1.0
        logits = network.forward(rows.T).Z[-1]
        cost = backend.to_float(network.output.cost(logits, backend.asarray(Y), xp=backend.xp))
        predicted = backend.to_host(network.predict(rows)).astype(np.int64)
        confusion = confusion_matrix(true, predicted, K)
        correct = int(np.trace(confusion))
        return {"accuracy": correct / m, "correct": correct, "cost": cost,
                "classes": self.class_list, "confusion_matrix": confusion.tolist()}

    @property
    def class_list(self) -> list[Any]:
        """:attr:`classes` as Python values (empty for regression)."""
        return [] if self.classes is None else self.classes.tolist()

    def class_indices(self, y: Any, source: str = "y") -> np.ndarray:
        """Labels -> the model's class indices, shape ``(m,)``; unknown labels are a
        one-line error."""
        labels = np.asarray(y)
        if labels.ndim == 2 and labels.shape[1] == 1:
            labels = labels[:, 0]
        if labels.ndim != 1:
            raise NNBackendError(f"class labels in {source} must be one column, got shape "
                                 f"{labels.shape}")
        classes = self.class_list
        lookup = {value: k for k, value in enumerate(classes)}
        distinct, inverse = np.unique(labels, return_inverse=True)
        unknown = [value for value in distinct.tolist() if value not in lookup]
        if unknown:
            raise NNBackendError(
                f"wrong label set: {source} has label(s) {_shown(unknown)} that the model "
                f"does not know (its classes are {_shown(classes)}); use data labelled like "
                "the training data"
            )
        mapping = np.array([lookup[value] for value in distinct.tolist()], dtype=np.int64)
        return mapping[inverse.reshape(-1)]

    def targets(self, y: Any, source: str = "y") -> np.ndarray:
        """Regression targets as float64 ``(m, n[L])``, checked against the output size."""
        try:
            values = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError):
            raise NNBackendError(f"regression targets in {source} must be numbers") from None
        values = values.reshape(values.shape[0], -1)
        n_out = self._fitted().layer_sizes[-1]
        if values.shape[1] != n_out:
            raise NNBackendError(f"{source} has {values.shape[1]} target column(s), but the "
                                 f"model predicts {n_out}; use the training targets")
        return values

    def _fitted(self) -> Network:
        if self.network is None:
            raise NNBackendError("this Model has no network yet; call fit(X, y) or "
                                 "Model.load(path) first")
        return self.network

    def __repr__(self) -> str:
        state = self.describe() if self.network is not None else "not fitted"
        return f"Model({state}, on {self.backend.describe()})"


class _Remember(Callback):
    """Copy the run's history and result into the model when the run ends."""

    all_ranks = True  # every rank of a data-parallel run holds the same model

    def __init__(self, model: Model) -> None:
        self.model = model

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        self.model.history = trainer.state.history
        if result is not None:
            self.model.result = result


def _check_range(data: PreparedData, backend: Backend) -> None:
    """Refuse values the backend's dtype cannot hold (they would become inf on the copy)."""
    if backend.dtype_name != "float32":
        return
    limit = float(np.finfo(np.float32).max)
    for name, values in (("features", data.X_train), ("features", data.X_val),
                         ("targets", data.Y_train), ("targets", data.Y_val)):
        if values is None or values.dtype == np.float32 or values.size == 0:
            continue  # float32 data (a memory map) fits by construction
        peak = max(float(values.max()), -float(values.min()))  # no |values| copy
        if peak > limit:
            raise SettingError(
                f"the {name} hold values up to {peak:.3g}, beyond float32's range "
                f"({limit:.3g}); train in float64 ({{dtype}} float64), or rescale the data "
                "({standardize})")


def _backend(device: str, backend: str | Backend, dtype: str | None) -> Backend:
    """A given :class:`Backend`, or the one ``resolve_backend`` picks."""
    return backend if isinstance(backend, Backend) else resolve_backend(device, backend, dtype)


def _shown(values: list[Any], limit: int = 10) -> str:
    """``[a, b, ...]`` with at most ``limit`` entries."""
    text = ", ".join(str(v) for v in values[:limit])
    return f"[{text}{', ...' if len(values) > limit else ''}]"
