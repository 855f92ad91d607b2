"""What the algorithms share: tensor conversion, log-probabilities, argument checks, target updates.

Each algorithm file stays readable top to bottom (its losses are written out in it); the pieces
that several of them need, and that must agree to the last bit with PARL, live here once:

* :func:`to_tensor`: numpy (or a tensor) in, a paddle tensor of the asked dtype out;
* :func:`gaussian_log_prob`, :func:`gaussian_entropy`: ``paddle.distribution.Normal``'s formulas,
  op for op, so PPO gives PARL's numbers without building distribution objects;
* :func:`categorical_log_prob`, :func:`categorical_entropy`: ``log_softmax`` gathered at the
  action (what PARL's one-hot sum computes) and ``paddle.distribution.Categorical.entropy``;
* :func:`tanh_gaussian_sample`: the reparameterised, tanh-squashed sample and its log-probability
  of PARL's SAC, OAC and CQL;
* :func:`check_actor_critic_args`, :func:`check_bool`, :data:`ACTOR_CRITIC_METHODS`;
* :class:`SoftTargetMixin`: PARL's ``sync_target(decay=None)`` for algorithms with ``tau``;
* :func:`frozen`: leaves the critic out of the actor's backward pass.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from fastparl.core import import_paddle
from fastparl.core.checks import check_number

paddle = import_paddle()
F = paddle.nn.functional

__all__ = [
    "ACTOR_CRITIC_METHODS",
    "SoftTargetMixin",
    "categorical_entropy",
    "categorical_log_prob",
    "check_actor_critic_args",
    "check_bool",
    "check_decay",
    "frozen",
    "gaussian_entropy",
    "gaussian_log_prob",
    "tanh_gaussian_sample",
    "to_tensor",
]

# The methods PARL's DDPG, TD3, SAC, OAC, CQL and MADDPG call on their model.
ACTOR_CRITIC_METHODS = ("policy", "value", "get_actor_params", "get_critic_params")

_LOG_SQRT_2PI = math.log(math.sqrt(2.0 * math.pi))  # the constant paddle's Normal.log_prob subtracts
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)  # the one its entropy adds
_LOG_2 = math.log(2.0)


# ------------------------------------------------------------------------------------------ tensors
def to_tensor(x: Any, dtype: str | None = None) -> Any:
    """``x`` as a paddle tensor; tensors pass through (cast only when ``dtype`` differs).

    Args:
        x: a paddle tensor, numpy array or anything ``np.asarray`` takes.  Read-only arrays (views
            received from an actor) are copied first, so paddle never warns about them.
        dtype: e.g. ``"float32"``, ``"int64"``; ``None`` keeps the dtype.
    """
    if isinstance(x, paddle.Tensor):
        return x if dtype is None or x.dtype == getattr(paddle, dtype) else x.astype(dtype)
    arr = np.asarray(x)
    if not arr.flags.writeable:
        arr = arr.copy()
    return paddle.to_tensor(arr, dtype=dtype)


# ------------------------------------------------------------------------------- log-probabilities
def gaussian_log_prob(x: Any, mean: Any, std: Any) -> Any:
    """Elementwise ``log N(x; mean, std)``, op for op as ``paddle.distribution.Normal.log_prob``.

    Shapes broadcast (``std`` may be ``(1, act_dim)``); sum over the last axis for a diagonal Gaussian.
    """
    var = std * std
    return -1.0 * ((x - mean) * (x - mean)) / (2.0 * var) - (paddle.log(std) + _LOG_SQRT_2PI)


def gaussian_entropy(std: Any, like: Any) -> Any:
    """Elementwise entropy ``0.5 + 0.5 log(2 pi) + log std``, broadcast to ``like``'s shape (as ``Normal``)."""
    zeros = paddle.zeros_like(like)
    return (0.5 + zeros) + (_HALF_LOG_2PI + paddle.log(std + zeros))


def categorical_log_prob(logits: Any, action: Any) -> Any:
    """``log softmax(logits)[action]``: logits ``(B, n)``, int64 actions ``(B,)`` or ``(B, 1)`` -> ``(B,)``.

    Equal to the bit to PARL's ``sum(log_softmax(logits) * one_hot(action))``, with one op instead of three.
    """
    log_p = F.log_softmax(logits, axis=-1)
    return paddle.take_along_axis(log_p, action.reshape([-1, 1]), axis=-1).reshape([-1])


def categorical_entropy(logits: Any) -> Any:
    """Entropy ``(B,)`` of ``softmax(logits)``, computed as ``paddle.distribution.Categorical.entropy``."""
    shifted = logits - paddle.max(logits, axis=-1, keepdim=True)
    e = paddle.exp(shifted)
    z = paddle.sum(e, axis=-1, keepdim=True)
    return -1.0 * paddle.sum((e / z) * (shifted - paddle.log(z)), axis=-1)


