"""ONNX export: a :class:`~nnbackend.model.Model` as one graph that ONNX Runtime (Python,
C++, C#, Java, JavaScript in the browser, ...) runs without nnbackend.

The graph takes raw feature rows and does everything :meth:`Model.predict` does::

    X (batch, n[0]) float32 (or float64)
      -> Sub mean, Div scale                     the training standardisation, if any
      -> Gemm(A, W[l], b[l], transB=1), g(Z)     each layer, on rows: Z = A @ W.T + b.T
      -> classifiers: probabilities (batch, K)   [1 - p, p] for two classes, else softmax
                      label (batch,)             ArgMax, then Gather from the class labels
         regression:  predictions (batch,)       or (batch, k) for k targets

Hidden activations are not translated by hand: their ``forward(Z, xp=xp)`` (written once on
the Array API, :mod:`nnbackend.core.activations`) is called with a namespace whose
functions and operators add ONNX nodes instead of computing (:class:`_Namespace`), so
every activation exports exactly as training computes it, and a new one exports without
an edit here as long as it uses the operations this module knows.

The graph computes in float32 by default, the type every ONNX runtime supports: the
parameters are rounded to it, so outputs agree with the float64 model to about 1e-6, and
a label can differ where two classes' probabilities are that close. ``dtype="float64"``
computes in double precision (ONNX Runtime's CPU kernels have it; not every runtime does).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .._version import __version__
from ..core.activations import Activation
from ..errors import NNBackendError
from ..persistence.atomic import atomic_write, check_writable

if TYPE_CHECKING:
    import onnx

    from .model import Model

#: The opset the graph declares: 17 (2022), so that older runtimes (mobile, browser
#: builds) load the file too; every operator used has had its current form since 13.
OPSET = 17

#: What a missing ``onnx`` package says.
INSTALL_HINT = "ONNX export needs the onnx package; install it with pip install onnx"

#: The graph's float types.
DTYPES = ("float32", "float64")

#: The name of the input and of the batch dimension in the graph.
INPUT = "X"
BATCH = "batch"


def _onnx() -> Any:
    """The ``onnx`` module, or a one-line error naming the extra to install."""
    try:
        import onnx
    except ImportError:
        raise NNBackendError(INSTALL_HINT) from None
    return onnx


class _Graph:
    """Nodes and constant tensors of the graph being built, with fresh value names."""

    def __init__(self, onnx: Any, dtype: str) -> None:
        self.onnx = onnx
        self.dtype = np.dtype(dtype)
        self.elem_type = onnx.helper.np_dtype_to_tensor_dtype(self.dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self._count = 0

    def fresh(self, stem: str) -> str:
        self._count += 1
        return f"{stem}_{self._count}"

    def constant(self, value: Any, stem: str = "c", cast: bool = True) -> str:
        """Add a constant tensor; floats take the graph's one float type unless ``cast``
        is False (class labels keep theirs)."""
        array = np.asarray(value)
        if cast and array.dtype.kind == "f":
            array = array.astype(self.dtype)
        name = self.fresh(stem)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        return name

    def node(self, op: str, inputs: list[str], stem: str | None = None, **attrs: Any) -> str:
        """Add one node with one output; return the output's name."""
        output = self.fresh(stem or op.lower())
        self.nodes.append(self.onnx.helper.make_node(op, inputs, [output], **attrs))
        return output


