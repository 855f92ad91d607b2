"""A numpy forward pass of the examples' tanh MLPs, for actors that never import paddle."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

__all__ = ["mlp_forward"]


def mlp_forward(weights: Mapping[str, np.ndarray], prefix: str, x: np.ndarray, layers: int = 3) -> np.ndarray:
    """``W_k^T tanh(... tanh(W_1^T x + b_1) ...) + b_k`` with paddle's ``(in, out)`` weights ``<prefix><i>.weight``."""
    h = x
    for i in range(1, layers + 1):
        h = h @ weights[f"{prefix}{i}.weight"] + weights[f"{prefix}{i}.bias"]
        if i < layers:
            np.tanh(h, out=h)
    return h
