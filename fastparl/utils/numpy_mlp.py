"""Batch-1 inference in numpy on zero-copy views of paddle parameters, and the examples' numpy MLPs.

Acting in an environment calls the network once per step on a single observation.  paddle's
eager mode spends about 90-110 us per such call on small MLPs (tensor creation, dispatch),
while the same matmuls in numpy take about 6 us.  :class:`NumpyMLP` reads the weights of a
stack of ``paddle.nn.Linear`` layers through DLPack views, which share memory with the
parameters: paddle's optimizers, ``set_value``, ``set_weights`` and ``sync_weights_to`` all
update parameters in place, so the views always see the current weights, with no copies.
If a parameter is ever re-allocated, the views are rebuilt on the next call.

:func:`mlp_forward` is the same forward pass over a dict of weights (``model.get_weights()``), for
actors that never import paddle.  This module does not import paddle itself (it is re-exported as
``fastparl.core.NumpyMLP``): the layers given to :class:`NumpyMLP` come from a paddle that is loaded.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["NumpyMLP", "mlp_forward"]

_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0, out=x),
    "tanh": lambda x: np.tanh(x, out=x),
    "identity": lambda x: x,
}


def _softmax(x: np.ndarray) -> np.ndarray:
    z = np.exp(x - x.max(axis=-1, keepdims=True))
    out: np.ndarray = z / z.sum(axis=-1, keepdims=True)
    return out


_OUTPUTS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "identity": lambda x: x,
    "softmax": _softmax,
    "tanh": np.tanh,
}


class NumpyMLP:
    """A numpy forward pass through ``paddle.nn.Linear`` layers, sharing their weights.

    ``y = out(W_k^T ... act(W_1^T x + b_1) ... + b_k)`` where paddle stores ``W`` as
    ``(in_features, out_features)``.  Only use it where the model's ``forward`` is exactly
    this stack (a test in your code comparing both outputs is cheap insurance).

    Args:
        layers: the ``paddle.nn.Linear`` layers, in order.
        activation: hidden activation, ``"relu"``, ``"tanh"`` or ``"identity"``.
        output: output transform, ``"identity"``, ``"softmax"`` or ``"tanh"``.

    Example:
        >>> fast = NumpyMLP([model.fc1, model.fc2, model.fc3], activation="relu")
        >>> action = int(fast(obs).argmax())
    """

    def __init__(self, layers: Sequence[Any], activation: str = "relu", output: str = "identity") -> None:
        if not layers:
            raise ValueError("NumpyMLP needs at least one paddle.nn.Linear layer")
        paddle = sys.modules.get("paddle")  # loaded, if these are paddle layers
        for layer in layers:
            if paddle is None or not isinstance(layer, paddle.nn.Linear):
                raise TypeError(f"NumpyMLP supports paddle.nn.Linear layers only, got {type(layer).__name__}")
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {activation!r}")
        if output not in _OUTPUTS:
            raise ValueError(f"output must be one of {sorted(_OUTPUTS)}, got {output!r}")
        self._params = [(layer.weight, layer.bias) for layer in layers]
        self._act = _ACTIVATIONS[activation]
        self._out = _OUTPUTS[output]
        self._views: list[tuple[np.ndarray, np.ndarray | None]] = []
        self._ptrs: list[int] = []
        self._refresh()

    def _refresh(self) -> None:
        self._views = []
        self._ptrs = []
        for weight, bias in self._params:
            w = np.from_dlpack(weight.detach())
            b = None if bias is None else np.from_dlpack(bias.detach())
            self._views.append((w, b))
            self._ptrs.append(weight.data_ptr())

    def _stale(self) -> bool:
        return any(w.data_ptr() != p for (w, _), p in zip(self._params, self._ptrs, strict=True))

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """Run the forward pass.

        Args:
            obs: one observation ``(obs_dim,)`` or a batch ``(N, obs_dim)``; cast to float32.

        Returns:
            The output, ``(out_dim,)`` or ``(N, out_dim)``, float32.
        """
        if self._stale():
            self._refresh()
        h = np.asarray(obs, dtype=np.float32)
        last = len(self._views) - 1
        for i, (w, b) in enumerate(self._views):
            h = h @ w
            if b is not None:
                h += b
            if i < last:
                h = self._act(h)
        return self._out(h)


def mlp_forward(weights: Mapping[str, np.ndarray], prefix: str, x: np.ndarray, layers: int = 3) -> np.ndarray:
    """``W_k^T tanh(... tanh(W_1^T x + b_1) ...) + b_k`` with paddle's ``(in, out)`` weights ``<prefix><i>.weight``
    and ``<prefix><i>.bias`` (``i`` from 1), as ``model.get_weights()`` returns them; ``x`` is not cast."""
    h = x
    for i in range(1, layers + 1):
        h = h @ weights[f"{prefix}{i}.weight"] + weights[f"{prefix}{i}.bias"]
        if i < layers:
            np.tanh(h, out=h)
    return h
