"""The implementations ``scripts/bench.py`` times: nnbackend and its peers.

- ``nnbackend``: the public API only (``Network.create``, ``TrainingOptions``, ``train``).
- ``notes``: the notes' own plain-NumPy 2-layer loop (column convention, cost computed
  every iteration), copied here so the script runs from a fresh clone.
- ``sklearn``: ``MLPClassifier`` with the same architecture, optimizer, batch size,
  learning rate and passes; no L2, no momentum, no early stopping, no tolerance stop.
  It draws its own (Glorot) initial weights: scikit-learn has no way to pass them in.
- ``nnbackend-torch``: nnbackend again, on its PyTorch backend (same API, same math;
  ``torch`` on the CPU, PyTorch CUDA with ``--device cuda``).
- ``torch``: PyTorch eager with autograd and ``torch.optim``, the idiomatic loop: each
  mini-batch gathers its rows with ``torch.index_select`` from a slice of the epoch's
  permutation (on the runner's device). It starts from nnbackend's initial parameters
  (copied in) and uses the same per-epoch host permutation, so its costs should match
  nnbackend's up to rounding.
- ``torch-copy``: the same PyTorch model, but each epoch first makes a permuted copy of
  the whole data set (``X[order]``) and then takes contiguous slices of it: twice the
  data in memory, and usually slower.
"""

from __future__ import annotations

import importlib
import warnings
from typing import Any

import notes_reference
import numpy as np
from _bench_common import SHUFFLE_SEED, Workload

import nnbackend
from nnbackend import (
    Backend,
    Network,
    TrainingOptions,
    encode_targets,
    host_rng,
    resolve_backend,
    train,
)


def optional_module(name: str) -> Any | None:
    """Import ``name`` or return None when it is not installed (or broken)."""
    try:
        return importlib.import_module(name)
    except Exception:  # ImportError, or a broken install raising something else
        return None


def initial_parameters(work: Workload) -> dict[str, np.ndarray]:
    """nnbackend's starting parameters for ``work``, as host float64 arrays."""
    backend = resolve_backend("cpu", "numpy", "float64")
    net = Network.create(work.layers, backend, work.hidden, work.task, work.init,
                         rng=host_rng(work.seed))
    return {name: np.asarray(value) for name, value in net.params.items()}


#: How each backend's peak memory is measured (see ``_bench_common.MEMORY_LABELS``).
_NNBACKEND_MEMORY = {("numpy", False): "traced", ("cupy", True): "cupy-pool",
                     ("torch", False): "rss", ("torch", True): "torch-cuda"}