def tanh_gaussian_sample(mean: Any, log_std: Any, stable: bool = False, noise: Any = None) -> tuple[Any, Any]:
    """A reparameterised sample ``a = tanh(mean + std * eps)`` and ``log pi(a)``, summed over actions.

    With ``stable=False`` this is PARL's SAC/OAC/CQL formula, op for op, with the same random draws
    (``Normal(mean, std).sample([1])``): ``log N(x) - log(1 - tanh(x)^2 + 1e-6)``.  ``stable=True``
    uses the exact ``log(1 - tanh(x)^2) = 2 (log 2 - x - softplus(-2x))``, which does not saturate
    at ``log 1e-6`` when ``|x|`` is large (about 7 and beyond), at the price of PARL's numbers.

    Args:
        mean, log_std: ``(N, act_dim)`` float32 tensors.
        stable: use the exact tanh correction.
        noise: the standard normal draws ``eps`` (``(N, act_dim)`` float32 tensor) to use instead of
            drawing them here (data-parallel learners get them with the batch); None: draw them.

    Returns:
        ``(action, log_prob)``, ``(N, act_dim)`` and ``(N, 1)``.
    """
    std = log_std.exp()
    eps = paddle.randn([1, *mean.shape], dtype=mean.dtype) if noise is None else noise.reshape([1, *mean.shape])
    x = eps * std + mean  # Normal.sample([1]): one draw each
    action = paddle.tanh(x)
    log_prob = gaussian_log_prob(x, mean, std)
    if stable:
        log_prob = log_prob - 2.0 * (_LOG_2 - x - F.softplus(-2.0 * x))
    else:
        log_prob = log_prob - paddle.log((1 - action.pow(2)) + 1e-6)
    return action.squeeze(0), paddle.sum(log_prob, axis=-1, keepdim=True).squeeze(0)  # squeeze: cheaper than [0]


# ------------------------------------------------------------------------------------------ checks
def check_actor_critic_args(name: str, example: str, **values: Any) -> dict[str, float]:
    """Validate the numeric arguments of the actor-critic algorithms.

    ``gamma`` and ``tau`` must lie in ``[0, 1]``; every name ending in ``_lr`` must be positive;
    every other value must merely be a real number.

    Args:
        name: the algorithm's name, for the messages.
        example: an example constructor call shown in the messages.
        **values: argument name -> value.

    Returns:
        Argument name -> value as ``float``.

    Raises:
        TypeError: if a value is missing (``None``) or not a real number.
        ValueError: if a value is out of its range.
    """
    out = {}
    for key, value in values.items():
        v = check_number(value, key, name, example)
        if key in ("gamma", "tau") and not 0.0 <= v <= 1.0:
            raise ValueError(f"{name}: {key} must be in [0, 1], got {v}; e.g. {example}")
        if key.endswith("_lr") and v <= 0.0:
            raise ValueError(f"{name}: {key} must be > 0, got {v}; e.g. {example}")
        out[key] = v
    return out


def check_bool(value: Any, name: str, algo: str) -> bool:
    """``value`` as a bool.

    Raises:
        TypeError: if ``value`` is not a bool (a 0/1 int would hide a swapped positional argument).
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{algo} needs {name} to be a bool, got {value!r}; e.g. {algo}(model, {name}=True)")
    return bool(value)


def check_decay(decay: float | None, tau: float) -> float:
    """``1 - tau`` when ``decay`` is ``None`` (PARL's default), else ``decay`` checked in ``[0, 1]``."""
    if decay is None:
        return 1.0 - tau
    decay = float(decay)
    if not 0.0 <= decay <= 1.0:
        raise ValueError(f"sync_target: decay must be in [0, 1] (0 copies, 1 - tau is a soft update), got {decay}")
    return decay


# ------------------------------------------------------------------------------------ target nets
class SoftTargetMixin:
    """PARL's ``sync_target(decay=None)`` for an algorithm with ``model``, ``target_model`` and ``tau``."""

    model: Any
    target_model: Any
    tau: float

    def sync_target(self, decay: float | None = None) -> None:
        """Update ``target_model``: ``target = decay * target + (1 - decay) * model``.

        Args:
            decay: ``None`` (default) means ``1 - tau`` (a soft update); ``0`` copies.

        Raises:
            ValueError: if ``decay`` is outside ``[0, 1]``.
        """
        self.model.sync_weights_to(self.target_model, decay=check_decay(decay, self.tau))


@contextlib.contextmanager
def frozen(params: Sequence[Any], keep: Sequence[Any] = ()) -> Iterator[None]:
    """Within the block, ``params`` (but none of ``keep``) take no gradient: the backward pass skips
    their weight gradients.

    An actor's loss runs through the critic (``-Q(s, pi(s))``), so its backward pass would also
    compute the critic's weight gradients, which the next critic step's ``clear_grad`` throws away
    unread: a third of the critic's backward work (SAC on HalfCheetah: ~9% of an update).  Freezing
    the critic for the actor's forward and backward passes changes no number the update computes:
    the gradient still flows through the critic to the action.  ``keep``: the actor's parameters,
    so that a layer both share (a common encoder) still gets the actor's gradient.
    """
    kept = {id(p) for p in keep}
    params = [p for p in params if id(p) not in kept]
    saved = [p.stop_gradient for p in params]
    for p in params:
        p.stop_gradient = True
    try:
        yield
    finally:
        for p, flag in zip(params, saved):
            p.stop_gradient = flag
