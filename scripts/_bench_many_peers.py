"""What a user would write instead of ``nnbackend sweep`` for many flower models.

- ``vmap``: PyTorch's own way to train many copies of one network at once:
  ``torch.func.vmap`` over ``torch.func.grad`` of a loss written with
  ``torch.func.functional_call`` of the same ``nn.Sequential`` 2-n-1 network, and the
  gradient-descent step written on the stacked tensors (one in-place ``sub_`` per
  parameter with a ``(k, 1, ...)`` tensor of learning rates). It starts from nnbackend's
  initial parameters of each model's seed (copied in), so its costs should match
  nnbackend's up to rounding.
- ``gridsearch``: scikit-learn's ``GridSearchCV`` over ``MLPClassifier`` with
  ``n_jobs=-1`` (a process per core). Its grid is the same (``random_state`` for the seed,
  ``learning_rate_init`` for the rate), with the same hidden size and activation,
  ``solver="sgd"`` on the whole training set per step (``batch_size`` = m, no shuffle, no
  momentum, no L2, no early or tolerance stop) for the same number of passes. What
  differs: scikit-learn draws its own (Glorot) initial weights from ``random_state``, and
  ``GridSearchCV`` has no "no cross-validation" setting, so it gets one split that trains
  and scores on the whole set (``cv=[(all, all)]``, ``refit=False``): one fit per model,
  as the others, with its costs and accuracies from its own scorers.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from _bench_common import Data, Workload
from _bench_impls import initial_parameters
from _bench_many import ManyWorkload


def _initial(work: ManyWorkload, hidden: int, seed: int) -> dict[str, np.ndarray]:
    """nnbackend's initial parameters of a 2-``hidden``-1 flower model of ``seed``."""
    single = Workload("init", (2, hidden, 1), "tanh", "binary", "small", seed, work.dtype,
                      "gd", 1.2, None, 1, None, 1, 1, Data(work.X, work.y))
    return initial_parameters(single)


class VmapRunner:
    """``torch.func.vmap(grad(loss))`` over stacked parameters, plain gradient descent."""

    key = "vmap"

    def __init__(self, work: ManyWorkload, torch: Any, device: str) -> None:
        self.work, self.torch = work, torch
        self.device = torch.device("cuda:0" if device == "cuda" else device)
        self.dtype = getattr(torch, work.dtype)
        self.settings = work.models()
        self.models, self.steps = len(self.settings), work.iterations
        hidden = {s.get("layers", (4,))[0] for s in self.settings}
        if len(hidden) != 1:
            raise ValueError("vmap stacks models of one hidden size")
        self.hidden = hidden.pop()
        self.label = (f"torch {torch.__version__} torch.func.vmap + functional_call "
                      f"({self.device.type}, {work.dtype})")
        start = [_initial(work, self.hidden, s.get("seed", 3)) for s in self.settings]
        # nnbackend's W[l] (n[l], n[l-1]) and b[l] (n[l], 1) are nn.Linear's weight and
        # bias; layer l is the Sequential's module 2 * (l - 1).
        self.init = {}
        for l in (1, 2):  # noqa: E741 -- the notes' layer index
            self.init[f"{2 * (l - 1)}.weight"] = np.stack([p[f"W{l}"] for p in start])
            self.init[f"{2 * (l - 1)}.bias"] = np.stack([p[f"b{l}"][:, 0] for p in start])
        self.X = torch.as_tensor(work.X, dtype=self.dtype, device=self.device)
        self.y = torch.as_tensor(work.y.reshape(-1, 1), dtype=self.dtype, device=self.device)
        rates = torch.as_tensor([s["learning_rate"] for s in self.settings], dtype=self.dtype,
                                device=self.device)
        self.rates = {name: rates.reshape(-1, *([1] * (value.ndim - 1)))
                      for name, value in self.init.items()}
        self.net = torch.nn.Sequential(torch.nn.Linear(2, self.hidden), torch.nn.Tanh(),
                                       torch.nn.Linear(self.hidden, 1)).to(self.device,
                                                                           self.dtype)
        self.params: dict[str, Any] = {}
        func = torch.func

        def loss(params: dict[str, Any], X: Any, y: Any) -> Any:
            logits = func.functional_call(self.net, params, (X,))
            return torch.nn.functional.binary_cross_entropy_with_logits(logits, y)

        self.grads = func.vmap(func.grad(loss), in_dims=(0, None, None))

    def setup(self) -> None:
        """Every model's starting parameters, stacked: ``(k, ...)`` tensors."""
        torch = self.torch
        self.params = {name: torch.tensor(value, dtype=self.dtype, device=self.device)
                       for name, value in self.init.items()}

    def fit(self) -> None:
        """``steps`` full-batch steps: per-model gradients, then ``p -= lr * g``."""
        with self.torch.no_grad():
            for _ in range(self.steps):
                grads = self.grads(self.params, self.X, self.y)
                for name, value in self.params.items():
                    value.sub_(self.rates[name] * grads[name])

    def sync(self) -> None:
        """``torch.cuda.synchronize`` on CUDA."""
        if self.device.type == "cuda":
            self.torch.cuda.synchronize(self.device)

    def probas(self) -> list[np.ndarray]:
        """Each model's sigmoid of its logits, copied to the host."""
        torch, func = self.torch, self.torch.func
        with torch.no_grad():
            logits = func.vmap(lambda p: func.functional_call(self.net, p, (self.X,)))(
                self.params)
            return list(torch.sigmoid(logits)[..., 0].cpu().numpy().astype(np.float64))


