"""The notes' own plain-NumPy shallow network, written as the assignment writes it.

A reference implementation, independent of nnbackend: the column convention, the global
``np.random.seed``, the cost through ``log(A2)``. nnbackend's default run must reproduce it.
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def nn_model(X: np.ndarray, Y: np.ndarray, n_h: int, num_iterations: int = 10000,
             learning_rate: float = 1.2, seed: int = 3,
             print_every: int = 1000) -> tuple[dict[str, np.ndarray], list[float]]:
    """X: (n_x, m), Y: (1, m). Returns the parameters and the costs at the print interval."""
    np.random.seed(seed)
    n_x, n_y = X.shape[0], Y.shape[0]
    W1 = np.random.randn(n_h, n_x) * 0.01
    b1 = np.zeros((n_h, 1))
    W2 = np.random.randn(n_y, n_h) * 0.01
    b2 = np.zeros((n_y, 1))
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
