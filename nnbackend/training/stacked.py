"""A stack of models in the one training loop: per-model rates, draws, stops and records.

:class:`StackedModels` is what :class:`~nnbackend.training.trainer.Trainer` takes
(``stack=``) to train ``k`` networks of one depth at once (:mod:`nnbackend.training.stack`),
each equal to its own single run:

- every model draws its permutations and dropout masks from its own generator, and
  takes its own rows (:meth:`~nnbackend.training.stack.ModelStack.gather`);
- learning rate (and its decay), L2, ``keep_prob``, ``beta1``, ``beta2``, ``epsilon``,
  init and init scale may differ; the number of steps, batch size, update rule, record
  interval and patience are the stack's;
- records hold one figure per model (lists), read at the record only;
- a model whose training cost is not finite is marked ``diverged`` and frozen; a model
  whose validation cost has not improved for ``patience`` records is frozen and, at the
  end, gets back its best parameters (``early_stopping``). Frozen means a learning rate
  of exactly 0: its parameters stay as they are (``W - 0 * dW``), while the others go on;
  a model's NaN stays in its own slice of every batched product. The run stops when every
  model is frozen.

A stack is checkpointed and resumed as a single run is: its :class:`~nnbackend.training.
trainer.TrainingState` (stacked parameters, optimizer state, the epoch's ``(k, m)``
permutation, early stopping's best parameters in ``best_params``) plus what
:meth:`StackedModels.bookkeeping` returns (each model's stop, patience count and best
record) and each model's generator (:mod:`nnbackend.persistence.stack_checkpoints`).
Steps replay as CUDA graphs where a single run's do (:mod:`nnbackend.training.graphed`),
data kept on the host streams each model's batches (:mod:`nnbackend.training.
streaming`), and a communicator splits each model's batch over the ranks
(:mod:`nnbackend.distributed`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.losses import OUTPUT_LAYERS
from ..core.network import Network
from ..core.optimizers import Optimizer, decayed_learning_rate
from ..errors import NNBackendError
from .blocks import block_columns
from .callbacks import Callback
from .evaluation import evaluate
from .memory import itemsize
from .stack import ModelStack
from .step import StepSpec

if TYPE_CHECKING:
    from .trainer import Trainer, TrainingOptions, TrainingResult

Array = Any

#: Options every model of one stack shares: they shape the loop itself.
SHARED = ("iterations", "epochs", "batch_size", "optimizer", "print_every", "patience")


class StackedModels:
    """``k`` models of one :class:`~nnbackend.training.stack.ModelStack`, as the loop runs them.

    Parameters
    ----------
    stack : ModelStack
        The models' sizes, generators (seeds) and backend.
    options : sequence of TrainingOptions
        Each model's options (checked, as its single run's), which may differ only outside
        :data:`SHARED`.
    task : str
        ``binary``, ``multiclass`` or ``regression`` (the output layer).
    init : str or sequence of str
        Each model's initializer; ``init_scale`` its scale.
    has_validation : bool
        Whether the run has validation data (``patience`` needs it).

    Attributes
    ----------
    network : Network
        The stack as a network: the padded sizes, the stacked parameters.
    frozen : numpy array of bool, shape (k,)
        Models that no longer train.
    stopped_by : list of str
        Each model's ``completed``, ``early_stopping`` or ``diverged``.
    steps : list of int or None
        The step at which each frozen model stopped (None while it trains).
    records : list of int or None
        How many of the run's records each frozen model's single run would have made
        (None while it trains).
    best : list of dict or None
        Each early-stopped model's best record (its own figures, floats).
    best_cost, bad : list of float, list of int
        Each model's early stopping: its best validation cost, and the records since.
    """

    stacked = True
    #: Never constant: a frozen model's rate becomes 0 (see :meth:`learning_rate`).
    constant_rate = None

    def __init__(self, stack: ModelStack, options: Sequence[TrainingOptions], task: str,
                 init: str | Sequence[str] = "small", init_scale: Any = 1.0,
                 has_validation: bool = False) -> None:
        if len(options) != stack.k:
            raise NNBackendError(f"{len(options)} option sets for {stack.k} models")
        self.options = [o.checked(has_validation) for o in options]
        first = self.options[0]
        for o in self.options:
            for name in SHARED:
                if getattr(o, name) != getattr(first, name):
                    raise NNBackendError(
                        f"models with {name} {getattr(first, name)} and {getattr(o, name)} "
                        "cannot share a stack: give them one value (or stack them apart)")
        self.stack, self.k = stack, stack.k
        self.network = Network(stack.width, stack.hidden, OUTPUT_LAYERS[task], stack.backend,
                               stack.init_params(init, init_scale))
        self.l2: Any = stack.per_model([o.l2 for o in self.options], "l2")
        self.keep = [o.keep_prob for o in self.options]
        self.dropout = any(p != 1.0 for p in self.keep)
        self.fixed_masks = stack.unit_masks
        self.frozen = np.zeros(self.k, dtype=bool)
        self.stopped_by = ["completed"] * self.k
        self.steps: list[int | None] = [None] * self.k
        self.records: list[int | None] = [None] * self.k
        self.best: list[dict[str, Any] | None] = [None] * self.k
        self.best_cost = [math.inf] * self.k
        self.bad = [0] * self.k
        self._rate: tuple[Any, Any] = (None, None)  # (key, the uploaded rates)
        self._rate_state: Any = None  # what the rates were last computed from
        self._decays = any(o.lr_decay for o in self.options)
        self.evaluate = partial(evaluate, masks=stack.unit_masks)

    def optimizer(self) -> Optimizer:
        """One update rule, with per-model ``beta1``/``beta2``/``epsilon``."""
        opts = self.options
        return self.stack.optimizer(opts[0].optimizer, [o.beta1 for o in opts],
                                    [o.beta2 for o in opts], [o.epsilon for o in opts])

    def step_spec(self, optimizer: Optimizer) -> StepSpec:
        """The stack's step: forward and backward in blocks of models that fit the cache,
        on a backend with a cache-block budget (NumPy; :mod:`nnbackend.training.blocks`)."""
        net, backend = self.network, self.stack.backend
        columns = block_columns(self.stack.width, itemsize(backend),
                                backend.update_block_bytes)
        return StepSpec(net.hidden, net.output, optimizer, self.l2, columns)

    def permutation(self, m: int) -> np.ndarray:
        """Each model's next epoch order: ``(k, m)``."""
        return self.stack.permutations(m)

    def masks(self, size: int) -> list[Any] | None:
        """This step's per-model dropout masks (padded units zero)."""
        return self.stack.masks(size, self.keep)

    def gather(self, X: Array, Y: Array, rows: Array) -> tuple[Array, Array]:
        """Per-model batches ``(k, b, n[0])`` and ``(k, n[L], b)`` from device rows
        ``(k, b)``: each model's own rows, as its single run takes them."""
        return self.stack.take(X, Y, rows)

    def ones(self, Xb: Array) -> Array:
        """The batch's column of ones ``(b, 1)``, shared by the models (for ``db``)."""
        return self.stack.backend.xp.ones_like(Xb[0, :, :1] if Xb.ndim == 3 else Xb[:, :1])

    def learning_rate(self, epoch: int) -> Any:
        """Each model's (decayed) rate at ``epoch``, 0 for a frozen model: a float when
        all are equal, else a ``(k, 1, 1)`` array (uploaded when the rates change)."""
        # Full-batch runs ask every step: recompute only when a rate can have changed
        # (a decay's epoch, a freeze), not k Python expressions per step.
        state = (epoch if self._decays else None, self.frozen.tobytes())
        if state != self._rate_state:
            rates = self._rates(epoch)
            if rates != self._rate[0]:
                self._rate = (rates, self.stack.per_model(rates, "the learning rate"))
            self._rate_state = state
        return self._rate[1]

    def _rates(self, epoch: int) -> tuple[float, ...]:
        """Each model's rate at ``epoch`` as floats (0 when frozen)."""
        return tuple(0.0 if frozen else
                     decayed_learning_rate(o.learning_rate, o.lr_decay, epoch,
                                           o.lr_decay_every) if o.lr_decay else o.learning_rate
                     for o, frozen in zip(self.options, self.frozen, strict=True))

    def divergence(self, cost: Any, unit: str, count: int) -> str | None:
        """None: a model's divergence freezes that model (:class:`StackStopping`)."""
        return None

    def cost_diverged(self, trainer: Trainer, cost: Any) -> bool:
        """Mark the training models whose cost at the end of the run (after their last
        record) is not finite as diverged; True when every model diverged."""
        for i in np.flatnonzero(~self.frozen):
            if not math.isfinite(cost[i]):
                self.freeze(int(i), "diverged", trainer)
        return all(kind == "diverged" for kind in self.stopped_by)

    def stopping(self, patience: int | None) -> Callback:
        """The callback that freezes diverged and early-stopped models."""
        return StackStopping(self, patience)

    def freeze(self, i: int, kind: str, trainer: Trainer) -> None:
        """Stop training model ``i`` (from the next step on), for ``kind``."""
        self.frozen[i] = True
        self.stopped_by[i] = kind
        if self.steps[i] is None:
            self.steps[i] = trainer.state.step
            self.records[i] = len(trainer.state.history)

    def parameters_finite(self, trainer: Trainer) -> bool:
        """Mark the models whose parameters are not finite as diverged (one reduction per
        array, one read); True unless every model diverged."""
        finite = self._finite(trainer.state.params)
        for i in np.flatnonzero(~finite):
            if self.stopped_by[i] != "diverged":
                self.freeze(int(i), "diverged", trainer)
        return bool(np.any(finite))

    def savable(self, trainer: Trainer, frozen: Sequence[bool] | None = None) -> bool:
        """Whether a checkpoint may hold the parameters now: those of every model still
        training (not ``frozen``, default :attr:`frozen`) are finite (one reduction per
        array, one read). A frozen diverged model keeps its NaN and blocks nothing;
        nothing is frozen here, so that checkpoints change no model's stop."""
        training = ~np.asarray(self.frozen if frozen is None else frozen, dtype=bool)
        return bool(np.all(self._finite(trainer.state.params)[training]))

    def _finite(self, params: dict[str, Array]) -> np.ndarray:
        """Per model, whether all its arrays are finite: a host ``(k,)`` array."""
        xp = self.stack.backend.xp
        per_array = [xp.all(xp.isfinite(value), axis=(-2, -1)) for value in params.values()]
        return np.asarray(self.stack.backend.to_host(xp.all(xp.stack(per_array), axis=0)))

    def bookkeeping(self) -> dict[str, Any]:
        """Each model's stop and early stopping, JSON-ready (non-finite floats as Python's
        ``json`` writes them): what a checkpoint keeps beside the state."""
        return {"frozen": [bool(f) for f in self.frozen], "stopped_by": list(self.stopped_by),
                "steps": list(self.steps), "records": list(self.records),
                "best": list(self.best), "best_cost": list(self.best_cost),
                "bad": list(self.bad)}

    def restore(self, book: dict[str, Any]) -> None:
        """:meth:`bookkeeping` backwards (a resumed stack)."""
        if not all(isinstance(book.get(key), list) and len(book[key]) == self.k
                   for key in ("frozen", "stopped_by", "steps", "records", "best",
                               "best_cost", "bad")):
            raise NNBackendError(f"the checkpoint's stack bookkeeping is not for {self.k} "
                                 "models; resume from another checkpoint or start again")
        self.frozen = np.asarray(book["frozen"], dtype=bool)
        self.stopped_by, self.steps = list(book["stopped_by"]), list(book["steps"])
        self.records, self.best = list(book["records"]), list(book["best"])
        self.best_cost = [float(c) for c in book["best_cost"]]
        self.bad = [int(b) for b in book["bad"]]

    def model(self, params: dict[str, Array], i: int) -> dict[str, Array]:
        """Model ``i``'s own parameters (unpadded views)."""
        return self.stack.model(params, i)

    def model_record(self, record: dict[str, Any], i: int) -> dict[str, Any]:
        """Model ``i``'s figures of a stacked record (floats)."""
        return {name: value[i] if isinstance(value, list) else value
                for name, value in record.items()}