class _Tensor:
    """A value of the graph under construction; operators on it add nodes.

    It stands in for an array inside an activation's ``forward``: ``0.5 * Z + 1.0`` adds a
    Mul and an Add. Python numbers become constants of the graph's float type (scalars
    broadcast in ONNX).
    """

    __slots__ = ("graph", "name", "dtype")

    def __init__(self, graph: _Graph, name: str, dtype: str = "float") -> None:
        self.graph, self.name, self.dtype = graph, name, dtype

    def _input(self, other: Any) -> str:
        if isinstance(other, _Tensor):
            return other.name
        if isinstance(other, (bool, int, float)):
            return self.graph.constant(float(other))
        raise TypeError(f"cannot combine a graph value with {type(other).__name__}")

    def _apply(self, op: str, other: Any, reverse: bool = False, dtype: str = "float") -> _Tensor:
        operands = [self._input(other), self.name] if reverse else [self.name, self._input(other)]
        return _Tensor(self.graph, self.graph.node(op, operands), dtype)

    def __add__(self, other: Any) -> _Tensor:
        return self._apply("Add", other)

    def __radd__(self, other: Any) -> _Tensor:
        return self._apply("Add", other, reverse=True)

    def __sub__(self, other: Any) -> _Tensor:
        return self._apply("Sub", other)

    def __rsub__(self, other: Any) -> _Tensor:
        return self._apply("Sub", other, reverse=True)

    def __mul__(self, other: Any) -> _Tensor:
        return self._apply("Mul", other)

    def __rmul__(self, other: Any) -> _Tensor:
        return self._apply("Mul", other, reverse=True)

    def __truediv__(self, other: Any) -> _Tensor:
        return self._apply("Div", other)

    def __rtruediv__(self, other: Any) -> _Tensor:
        return self._apply("Div", other, reverse=True)

    def __pow__(self, other: Any) -> _Tensor:
        return self._apply("Pow", other)

    def __neg__(self) -> _Tensor:
        return _Tensor(self.graph, self.graph.node("Neg", [self.name]))

    def __gt__(self, other: Any) -> _Tensor:
        return self._apply("Greater", other, dtype="bool")

    def __lt__(self, other: Any) -> _Tensor:
        return self._apply("Less", other, dtype="bool")


class _Namespace:
    """The part of the Array API that activations use, adding ONNX nodes.

    Unknown functions raise AttributeError, which :func:`_trace` turns into a one-line
    error naming the activation and this module.
    """

    #: Element-wise standard functions with an ONNX operator of the same meaning.
    UNARY = {"tanh": "Tanh", "exp": "Exp", "abs": "Abs", "sqrt": "Sqrt", "log": "Log",
             "negative": "Neg", "sin": "Sin", "cos": "Cos", "floor": "Floor", "ceil": "Ceil",
             "sign": "Sign"}
    #: Element-wise functions of two arrays (either may be a Python number).
    BINARY = {"maximum": "Max", "minimum": "Min", "add": "Add", "subtract": "Sub",
              "multiply": "Mul", "divide": "Div", "pow": "Pow", "greater": "Greater",
              "less": "Less"}

    def __init__(self, graph: _Graph) -> None:
        self.graph = graph

    def __getattr__(self, name: str) -> Callable[..., _Tensor]:
        if name in self.UNARY:
            op = self.UNARY[name]
            return lambda x: _Tensor(self.graph, self.graph.node(op, [x.name]))
        if name in self.BINARY:
            op = self.BINARY[name]
            dtype = "bool" if op in ("Greater", "Less") else "float"
            return lambda x1, x2: (x1._apply(op, x2, dtype=dtype) if isinstance(x1, _Tensor)
                                   else x2._apply(op, x1, reverse=True, dtype=dtype))
        raise AttributeError(f"xp.{name}")

    def clip(self, x: _Tensor, /, min: float | None = None,
             max: float | None = None) -> _Tensor:
        bounds = ["" if v is None else self.graph.constant(float(v)) for v in (min, max)]
        return _Tensor(self.graph, self.graph.node("Clip", [x.name, *bounds]))

    def astype(self, x: _Tensor, dtype: Any, /, **_: Any) -> _Tensor:
        # Inside an activation the only cast is a comparison back to Z's float type.
        return _Tensor(self.graph, self.graph.node("Cast", [x.name], to=self.graph.elem_type))

    def where(self, condition: _Tensor, x1: Any, x2: Any, /) -> _Tensor:
        inputs = [condition.name, condition._input(x1), condition._input(x2)]
        return _Tensor(self.graph, self.graph.node("Where", inputs))


