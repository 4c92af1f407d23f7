"""Fold assignment for k-fold cross-validation, the same rule on every node."""

from __future__ import annotations

import numpy as np

__all__ = ["assign_folds"]


def assign_folds(num_rows: int, n_splits: int, seed: int) -> np.ndarray:
    """Balanced fold ids 0..n_splits-1 for ``num_rows`` rows, shuffled with ``seed``.

    Each node assigns its own rows; the pooled folds are the union of the nodes' folds,
    so a centralized reference can rebuild exactly the same split.
    """
    folds = np.arange(num_rows) % n_splits
    np.random.default_rng(seed).shuffle(folds)
    return folds
