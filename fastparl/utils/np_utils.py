"""PARL's ``parl.utils.np_utils``: softmax and cross-entropy in NumPy."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["np_cross_entropy", "np_softmax"]


def np_softmax(logits: npt.ArrayLike) -> np.ndarray:
    """Softmax over the last axis.

    The max is subtracted first (PARL does not), which gives the same result without overflowing
    for large logits.
    """
    x = np.asarray(logits)
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def np_cross_entropy(probs: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Cross-entropy ``-sum(labels * log(probs))`` over the last axis, keeping it (size 1).

    Args:
        probs: probabilities, shape ``(..., n_classes)``.
        labels: one-hot (or soft) labels of the same shape, or sparse integer labels of shape ``(..., 1)``.
    """
    labels = np.asarray(labels)
    if labels.shape[-1] == 1:  # sparse labels -> one-hot
        n_classes = probs.shape[-1]
        labels = np.eye(n_classes)[labels.reshape(-1)].reshape([*labels.shape[:-1], n_classes])
    return -np.sum(labels * np.log(probs), axis=-1, keepdims=True)
