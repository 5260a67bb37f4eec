"""The notes' own plain-NumPy shallow network, written as the assignment writes it.

A reference implementation, independent of nnbackend: the column convention, the global
``np.random.seed``, the cost through ``log(A2)`` every iteration. The test suite checks
that nnbackend's default run reproduces it, and ``scripts/bench.py`` times it as the
``notes`` peer. Run it directly to print the notes' flower run::

    python scripts/notes_reference.py
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The notes' ``1 / (1 + exp(-z))``."""
    return 1 / (1 + np.exp(-z))


def initialize_parameters(n_x: int, n_h: int, n_y: int, seed: int = 3) -> dict[str, np.ndarray]:
    """``np.random.seed(seed)``, then ``randn * 0.01`` weights (W1 first) and zero biases."""
    np.random.seed(seed)
    return {"W1": np.random.randn(n_h, n_x) * 0.01, "b1": np.zeros((n_h, 1)),
            "W2": np.random.randn(n_y, n_h) * 0.01, "b2": np.zeros((n_y, 1))}


def gradient_descent(X: np.ndarray, Y: np.ndarray, params: dict[str, np.ndarray],
                     num_iterations: int = 10000, learning_rate: float = 1.2,
                     print_every: int = 1000) -> tuple[dict[str, np.ndarray], list[float]]:
    """The notes' loop. X: (n_x, m), Y: (1, m). Returns the parameters and the costs
    of iterations 0, print_every, ... (each computed before that iteration's update)."""
    W1, b1, W2, b2 = (params[k] for k in ("W1", "b1", "W2", "b2"))
    m = X.shape[1]
    costs = []
    for i in range(num_iterations):
        Z1 = np.dot(W1, X) + b1
        A1 = np.tanh(Z1)
        Z2 = np.dot(W2, A1) + b2
        A2 = sigmoid(Z2)
        logprobs = np.multiply(np.log(A2), Y) + np.multiply(np.log(1 - A2), 1 - Y)
        cost = float(np.squeeze(-np.sum(logprobs) / m))
        dZ2 = A2 - Y
        dW2 = (1 / m) * np.dot(dZ2, A1.T)
        db2 = (1 / m) * np.sum(dZ2, axis=1, keepdims=True)
        dZ1 = np.multiply(np.dot(W2.T, dZ2), 1 - np.power(A1, 2))
        dW1 = (1 / m) * np.dot(dZ1, X.T)
        db1 = (1 / m) * np.sum(dZ1, axis=1, keepdims=True)
        W1 = W1 - learning_rate * dW1
        b1 = b1 - learning_rate * db1
        W2 = W2 - learning_rate * dW2
        b2 = b2 - learning_rate * db2
        if i % print_every == 0:
            costs.append(cost)
    return {"W1": W1, "b1": b1, "W2": W2, "b2": b2}, costs


def nn_model(X: np.ndarray, Y: np.ndarray, n_h: int, num_iterations: int = 10000,
             learning_rate: float = 1.2, seed: int = 3,
             print_every: int = 1000) -> tuple[dict[str, np.ndarray], list[float]]:
    """The notes' ``nn_model``: initialise with ``seed``, then gradient descent."""
    params = initialize_parameters(X.shape[0], n_h, Y.shape[0], seed)
    return gradient_descent(X, Y, params, num_iterations, learning_rate, print_every)


if __name__ == "__main__":
    from nnbackend.data.datasets import flower

    X_rows, y = flower()
    _, recorded = nn_model(X_rows.T, y.reshape(1, -1).astype(float), n_h=4)
    for i, c in enumerate(recorded):
        print(f"Cost after iteration {1000 * i}: {c:.6f}")