class StackStopping(Callback):
    """Per-model divergence and early stopping: freeze, never stop the others.

    Each model's early stopping is its single run's (:class:`~nnbackend.training.
    callbacks.EarlyStopping`): the best validation cost so far, and the records since it
    improved (kept by the :class:`StackedModels`, so that checkpoints carry them); the best
    parameters are kept on the device, per model (``where``), in the trainer's
    ``state.best_params``.
    """

    all_ranks = True

    def __init__(self, models: StackedModels, patience: int | None) -> None:
        self.models, self.patience = models, patience

    def on_record(self, trainer: Trainer, record: dict[str, Any]) -> None:
        models = self.models
        improved = np.zeros(models.k, dtype=bool)
        for i in np.flatnonzero(~models.frozen):
            if not math.isfinite(record["cost"][i]):
                models.freeze(int(i), "diverged", trainer)
                continue
            if "val_cost" not in record:
                continue
            val = record["val_cost"][i]
            if val < models.best_cost[i]:
                models.best_cost[i], models.bad[i], improved[i] = val, 0, True
                models.best[i] = models.model_record(record, int(i))
                continue
            models.bad[i] += 1
            if (self.patience is not None and models.bad[i] >= self.patience
                    and models.best[i] is not None):
                models.freeze(int(i), "early_stopping", trainer)
        if improved.any():
            st = trainer.state
            st.best_params = self._where(improved, st.params, st.best_params)
        if models.frozen.all():
            kinds = set(models.stopped_by)
            trainer.request_stop("diverged" if kinds == {"diverged"} else "early_stopping"
                                 if "early_stopping" in kinds else "stopped",
                                 "every model of the stack stopped (diverged or early "
                                 "stopping)")

    def _where(self, chosen: np.ndarray, params: dict[str, Array],
               others: dict[str, Array] | None) -> dict[str, Array]:
        """``params`` for the chosen models, ``others`` for the rest (new arrays)."""
        backend = self.models.stack.backend
        mask = backend.asarray(chosen.reshape(-1, 1, 1), dtype="bool")
        xp = backend.xp
        return {name: xp.where(mask, value, value if others is None else others[name])
                for name, value in params.items()}

    def on_end(self, trainer: Trainer, result: TrainingResult | None) -> None:
        models = self.models
        if result is None or result.stopped_by == "interrupted":
            return  # kept to be resumed (a checkpoint): nothing restored, nothing counted
        stopped = np.array([kind == "early_stopping" for kind in models.stopped_by])
        best = trainer.state.best_params
        if stopped.any() and best is not None:
            trainer.restore(self._where(stopped, best, trainer.state.params))
        for i in range(models.k):
            if models.steps[i] is None:
                models.steps[i] = result.steps