class GridSearchRunner:
    """``GridSearchCV(MLPClassifier(...), grid, n_jobs=-1)``, one fit per model."""

    key = "gridsearch"

    def __init__(self, work: ManyWorkload, sklearn: Any) -> None:
        self.work = work
        self.settings = work.models()
        self.models, self.steps = len(self.settings), work.iterations
        self.label = f"sklearn {sklearn.__version__} GridSearchCV(MLPClassifier), n_jobs=-1"
        self.X = np.ascontiguousarray(work.X, dtype=work.dtype)
        self.search: Any = None

    def _search(self) -> Any:
        from sklearn.model_selection import GridSearchCV
        from sklearn.neural_network import MLPClassifier

        w, m = self.work, self.work.X.shape[0]
        fixed = w.fixed
        hidden = w.grid.get("layers", ((4,),))
        estimator = MLPClassifier(
            activation="tanh", solver="sgd", alpha=0.0, batch_size=m,
            learning_rate="constant", learning_rate_init=fixed.get("learning_rate", 1.2),
            max_iter=w.iterations, shuffle=False, random_state=fixed.get("seed", 3), tol=0.0,
            n_iter_no_change=w.iterations + 1, early_stopping=False, momentum=0.0,
            nesterovs_momentum=False)
        grid: dict[str, list[Any]] = {}
        for name, values in w.grid.items():
            key = {"layers": "hidden_layer_sizes", "seed": "random_state",
                   "learning_rate": "learning_rate_init"}[name]
            grid[key] = list(values)
        if "hidden_layer_sizes" not in grid:
            estimator.set_params(hidden_layer_sizes=hidden[0])
        everything = np.arange(m)
        return GridSearchCV(estimator, grid, scoring={"cost": "neg_log_loss",
                                                      "accuracy": "accuracy"},
                            cv=[(everything, everything)], refit=False, n_jobs=-1)

    def setup(self) -> None:
        """A fresh, unfitted search."""
        self.search = self._search()

    def fit(self) -> None:
        """``GridSearchCV.fit``: every model, over the worker processes."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ConvergenceWarning: max_iter is the budget
            self.search.fit(self.X, self.work.y)

    def sync(self) -> None:
        """Nothing to wait for."""

    def scores(self) -> list[tuple[float, float]]:
        """Each model's (cost, accuracy) on the training set, from the search's own
        scorers (log loss and accuracy), in grid order."""
        results = self.search.cv_results_
        order = _grid_order(self.work, results["params"])
        return [(-float(results["mean_test_cost"][i]), float(results["mean_test_accuracy"][i]))
                for i in order]


def _grid_order(work: ManyWorkload, params: list[dict[str, Any]]) -> list[int]:
    """Indices of ``GridSearchCV``'s candidates in the workload's grid order."""
    names = {"hidden_layer_sizes": "layers", "random_state": "seed",
             "learning_rate_init": "learning_rate"}
    where = {tuple(sorted((names[k], v) for k, v in p.items())): i
             for i, p in enumerate(params)}
    return [where[tuple(sorted((k, s[k]) for k in work.grid))] for s in work.models()]
