"""Model files for the CLI tests, built through the library as ``train --save`` writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from click.testing import CliRunner, Result

from nnbackend.cli import cli
from nnbackend.core.backend import Backend, resolve_backend
from nnbackend.core.network import Network
from nnbackend.data.datasets import load_dataset
from nnbackend.data.encoding import encode_targets
from nnbackend.data.preprocessing import Standardizer
from nnbackend.persistence.models import save_model
from nnbackend.training.trainer import TrainingOptions, train

NUMPY64 = resolve_backend("cpu", "numpy", "float64")
NAMES = np.array(["cat", "dog", "eel"])


@dataclass(frozen=True)
class Saved:
    """A saved model and what made it."""

    path: Path
    network: Network
    standardizer: Standardizer | None
    classes: np.ndarray | None

    def rows(self, X: np.ndarray, backend: Backend = NUMPY64) -> Any:
        """``X`` scaled as in training, on ``backend``."""
        scaled = X if self.standardizer is None else self.standardizer.transform(X)
        return backend.asarray(scaled)


def build(path: Path, X: np.ndarray, y: Any, hidden: tuple[int, ...], *, iterations: int = 500,
          lr: float = 0.5, standardize: bool = True, history: bool = True) -> Saved:
    """Train on ``(X, y)`` and save with classes, standardization and history."""
    std = Standardizer.fit(X) if standardize else None
    targets = encode_targets(y)
    sizes = (X.shape[1], *hidden, targets.n_outputs)
    network = Network.create(sizes, NUMPY64, "tanh", targets.task, init="xavier", seed=1)
    scaled = X if std is None else std.transform(X)
    result = train(network, NUMPY64.asarray(scaled), NUMPY64.asarray(targets.Y),
                   TrainingOptions(learning_rate=lr, iterations=iterations, print_every=50))
    extra = {"history": result.history, "options": {"lr": lr}} if history else {}
    save_model(path, network, extra=extra, classes=targets.classes,
               standardization=None if std is None else std.to_dict())
    return Saved(path, network, std, targets.classes)


def named_blobs() -> tuple[np.ndarray, np.ndarray]:
    """The blobs set with class names instead of 0, 1, 2."""
    X, y = load_dataset("blobs")
    return X, NAMES[y]


def three_features(m: int = 120) -> tuple[np.ndarray, np.ndarray]:
    """A binary problem with 3 features (no decision-boundary plot possible)."""
    X = np.random.RandomState(0).normal(size=(m, 3))
    return X, (X.sum(axis=1) > 0).astype(np.int64)


def two_targets(m: int = 80) -> tuple[np.ndarray, np.ndarray]:
    """Regression with 3 features and 2 targets."""
    X = np.random.RandomState(1).normal(size=(m, 3))
    return X, np.c_[X[:, 0] - X[:, 1], 0.5 * X[:, 2]]


def invoke(*args: Any) -> Result:
    """Run the CLI in-process (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, [str(a) for a in args])


def assert_one_line_error(result: Result, *fragments: str) -> None:
    """Exit code 2, nothing on stdout, one ``Error: `` line naming every fragment."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert result.stdout == ""
    assert result.stderr.startswith("Error: "), result.stderr
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, (fragment, result.stderr)


def write_csv(path: Path, header: list[str], columns: list[Any]) -> Path:
    """A CSV file from named columns (values written with ``str``)."""
    lines = [",".join(header)]
    lines += [",".join(str(v) for v in row) for row in zip(*columns, strict=True)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
