"""V-trace targets (Espeholt et al. 2018, arXiv:1802.01561), as PARL's ``parl.algorithms.impala.vtrace``.

:func:`from_importance_weights` has PARL's signature and returns paddle tensors, for PARL code
that calls it directly.  It takes a discount per step (so any discounting scheme works) and loops
over time in paddle, vectorised over the batch; fastparl's own :class:`~fastparl.algorithms.IMPALA`
computes the same targets with the numba kernel :func:`fastparl.kernels.vtrace` instead, which is
much faster for the usual ``discounts = gamma * (1 - done)``.  Both stay: they compute on different
types (paddle tensors here, numpy arrays there) for different callers.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from fastparl.algorithms.common import to_tensor
from fastparl.core import import_paddle

paddle = import_paddle()

__all__ = ["VTraceReturns", "from_importance_weights"]


class VTraceReturns(NamedTuple):
    """V-trace targets ``vs`` and policy-gradient advantages, ``[T, B]`` float32 tensors (no gradient)."""

    vs: Any
    pg_advantages: Any


def from_importance_weights(
    behaviour_actions_log_probs: Any,
    target_actions_log_probs: Any,
    discounts: Any,
    rewards: Any,
    values: Any,
    bootstrap_value: Any,
    clip_rho_threshold: float | None = 1.0,
    clip_pg_rho_threshold: float | None = 1.0,
    name: str = "vtrace_from_logits",
) -> VTraceReturns:
    r"""V-trace targets and advantages from log-probabilities, without gradients.

    With :math:`\rho_t = \exp(\log\pi(a_t) - \log\mu(a_t))` and :math:`c_t = \min(1, \rho_t)`:

    .. math::

        \delta_t = \min(\bar\rho, \rho_t)\,(r_t + \gamma_t V_{t+1} - V_t), \qquad
        v_t = V_t + \delta_t + \gamma_t c_t (v_{t+1} - V_{t+1}),

        A^{pg}_t = \min(\bar\rho_{pg}, \rho_t)\,(r_t + \gamma_t v_{t+1} - V_t), \qquad
        V_T = v_T = \text{bootstrap\_value}.

    Args:
        behaviour_actions_log_probs: ``[T, B]`` log mu(a_t | x_t) of the acting policy.
        target_actions_log_probs: ``[T, B]`` log pi(a_t | x_t) of the learned policy.
        discounts: ``[T, B]`` discount of each step (``gamma * (1 - done)``).
        rewards: ``[T, B]``.
        values: ``[T, B]`` value estimates of the learned policy.
        bootstrap_value: ``[B]`` value after the last step.
        clip_rho_threshold: rho-bar of the value targets (``None``: no clipping).
        clip_pg_rho_threshold: clipping of rho in the policy-gradient advantage (``None``: none).
        name: unused (PARL's name scope).

    Returns:
        :class:`VTraceReturns` ``(vs, pg_advantages)``, float32 tensors ``[T, B]``.

    Raises:
        ValueError: if the ranks do not match (``bootstrap_value`` one less than the others).
    """
    with paddle.no_grad():
        blogp, tlogp, disc, rew, val, boot = (
            to_tensor(x, "float32")
            for x in (behaviour_actions_log_probs, target_actions_log_probs, discounts, rewards, values,
                      bootstrap_value)
        )
        rank = len(blogp.shape)
        for label, x, want in (("target_actions_log_probs", tlogp, rank), ("discounts", disc, rank),
                               ("rewards", rew, rank), ("values", val, rank), ("bootstrap_value", boot, rank - 1)):
            if len(x.shape) != want:
                raise ValueError(f"from_importance_weights: {label} must have rank {want} (like "
                                 f"behaviour_actions_log_probs {list(blogp.shape)}), got shape {list(x.shape)}")
        rhos = paddle.exp(tlogp - blogp)
        clipped_rhos = rhos if clip_rho_threshold is None else paddle.clip(rhos, max=clip_rho_threshold)
        cs = paddle.clip(rhos, max=1.0)
        values_t_plus_1 = paddle.concat([val[1:], boot.unsqueeze(0)], axis=0)
        deltas = clipped_rhos * (rew + disc * values_t_plus_1 - val)

        acc = paddle.zeros_like(boot)
        result = []
        for t in range(disc.shape[0] - 1, -1, -1):
            acc = deltas[t] + disc[t] * cs[t] * acc
            result.append(acc)
        vs = paddle.stack(result[::-1]) + val

        vs_t_plus_1 = paddle.concat([vs[1:], boot.unsqueeze(0)], axis=0)
        clipped_pg_rhos = rhos if clip_pg_rho_threshold is None else paddle.clip(rhos, max=clip_pg_rho_threshold)
        pg_advantages = clipped_pg_rhos * (rew + disc * vs_t_plus_1 - val)
    return VTraceReturns(vs=vs, pg_advantages=pg_advantages)
