"""Generalized Advantage Estimation (Schulman et al. 2016, arXiv:1506.02438) as a numba kernel."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fastparl.kernels import _validate as v

__all__ = ["gae"]


@numba.njit(cache=True, nogil=True)
def _gae_kernel(rewards: np.ndarray, values: np.ndarray, terminated: np.ndarray, last_values: np.ndarray,
                gamma: float, lam: float, has_trunc: bool, truncated: np.ndarray, bootstrap: np.ndarray,
                adv: np.ndarray, ret: np.ndarray) -> None:  # pragma: no cover - compiled
    T, N = rewards.shape
    gl = gamma * lam
    zero = rewards.dtype.type(0.0)
    if N == 1:  # scalar loop: keeps the one loop-carried dependency (the trace) in a register
        a = zero
        nv = last_values[0]
        for t in range(T - 1, -1, -1):
            r = rewards[t, 0]
            val = values[t, 0]
            if terminated[t, 0]:
                a = r - val
            elif has_trunc and truncated[t, 0]:
                a = r + gamma * bootstrap[t, 0] - val
            else:
                a = r + gamma * nv - val + gl * a
            adv[t, 0] = a
            ret[t, 0] = a + val
            nv = val
        return
    carry = np.zeros(N, dtype=rewards.dtype)
    for t in range(T - 1, -1, -1):
        nxt = last_values if t == T - 1 else values[t + 1]
        r_t = rewards[t]
        v_t = values[t]
        d_t = terminated[t]
        if has_trunc:
            tr_t = truncated[t]
            b_t = bootstrap[t]
            for n in range(N):
                live = zero if d_t[n] else rewards.dtype.type(1.0)
                cut = d_t[n] or tr_t[n]
                nv = b_t[n] if tr_t[n] else nxt[n]
                a = r_t[n] + gamma * live * nv - v_t[n] + (zero if cut else gl * carry[n])
                carry[n] = a
                adv[t, n] = a
                ret[t, n] = a + v_t[n]
        else:
            for n in range(N):
                live = zero if d_t[n] else rewards.dtype.type(1.0)
                a = r_t[n] - v_t[n] + live * (gamma * nxt[n] + gl * carry[n])
                carry[n] = a
                adv[t, n] = a
                ret[t, n] = a + v_t[n]


def gae(rewards: npt.ArrayLike, values: npt.ArrayLike, terminated: npt.ArrayLike, last_values: npt.ArrayLike,
        gamma: float, lam: float, truncated: npt.ArrayLike | None = None,
        bootstrap_values: npt.ArrayLike | None = None) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    r"""Generalized advantage estimates and value targets for a time-major rollout.

    With :math:`d_t` = terminated, :math:`u_t` = truncated and :math:`V'_t` the value of the observation
    that follows step t (``values[t+1]``; ``last_values`` after the last step; ``bootstrap_values[t]``
    at a truncated step, i.e. the value of the true final observation rather than the reset one):

    .. math::

        \delta_t = r_t + \gamma (1 - d_t) V'_t - V(s_t), \qquad
        A_t = \delta_t + \gamma \lambda (1 - d_t)(1 - u_t) A_{t+1}, \qquad
        R_t = A_t + V(s_t)

    with :math:`A_T = 0`.  A terminated step never bootstraps (terminated wins when both flags are
    set); a truncated step bootstraps from ``bootstrap_values[t]`` and restarts the lambda trace.

    Args:
        rewards: ``(T, N)`` or ``(T,)`` rewards, float32 (float64 accepted).
        values: ``V(s_t)``, same shape as ``rewards``.
        terminated: episode ended in a terminal state after step t; bool (or 0/1), same shape.
        last_values: ``(N,)`` value of the observation after the last step (a scalar for 1-D input).
        gamma: discount in [0, 1].
        lam: GAE lambda in [0, 1].
        truncated: optional episode cut by a time limit after step t (not terminal), same shape.
        bootstrap_values: ``V(true next observation)`` at truncated steps, same shape; other entries
            are ignored.  Required when ``truncated`` has any True entry.

    Returns:
        ``(advantages, returns)``, each with the shape of ``rewards``; float32, or float64 when any of
        ``rewards``, ``values``, ``last_values`` is float64.

    Raises:
        ValueError: on mismatched shapes or gamma/lam outside [0, 1].
        TypeError: on non-numeric input.
    """
    shape, r_arr = v.leading_shape("rewards", rewards)
    dtype = v.float_dtype(r_arr, values, last_values)
    g = v.check_discount("gamma", gamma)
    lm = v.check_discount("lam", lam)
    r2 = v.as_float("rewards", r_arr, shape, dtype)
    v2 = v.as_float("values", values, shape, dtype)
    d2 = v.as_flags("terminated", terminated, shape)
    lv = v.per_env("last_values", last_values, shape, dtype)
    has_trunc, u2, b2 = v.optional_truncation(shape, dtype, truncated, bootstrap_values)
    adv = np.empty(r2.shape, dtype=dtype)
    ret = np.empty(r2.shape, dtype=dtype)
    _gae_kernel(r2, v2, d2, lv, dtype.type(g), dtype.type(lm), has_trunc, u2, b2, adv, ret)
    return v.restore_shape(adv, shape), v.restore_shape(ret, shape)