def _trace(activation: Activation, Z: _Tensor) -> _Tensor:
    """``activation.forward`` applied to a graph value: the nodes that compute it."""
    try:
        out = activation.forward(Z, xp=_Namespace(Z.graph))  # type: ignore[arg-type]
    except (AttributeError, TypeError) as exc:
        raise NNBackendError(
            f"the {activation.name} activation uses an operation the ONNX export does not "
            f"translate ({exc}); add it to nnbackend/model/onnx_export.py") from None
    if not isinstance(out, _Tensor):
        raise NNBackendError(f"the {activation.name} activation returned "
                             f"{type(out).__name__}, not an array; it cannot be exported")
    return out


def _labels(classes: np.ndarray) -> np.ndarray:
    """The class labels as an ONNX-ready array: int64, float64, bool or strings."""
    kind = classes.dtype.kind
    if kind in "iu":
        return classes.astype(np.int64)
    if kind in "fb":
        return classes
    return np.array([str(c) for c in classes.tolist()], dtype=object)


def build_onnx(model: Model, dtype: str = "float32") -> onnx.ModelProto:
    """The ONNX model of a fitted :class:`Model` (checked with ``onnx.checker``).

    Parameters
    ----------
    model : Model
        A fitted (or loaded) model; its parameters are copied to the host in ``dtype``.
    dtype : str
        ``float32`` (default) or ``float64``: the type of the input, the parameters, every
        computation and the float outputs.

    Returns
    -------
    onnx.ModelProto
        Input ``X``, ``(batch, n_features)`` of ``dtype``, raw (unstandardised) features.
        Classifiers: outputs ``label`` ``(batch,)`` (the model's class labels: int64,
        double, bool or string) and ``probabilities`` ``(batch, K)`` in the order of
        ``model.classes``. Regression: ``predictions`` ``(batch,)``, or
        ``(batch, k)`` for ``k`` targets.

    Raises
    ------
    NNBackendError
        The ``onnx`` package is missing, the model is not fitted, or ``dtype`` is not one
        of :data:`DTYPES`.
    """
    network = model._fitted()
    if dtype not in DTYPES:
        raise NNBackendError(f"unknown ONNX dtype {dtype!r}; choose one of {', '.join(DTYPES)}")
    onnx = _onnx()
    helper, TensorProto = onnx.helper, onnx.TensorProto
    to_host = network.backend.to_host
    graph = _Graph(onnx, dtype)
    FLOAT = graph.elem_type
    sizes, task = network.layer_sizes, network.output.task

    A = _Tensor(graph, INPUT)
    if model.standardizer is not None:
        centred = graph.node("Sub", [INPUT, graph.constant(model.standardizer.mean, "mean")])
        A = _Tensor(graph, graph.node("Div", [centred,
                                              graph.constant(model.standardizer.scale,
                                                             "scale")]))
    L = network.depth
    for l in range(1, L + 1):  # noqa: E741 -- the notes' layer index
        W = graph.constant(to_host(network.params[f"W{l}"]), f"W{l}")
        b = graph.constant(to_host(network.params[f"b{l}"]).reshape(-1), f"b{l}")
        Z = _Tensor(graph, graph.node("Gemm", [A.name, W, b], stem=f"Z{l}", transB=1))
        A = _trace(network.hidden, Z) if l < L else Z

    outputs: list[Any] = []
    if task == "regression":
        out = _trace(network.output.activation, A).name
        if sizes[-1] == 1:  # Model.predict's (m,) for one target
            out = graph.node("Squeeze", [out, graph.constant(np.array([1]), "axis")])
        graph.nodes.append(helper.make_node("Identity", [out], ["predictions"]))
        shape = [BATCH] if sizes[-1] == 1 else [BATCH, sizes[-1]]
        outputs.append(helper.make_tensor_value_info("predictions", FLOAT, shape))
    else:
        if task == "binary":
            p = _trace(network.output.activation, A)
            probabilities = graph.node("Concat", [(1.0 - p).name, p.name], axis=1)
        else:  # softmax over each row; the network's softmax runs over columns
            probabilities = graph.node("Softmax", [A.name], axis=1)
        graph.nodes.append(helper.make_node("Identity", [probabilities], ["probabilities"]))
        # ArgMax takes the first of equal values, as NumPy's argmax and p > 0.5 do.
        index = graph.node("ArgMax", [probabilities], axis=1, keepdims=0)
        assert model.classes is not None
        labels = _labels(model.classes)
        graph.nodes.append(helper.make_node(
            "Gather", [graph.constant(labels, "classes", cast=False), index], ["label"], axis=0))
        label_type = (TensorProto.STRING if labels.dtype.kind == "O"
                      else helper.np_dtype_to_tensor_dtype(labels.dtype))
        outputs += [helper.make_tensor_value_info("label", label_type, [BATCH]),
                    helper.make_tensor_value_info("probabilities", FLOAT,
                                                  [BATCH, len(labels)])]

    inputs = [helper.make_tensor_value_info(INPUT, FLOAT, [BATCH, sizes[0]])]
    proto = helper.make_model(
        helper.make_graph(graph.nodes, "nnbackend", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="nnbackend", producer_version=__version__,
        doc_string=f"nnbackend model {model.describe()}: input X = raw features (batch, "
                   f"{sizes[0]}) {dtype}; outputs "
                   + ", ".join(value.name for value in outputs))
    # The oldest IR version that carries the opset, not the installed onnx's newest:
    # a runtime refuses IR versions newer than it knows.
    proto.ir_version = helper.find_min_ir_version_for(list(proto.opset_import))
    helper.set_model_props(proto, {
        "task": task, "classes": json.dumps(model.class_list),
        "layer_sizes": json.dumps(list(sizes)), "hidden_activation": network.hidden.name,
        "standardized": json.dumps(model.standardizer is not None)})
    try:
        onnx.checker.check_model(proto, full_check=True)
    except onnx.checker.ValidationError as exc:  # a bug here, not the user's doing
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise NNBackendError(f"the exported graph fails the ONNX checker ({first}); this is "
                             "a bug in nnbackend's exporter, please report it") from None
    return proto


def export_onnx(model: Model, path: str | os.PathLike[str], dtype: str = "float32") -> Path:
    """Write ``model`` as an ONNX file, atomically (see :func:`build_onnx`).

    Returns
    -------
    Path
        The written file. A failed export leaves an existing file untouched.
    """
    check_writable(path)
    data = build_onnx(model, dtype).SerializeToString()
    return atomic_write(path, lambda fh: fh.write(data))


def describe_onnx(source: str | os.PathLike[str] | Any) -> str:
    """``input X (batch, 4) float32; outputs label (batch,) int64, ...``: an ONNX graph's
    signature, read back from a file, or from the ``ModelProto`` itself (what was written
    to a device or pipe cannot be read back)."""
    onnx = _onnx()
    proto = source if isinstance(source, onnx.ModelProto) else onnx.load(os.fspath(source))
    graph = proto.graph

    def value(info: Any) -> str:
        tensor = info.type.tensor_type
        dims = [d.dim_param or str(d.dim_value) for d in tensor.shape.dim]
        shape = f"({dims[0]},)" if len(dims) == 1 else f"({', '.join(dims)})"
        dtype = onnx.helper.tensor_dtype_to_np_dtype(tensor.elem_type)
        kind = "string" if dtype.kind == "O" else dtype.name
        return f"{info.name} {shape} {kind}"

    return (f"input {', '.join(map(value, graph.input))}; "
            f"outputs {', '.join(map(value, graph.output))}")
