"""``fastparl.Model``: PARL's ``parl.Model`` for the paddle backend."""

from __future__ import annotations

import weakref
from collections.abc import Mapping
from typing import Any

import numpy as np

from fastparl.core._paddle import import_paddle

paddle = import_paddle()

__all__ = ["Model"]


class Model(paddle.nn.Layer):  # type: ignore[name-defined]
    """Base class of fastparl's neural networks (a ``paddle.nn.Layer``), as ``parl.Model``.

    A ``Model`` is usually a policy or a Q function.  Subclasses call ``super().__init__()``
    first and define ``forward`` (and whatever methods their algorithm needs, e.g. ``value``
    and ``policy``).  ``copy.deepcopy(model)`` duplicates a model, as in PARL.

    Example:
        >>> import fastparl as parl
        >>> import paddle.nn as nn
        >>> class Policy(parl.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = nn.Linear(4, 2)
        ...     def forward(self, obs):
        ...         return self.fc(obs)
    """

    def get_weights(self) -> dict[str, np.ndarray]:
        """Return a copy of the model's state (parameters and buffers) as numpy arrays.

        Returns:
            Dict from the ``state_dict`` name (e.g. ``"fc1.weight"``) to a numpy array.
        """
        return {name: tensor.numpy() for name, tensor in self.state_dict().items()}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Copy ``weights`` (from :meth:`get_weights`) into the model, in place.

        Args:
            weights: dict from state_dict name to numpy array (or paddle tensor).

        Raises:
            TypeError: if ``weights`` is not a mapping.
            KeyError: if names are missing or unexpected; the message lists them.
            ValueError: if a shape differs from the model's.
        """
        if not isinstance(weights, Mapping):
            raise TypeError(
                f"set_weights expects a dict name -> array (as returned by get_weights()), got {type(weights).__name__}"
            )
        state = self.state_dict()
        missing = [k for k in state if k not in weights]
        unexpected = [k for k in weights if k not in state]
        if missing or unexpected:
            raise KeyError(
                f"{type(self).__name__}.set_weights: weights do not match the model "
                f"({len(state)} expected, {len(weights)} given); missing {missing}, "
                f"unexpected {unexpected}. Pass the dict returned by get_weights() of a model "
                f"with the same architecture."
            )
        with paddle.no_grad():
            for name, tensor in state.items():
                value = weights[name]
                if isinstance(value, paddle.Tensor):
                    value = value.numpy()
                value = np.asarray(value)
                if tuple(value.shape) != tuple(tensor.shape):
                    raise ValueError(
                        f"{type(self).__name__}.set_weights: {name!r} expects shape "
                        f"{tuple(tensor.shape)}, got {tuple(value.shape)}"
                    )
                # set_value copies into the existing storage, so views and optimizers stay valid.
                tensor.set_value(value.astype(_numpy_dtype(tensor), copy=False))

    def sync_weights_to(self, target_model: Model, decay: float = 0.0) -> None:
        """Copy (or softly mix) this model's parameters into ``target_model``, in place.

        ``target = decay * target + (1 - decay) * self`` for every parameter; ``decay=0``
        copies, and ``decay=0.995`` is a Polyak/soft update with ``tau = 0.005``.

        Args:
            target_model: a model of the same class and architecture (e.g. a deepcopy).
            decay: weight of the target's old value, in ``[0, 1]``.

        Raises:
            TypeError: if ``target_model`` is not a :class:`Model` of the same class.
            ValueError: if ``target_model is self``, ``decay`` is outside ``[0, 1]``, or the
                parameters differ in names or shapes.
        """
        if target_model is self:
            raise ValueError("sync_weights_to: cannot sync a model to itself; pass a copy.deepcopy() of it")
        if not isinstance(target_model, Model):
            raise TypeError(f"sync_weights_to: target_model must be a parl.Model, got {type(target_model).__name__}")
        if type(target_model).__name__ != type(self).__name__:
            raise TypeError(
                f"sync_weights_to: models must be the same class, got {type(self).__name__} -> "
                f"{type(target_model).__name__}"
            )
        decay = float(decay)
        if not 0.0 <= decay <= 1.0:
            raise ValueError(f"sync_weights_to: decay must be in [0, 1], got {decay}")
        pairs = _sync_pairs(self, target_model)
        if pairs is not None:  # CPU: update through cached numpy views, ~4x cheaper than paddle ops
            for src, dst in pairs:
                if decay == 0.0:
                    np.copyto(dst, src)
                else:
                    dst *= decay
                    dst += (1.0 - decay) * src
            return
        with paddle.no_grad():
            for param, target in _check_pairs(self, target_model):
                if decay == 0.0:
                    paddle.assign(param, output=target)
                else:
                    paddle.assign(decay * target + (1.0 - decay) * param, output=target)


# source model -> {id(target model): (weakref to target, [(param, target param)], [(views)])}
_SYNC_CACHE: weakref.WeakKeyDictionary[Any, dict[int, Any]] = weakref.WeakKeyDictionary()


def _check_pairs(source: Model, target: Model) -> list[tuple[Any, Any]]:
    """Match parameters by name; raise ValueError if names or shapes differ."""
    target_params = dict(target.named_parameters())
    pairs = []
    for name, param in source.named_parameters():
        other = target_params.get(name)
        if other is None or tuple(other.shape) != tuple(param.shape):
            raise ValueError(
                f"sync_weights_to: parameter {name!r} of shape {tuple(param.shape)} has no "
                f"match in the target model; the architectures differ"
            )
        pairs.append((param, other))
    return pairs


def _cpu_view(tensor: Any) -> np.ndarray | None:
    """A zero-copy numpy view of a dense CPU float tensor, else None."""
    try:
        if not tensor.place.is_cpu_place() or str(tensor.dtype) not in ("paddle.float32", "paddle.float64"):
            return None
        view = np.from_dlpack(tensor.detach())
    except (AttributeError, BufferError, RuntimeError, TypeError, ValueError):
        return None
    return view if view.flags.c_contiguous and view.ctypes.data == tensor.data_ptr() else None


def _sync_pairs(source: Model, target: Model) -> list[tuple[np.ndarray, np.ndarray]] | None:
    """Cached (source view, target view) pairs for sync_weights_to, or None to use paddle ops.

    The cache is revalidated on every call by comparing each view's address with its
    parameter's ``data_ptr()``, so a re-allocated parameter (or a deepcopy) rebuilds it.
    """
    try:
        per_source = _SYNC_CACHE.setdefault(source, {})
    except TypeError:
        return None
    entry = per_source.get(id(target))
    if entry is not None:
        target_ref, params, views = entry
        if (
            target_ref() is target
            and len(params) == len(source.parameters())
            and all(
                sv.ctypes.data == sp.data_ptr() and tv.ctypes.data == tp.data_ptr()
                for (sp, tp), (sv, tv) in zip(params, views, strict=True)
            )
        ):
            return views
    params = _check_pairs(source, target)
    views = []
    for sp, tp in params:
        sv, tv = _cpu_view(sp), _cpu_view(tp)
        if sv is None or tv is None or sv.dtype != tv.dtype:
            per_source.pop(id(target), None)
            return None
        views.append((sv, tv))
    for key in [k for k, (ref, _, _) in per_source.items() if ref() is None]:
        del per_source[key]  # targets that no longer exist
    per_source[id(target)] = (weakref.ref(target), params, views)
    return views


def _numpy_dtype(tensor: Any) -> np.dtype:
    """The numpy dtype matching a paddle tensor's dtype."""
    try:
        return np.dtype(str(tensor.dtype).replace("paddle.", ""))
    except TypeError:  # e.g. bfloat16, which numpy lacks: let paddle convert
        return np.dtype("float32")
