"""PARL's ``parl.core.paddle.policy_distribution``: action distributions built from a policy's output.

Same classes, constructor arguments, methods and formulas as PARL 2.2's paddle module (MADDPG's
Gumbel-softmax actions come from :class:`SoftCategoricalDistribution`).  One difference:
:meth:`CategoricalDistribution.sample` draws with ``paddle.multinomial`` because PARL's
``paddle.fluid.layers.sampling_id`` no longer exists in paddle 3.  Arguments are checked with
exceptions instead of ``assert``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fastparl.core._paddle import import_paddle

paddle = import_paddle()
F = paddle.nn.functional

__all__ = [
    "CategoricalDistribution",
    "DiagGaussianDistribution",
    "PolicyDistribution",
    "SoftCategoricalDistribution",
    "SoftMultiCategoricalDistribution",
]


def _check_rank(tensor: Any, rank: int, what: str) -> None:
    if len(tensor.shape) != rank:
        raise ValueError(f"{what} must have rank {rank}, got shape {list(tensor.shape)}")


class PolicyDistribution:
    """The interface: ``sample``, ``entropy``, ``kl(other)`` and ``logp(actions)``."""

    def sample(self) -> Any:
        """Sampling from the policy distribution."""
        raise NotImplementedError

    def entropy(self) -> Any:
        """The entropy of the policy distribution."""
        raise NotImplementedError

    def kl(self, other: Any) -> Any:
        """The KL-divergence between self policy distributions and other."""
        raise NotImplementedError

    def logp(self, actions: Any) -> Any:
        """The log-probabilities of the actions in this policy distribution."""
        raise NotImplementedError


class DiagGaussianDistribution(PolicyDistribution):
    """A diagonal Gaussian for continuous actions.

    Args:
        logits: ``(mean, logstd)``, two float32 tensors ``(B, act_dim)``.

    Raises:
        ValueError: if ``logits`` is not a pair of rank-2 tensors.
    """

    def __init__(self, logits: Sequence[Any]) -> None:
        if len(logits) != 2:
            raise ValueError(f"DiagGaussianDistribution needs logits=(mean, logstd), got {len(logits)} tensors")
        _check_rank(logits[0], 2, "mean")
        _check_rank(logits[1], 2, "logstd")
        self.logits = logits
        self.mean, self.logstd = logits
        self.std = paddle.exp(self.logstd)

    def sample(self) -> Any:
        """``mean + std * N(0, 1)``, ``(B, act_dim)``."""
        return self.mean + self.std * paddle.normal(shape=self.mean.shape)

    def entropy(self) -> Any:
        """``(B,)``: ``sum(logstd + 0.5 log(2 pi e))``."""
        return paddle.sum(self.logstd + 0.5 * np.log(2.0 * np.pi * np.e), axis=1)

    def logp(self, actions: Any) -> Any:
        """Log-density ``(B,)`` of float32 ``actions`` ``(B, act_dim)``."""
        _check_rank(actions, 2, "actions")
        norm_actions = paddle.sum(paddle.square((actions - self.mean) / self.std), axis=1)
        pi_item = 0.5 * np.log(2.0 * np.pi) * actions.shape[1]
        return -0.5 * norm_actions - pi_item - paddle.sum(self.logstd, axis=1)

    def kl(self, other: DiagGaussianDistribution) -> Any:
        """KL(self || other), ``(B,)``."""
        if not isinstance(other, DiagGaussianDistribution):
            raise TypeError(f"kl needs another DiagGaussianDistribution, got {type(other).__name__}")
        temp = (paddle.square(self.std) + paddle.square(self.mean - other.mean)) / (2.0 * paddle.square(other.std))
        return paddle.sum(other.logstd - self.logstd + temp - 0.5, axis=1)


class CategoricalDistribution(PolicyDistribution):
    """A categorical distribution for discrete actions.

    Args:
        logits: float32 tensor ``(B, n_actions)`` of unnormalised log-probabilities.

    Raises:
        ValueError: if ``logits`` is not rank 2.
    """

    def __init__(self, logits: Any) -> None:
        _check_rank(logits, 2, "logits")
        self.logits = logits

    def _shifted(self) -> tuple[Any, Any, Any]:
        """``(logits - max, exp of it, its sum)``: the numerically safe softmax pieces."""
        logits = self.logits - paddle.max(self.logits, axis=1, keepdim=True)
        e_logits = paddle.exp(logits)
        return logits, e_logits, paddle.sum(e_logits, axis=1, keepdim=True)

    def sample(self) -> Any:
        """int64 action ids ``(B,)`` drawn from ``softmax(logits)``."""
        return paddle.multinomial(F.softmax(self.logits), num_samples=1).reshape([-1])

    def entropy(self) -> Any:
        """``(B,)`` entropy of ``softmax(logits)``."""
        logits, e_logits, z = self._shifted()
        return -1.0 * paddle.sum(e_logits / z * (logits - paddle.log(z)), axis=1)

    def logp(self, actions: Any, eps: float = 1e-6) -> Any:
        """``log(p[actions] + eps)``, ``(B,)``, for int64 ``actions`` ``(B,)``.

        Args:
            actions: int64 tensor ``(B,)``.
            eps: added to the probability to avoid ``log(0)`` (PARL: 1e-6).
        """
        _check_rank(actions, 1, "actions")
        _, e_logits, z = self._shifted()
        prob = e_logits / z
        actions_onehot = paddle.cast(F.one_hot(actions, prob.shape[1]), dtype="float32")
        actions_prob = paddle.max(prob * actions_onehot, axis=1)
        return paddle.log(actions_prob + eps)

    def kl(self, other: CategoricalDistribution) -> Any:
        """KL(self || other), ``(B,)``."""
        if not isinstance(other, CategoricalDistribution):
            raise TypeError(f"kl needs another CategoricalDistribution, got {type(other).__name__}")
        logits, e_logits, z = self._shifted()
        other_logits, _, other_z = other._shifted()
        prob = e_logits / z
        return paddle.sum(prob * (logits - paddle.log(z) - other_logits + paddle.log(other_z)), axis=1)


class SoftCategoricalDistribution(CategoricalDistribution):
    """A categorical distribution whose sample is a relaxed one-hot (Gumbel-softmax), as MADDPG uses.

    Args:
        logits: float32 tensor ``(B, n_actions)``.
    """

    def sample(self) -> Any:
        """``softmax(logits - log(-log(u)))`` with ``u ~ U[1e-4, 1 - 1e-4]``: ``(B, n_actions)``, differentiable."""
        eps = 1e-4
        uniform = paddle.uniform(self.logits.shape, dtype=self.logits.dtype, min=eps, max=1.0 - eps)
        return F.softmax(self.logits - paddle.log(-1.0 * paddle.log(uniform)), axis=-1)


class SoftMultiCategoricalDistribution(PolicyDistribution):
    """One :class:`SoftCategoricalDistribution` per dimension of a ``MultiDiscrete`` space.

    Args:
        logits: float32 tensor ``(B, sum(high - low + 1))``: the logits of each dimension, concatenated.
        low, high: the space's bounds per dimension (integer arrays).
    """

    def __init__(self, logits: Any, low: Any, high: Any) -> None:
        self.logits, self.low, self.high = logits, low, high
        sections = [int(n) for n in np.asarray(high) - np.asarray(low) + 1]
        if sum(sections) != logits.shape[-1]:
            raise ValueError(f"SoftMultiCategoricalDistribution: logits have {logits.shape[-1]} entries but the "
                             f"bounds need sum(high - low + 1) = {sum(sections)}")
        self.categoricals = [SoftCategoricalDistribution(x)
                             for x in paddle.split(logits, num_or_sections=sections, axis=len(logits.shape) - 1)]

    def sample(self) -> Any:
        """The relaxed samples of every dimension, each shifted by its ``low``, concatenated."""
        return paddle.concat([self.low[i] + c.sample() for i, c in enumerate(self.categoricals)], axis=-1)

    def layers_add_n(self, input_list: Sequence[Any]) -> Any:
        """Elementwise sum of the tensors in ``input_list`` (PARL's helper)."""
        if len(input_list) == 0:
            raise ValueError("layers_add_n needs at least one tensor")
        res = input_list[0]
        for x in input_list[1:]:
            res = paddle.add(res, x)
        return res

    def entropy(self) -> Any:
        """Sum of the dimensions' entropies, ``(B,)``."""
        return self.layers_add_n([p.entropy() for p in self.categoricals])

    def kl(self, other: SoftMultiCategoricalDistribution) -> Any:
        """Sum of the dimensions' KL divergences, ``(B,)``."""
        return self.layers_add_n([p.kl(q) for p, q in zip(self.categoricals, other.categoricals, strict=True)])