class NNBackendRunner:
    """nnbackend through its public API, on the given backend.

    ``key`` names the row: ``nnbackend`` (the first row, NumPy or CuPy),
    ``nnbackend-torch`` (the same code on the PyTorch backend) or ``nnbackend-jax`` (on
    JAX, each step compiled by XLA).
    """

    key = "nnbackend"

    def __init__(self, work: Workload, backend: Backend, key: str = "nnbackend") -> None:
        self.work, self.backend, self.key = work, backend, key
        graphs = (", CUDA graphs" if backend.graph_capture is not None else
                  ", steps compiled by XLA" if backend.compiles else "")
        self.label = f"nnbackend {nnbackend.__version__} ({backend.describe()}{graphs})"
        on_gpu = backend.device_label.startswith("cuda")
        self.memory_method = _NNBACKEND_MEMORY.get((backend.name, on_gpu), "")
        self.X = backend.asarray(work.data.X)
        self.Y = backend.asarray(encode_targets(work.data.y, work.task).Y)
        self.options = TrainingOptions(
            learning_rate=work.learning_rate, iterations=work.iterations, epochs=work.epochs,
            batch_size=work.batch_size, optimizer=work.optimizer, print_every=work.print_every)
        self.network: Network | None = None
        self.history: list[dict[str, Any]] = []

    def setup(self) -> None:
        """A fresh network from the workload's seed."""
        w = self.work
        self.network = Network.create(w.layers, self.backend, w.hidden, w.task, w.init,
                                      rng=host_rng(w.seed))

    def fit(self) -> None:
        """``nnbackend.train`` with the workload's options."""
        assert self.network is not None
        result = train(self.network, self.X, self.Y, self.options, rng=host_rng(SHUFFLE_SEED))
        self.history = result.history

    def sync(self) -> None:
        """``Backend.synchronize``."""
        self.backend.synchronize()

    def proba(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba`` on the device, copied to the host."""
        assert self.network is not None
        out = self.backend.to_host(self.network.predict_proba(self.backend.asarray(X)))
        return out[:, 0] if self.work.task == "binary" else out

    def recorded_costs(self) -> list[float]:
        """The costs of the history records (every ``print_every`` iterations)."""
        return [float(r["cost"]) for r in self.history]


class NotesRunner:
    """The notes' ``nn_model``: plain NumPy, 2 layers, tanh/sigmoid, full batch."""

    key = "notes"
    label = "notes (plain NumPy loop)"
    memory_method = "traced"

    def __init__(self, work: Workload) -> None:
        if work.layers[2:] != (1,) or len(work.layers) != 3 or work.batch_size is not None:
            raise ValueError("the notes' loop is the 2-layer full-batch binary network")
        self.work = work
        self.X = np.ascontiguousarray(work.data.X.T)  # (n_x, m), as the notes store it
        self.Y = work.data.y.reshape(1, -1).astype(np.float64)
        self.params: dict[str, np.ndarray] = {}
        self.costs: list[float] = []

    def setup(self) -> None:
        """``np.random.seed(seed)`` and the notes' ``randn * 0.01`` initialisation."""
        self.params = notes_reference.initialize_parameters(*self.work.layers, self.work.seed)

    def fit(self) -> None:
        """The notes' loop, verbatim: cost every iteration, recorded every print_every."""
        self.params, self.costs = notes_reference.gradient_descent(
            self.X, self.Y, self.params, self.work.passes, self.work.learning_rate,
            self.work.print_every)

    def sync(self) -> None:
        """Nothing to wait for."""

    def proba(self, X: np.ndarray) -> np.ndarray:
        """The notes' forward pass on ``X`` (rows)."""
        p = self.params
        return notes_reference.sigmoid(p["W2"] @ np.tanh(p["W1"] @ X.T + p["b1"]) + p["b2"])[0]

    def recorded_costs(self) -> list[float]:
        """The costs at iterations 0, print_every, 2 * print_every, ..."""
        return self.costs


class SklearnRunner:
    """``sklearn.neural_network.MLPClassifier`` configured like the workload."""

    key = "sklearn"
    memory_method = "traced"

    def __init__(self, work: Workload, sklearn: Any) -> None:
        self.work = work
        self.label = f"sklearn {sklearn.__version__} MLPClassifier"
        self.X = np.ascontiguousarray(work.data.X)
        self.model: Any = None

    def setup(self) -> None:
        """A fresh, unfitted estimator (it draws Glorot weights from random_state)."""
        from sklearn.neural_network import MLPClassifier

        w = self.work
        passes = w.passes
        solver = "adam" if w.optimizer == "adam" else "sgd"
        self.model = MLPClassifier(
            hidden_layer_sizes=w.layers[1:-1], activation=w.hidden, solver=solver,
            alpha=0.0, batch_size=w.batch_size or w.data.X.shape[0],
            learning_rate="constant", learning_rate_init=w.learning_rate,
            max_iter=passes, shuffle=w.batch_size is not None, random_state=w.seed,
            tol=0.0, n_iter_no_change=passes + 1, early_stopping=False,
            momentum=0.0, nesterovs_momentum=False,
            beta_1=0.9, beta_2=0.999, epsilon=1e-8)

    def fit(self) -> None:
        """``fit`` for exactly ``max_iter`` passes (the ConvergenceWarning is silenced)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(self.X, self.work.data.y)

    def sync(self) -> None:
        """Nothing to wait for."""

    def proba(self, X: np.ndarray) -> np.ndarray:
        """``predict_proba`` (column 1 for binary)."""
        out = self.model.predict_proba(X)
        return out[:, 1] if self.work.task == "binary" else out


class TorchRunner:
    """PyTorch eager: ``nn.Sequential``, autograd, ``torch.optim`` (the usual code).

    ``copy_per_epoch=False`` (key ``torch``) is the idiomatic mini-batch loop: every batch
    gathers its rows with ``torch.index_select`` from a slice of the epoch's permutation.
    ``copy_per_epoch=True`` (key ``torch-copy``) first copies the whole data set in the
    epoch's order, then slices it. Both visit the same rows in the same order.
    """

    key = "torch"

    def __init__(self, work: Workload, torch: Any, device: str,
                 copy_per_epoch: bool = False) -> None:
        self.work, self.torch = work, torch
        self.copy_per_epoch = copy_per_epoch
        self.key = "torch-copy" if copy_per_epoch else "torch"
        # "cuda" names no GPU index, which torch.cuda.set_device refuses: make it cuda:0.
        self.device = torch.device("cuda:0" if device == "cuda" else device)
        self.dtype = getattr(torch, work.dtype)
        on_gpu = self.device.type == "cuda"
        how = ", permuted copy per epoch" if copy_per_epoch else ""
        self.label = f"torch {torch.__version__} eager autograd{how} ({device}, {work.dtype})"
        self.memory_method = "torch-cuda" if on_gpu else "rss"
        if on_gpu:
            torch.cuda.set_device(self.device)  # the memory probe reads the current GPU
        self.X = torch.as_tensor(work.data.X, dtype=self.dtype, device=self.device)
        if work.task == "binary":
            self.y = torch.as_tensor(work.data.y.reshape(-1, 1), dtype=self.dtype,
                                     device=self.device)
            self.loss_fn = torch.nn.BCEWithLogitsLoss()
        else:
            self.y = torch.as_tensor(work.data.y, dtype=torch.int64, device=self.device)
            self.loss_fn = torch.nn.CrossEntropyLoss()
        self.init = initial_parameters(work)
        self.model: Any = None
        self.optimizer: Any = None
        self.rng: np.random.RandomState | None = None

    def setup(self) -> None:
        """``nn.Sequential`` with nnbackend's initial parameters copied in."""
        torch, w = self.torch, self.work
        act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[w.hidden]
        layers: list[Any] = []
        for i, (n_in, n_out) in enumerate(zip(w.layers[:-1], w.layers[1:], strict=True), start=1):
            linear = torch.nn.Linear(n_in, n_out, device=self.device, dtype=self.dtype)
            with torch.no_grad():
                linear.weight.copy_(torch.from_numpy(self.init[f"W{i}"]))
                linear.bias.copy_(torch.from_numpy(self.init[f"b{i}"][:, 0]))
            layers += [linear, act()]
        self.model = torch.nn.Sequential(*layers[:-1])
        params = self.model.parameters()
        if w.optimizer == "adam":
            self.optimizer = torch.optim.Adam(params, lr=w.learning_rate,
                                              betas=(0.9, 0.999), eps=1e-8)
        else:
            self.optimizer = torch.optim.SGD(params, lr=w.learning_rate)
        self.rng = np.random.RandomState(SHUFFLE_SEED)

    def _step(self, X: Any, y: Any) -> None:
        self.optimizer.zero_grad()
        loss = self.loss_fn(self.model(X), y)
        loss.backward()
        self.optimizer.step()

    def fit(self) -> None:
        """Full-batch steps, or per epoch: one permutation, then its batches in order.

        Each batch gathers its rows with ``index_select`` (or, with ``copy_per_epoch``,
        slices a permuted copy of the whole data set made at the start of the epoch).
        """
        w, torch = self.work, self.torch
        if w.batch_size is None:
            for _ in range(w.passes):
                self._step(self.X, self.y)
            return
        assert self.rng is not None
        X, y = self.X, self.y
        m, b = X.shape[0], w.batch_size
        for _ in range(w.passes):
            order = torch.from_numpy(self.rng.permutation(m)).to(self.device)
            if self.copy_per_epoch:
                Xe, ye = X[order], y[order]
                for start in range(0, m, b):
                    self._step(Xe[start:start + b], ye[start:start + b])
                continue
            for start in range(0, m, b):
                idx = order[start:start + b]
                self._step(torch.index_select(X, 0, idx), torch.index_select(y, 0, idx))

    def sync(self) -> None:
        """``torch.cuda.synchronize`` on CUDA."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def proba(self, X: np.ndarray) -> np.ndarray:
        """Sigmoid or softmax of the logits, copied to the host."""
        torch = self.torch
        with torch.no_grad():
            logits = self.model(torch.as_tensor(X, dtype=self.dtype, device=self.device))
            if self.work.task == "binary":
                return torch.sigmoid(logits)[:, 0].cpu().numpy()
            return torch.softmax(logits, dim=1).cpu().numpy()


def cuda_memory_probes(torch: Any | None) -> dict[str, Any]:
    """Memory probes for GPU runs: CuPy's pool growth and torch's allocator peak."""
    probes: dict[str, Any] = {}
    cupy = optional_module("cupy")
    if cupy is not None:
        def cupy_pool(fit: Any) -> int:
            pool = cupy.get_default_memory_pool()
            pool.free_all_blocks()
            base = pool.used_bytes()
            fit()
            return int(pool.total_bytes() - base)

        probes["cupy-pool"] = cupy_pool
    if torch is not None:
        def torch_cuda(fit: Any) -> int:
            torch.cuda.synchronize()
            base = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            fit()
            return int(torch.cuda.max_memory_allocated() - base)

        probes["torch-cuda"] = torch_cuda
    return probes
