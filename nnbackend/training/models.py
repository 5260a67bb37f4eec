"""What the training loop does per model: one network, or a stack of them.

:class:`~nnbackend.training.trainer.Trainer` runs one loop. What differs between a single
run and a stack of ``k`` models trained at once (:mod:`nnbackend.training.stack`) is behind
the small interface here, chosen once when the trainer is built:

- the update rule and the L2 strength the step takes (floats, or per-model arrays), and
  the step's spec (a stack's runs in blocks of models on the host);
- each epoch's permutation and each step's dropout masks (the run's generator, or one
  generator per model);
- a batch's rows (``take``; per model for a stack);
- the learning rate at an epoch (a float; a stack's is a ``(k, 1, 1)`` array whenever its
  models' rates differ, and a frozen model's rate is 0);
- the record's evaluation and what a non-finite cost means (the run stops; in a stack the
  model is frozen and the others go on, :mod:`nnbackend.training.stacked`).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from ..core.network import Network
from ..core.optimizers import Optimizer, decayed_learning_rate, make_optimizer
from ..core.regularization import dropout_masks
from .callbacks import Callback, EarlyStopping
from .divergence import cost_divergence, parameters_finite
from .evaluation import evaluate
from .step import StepSpec

if TYPE_CHECKING:
    import numpy as np

    from .trainer import Trainer, TrainingOptions

Array = Any


class OneModel:
    """A single run: everything from its options and its one host generator.

    Parameters
    ----------
    network : Network
        The run's network (its layer sizes shape the dropout masks).
    options : TrainingOptions
        The checked options.
    rng : numpy.random.RandomState
        The run's generator (shuffles and dropout masks).
    """

    #: Whether the stack's per-model machinery is in use.
    stacked = False
    #: Models trained at once: None for one model (its arrays have no model axis).
    k: int | None = None
    #: Masks every step uses when nothing is dropped (a padded stack's unit masks).
    fixed_masks: list[Any] | None = None

    def __init__(self, network: Network, options: TrainingOptions, rng: Any) -> None:
        self.network, self.options, self.rng = network, options, rng
        self.l2: Any = options.l2
        self.dropout = options.keep_prob != 1.0
        #: The learning rate of every step when it never changes (no decay), else None.
        self.constant_rate = None if options.lr_decay else options.learning_rate

    def optimizer(self) -> Optimizer:
        """The run's update rule."""
        opts = self.options
        return make_optimizer(opts.optimizer, opts.beta1, opts.beta2, opts.epsilon)

    def step_spec(self, optimizer: Optimizer) -> StepSpec:
        """What each step computes: the network's activations and loss, the update rule."""
        net = self.network
        return StepSpec(net.hidden, net.output, optimizer, self.l2)

    def permutation(self, m: int) -> np.ndarray:
        """The next epoch's order of the ``m`` rows."""
        return self.rng.permutation(m)

    def masks(self, size: int) -> list[Any] | None:
        """This step's dropout masks (only called when the run drops units)."""
        net = self.network
        return dropout_masks(self.rng, net.layer_sizes, size, self.options.keep_prob,
                             net.backend)

    def gather(self, X: Array, Y: Array, rows: Array) -> tuple[Array, Array]:
        """A batch's rows of ``X`` and columns of ``Y`` (``rows`` on the device)."""
        xp = self.network.backend.xp
        return xp.take(X, rows, axis=0), xp.take(Y, rows, axis=1)

    def ones(self, Xb: Array) -> Array:
        """The batch's column of ones ``(b, 1)`` (for ``db = dZ @ ones``)."""
        return self.network.backend.xp.ones_like(Xb[:, :1])

    def learning_rate(self, epoch: int) -> Any:
        """The (decayed) learning rate of steps in ``epoch``."""
        opts = self.options
        if not opts.lr_decay:
            return opts.learning_rate
        return decayed_learning_rate(opts.learning_rate, opts.lr_decay, epoch,
                                     opts.lr_decay_every)

    def evaluate(self, network: Network, params: dict[str, Array], X: Array, Y: Array,
                 l2: Any, host: bool = False) -> tuple[Any, Any]:
        """A record's cost and accuracy (:func:`nnbackend.training.evaluation.evaluate`)."""
        return evaluate(network, params, X, Y, l2, host)

    def divergence(self, cost: Any, unit: str, count: int) -> str | None:
        """The run's stop reason when a recorded cost is not finite."""
        return cost_divergence(cost, unit, count)

    def cost_diverged(self, trainer: Trainer, cost: Any) -> bool:
        """Whether a cost evaluated at the end of the run is not finite."""
        return not math.isfinite(cost)

    def stopping(self, patience: int | None) -> Callback:
        """The callback that keeps the best parameters (and stops early)."""
        return EarlyStopping(patience)

    def parameters_finite(self, trainer: Trainer) -> bool:
        """Whether the run's parameters are all finite (a device reduction, one read)."""
        return parameters_finite(self.network.backend, trainer.state.params)

    def savable(self, trainer: Trainer) -> bool:
        """Whether a checkpoint may hold the parameters now: all are finite."""
        return self.parameters_finite(trainer)
