"""Discounted returns (rewards-to-go) over time-major rollouts, as a numba kernel."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fastparl.kernels import _validate as v

__all__ = ["discounted_returns"]


@numba.njit(cache=True, nogil=True)
def _returns_kernel(rewards: np.ndarray, terminated: np.ndarray, gamma: float, has_trunc: bool,
                    truncated: np.ndarray, bootstrap: np.ndarray, last_values: np.ndarray,
                    out: np.ndarray) -> None:  # pragma: no cover - compiled
    T, N = rewards.shape
    zero = rewards.dtype.type(0.0)
    if N == 1:
        g = last_values[0]
        for t in range(T - 1, -1, -1):
            if terminated[t, 0]:
                g = rewards[t, 0]
            elif has_trunc and truncated[t, 0]:
                g = rewards[t, 0] + gamma * bootstrap[t, 0]
            else:
                g = rewards[t, 0] + gamma * g
            out[t, 0] = g
        return
    acc = last_values.copy()
    for t in range(T - 1, -1, -1):
        r_t = rewards[t]
        d_t = terminated[t]
        if has_trunc:
            tr_t = truncated[t]
            b_t = bootstrap[t]
            for n in range(N):
                nxt = b_t[n] if tr_t[n] else acc[n]
                g = r_t[n] + (zero if d_t[n] else gamma * nxt)
                acc[n] = g
                out[t, n] = g
        else:
            for n in range(N):
                g = r_t[n] + (zero if d_t[n] else gamma * acc[n])
                acc[n] = g
                out[t, n] = g


def discounted_returns(rewards: npt.ArrayLike, terminated: npt.ArrayLike, gamma: float,
                       truncated: npt.ArrayLike | None = None, bootstrap_values: npt.ArrayLike | None = None,
                       last_values: npt.ArrayLike | None = None) -> npt.NDArray[Any]:
    r"""Discounted returns :math:`G_t` for every step of a time-major rollout.

    .. math::

        G_t = r_t + \gamma (1 - d_t) G_{t+1}, \qquad G_T = \text{last\_values}

    where :math:`d_t` = terminated.  At a truncated step (time limit, not terminal) the recursion
    restarts from the value of the true next observation:
    :math:`G_t = r_t + \gamma\,\text{bootstrap\_values}_t`.  Terminated wins when both flags are set.
    For one complete episode (PolicyGradient) call ``discounted_returns(rewards, terminated, gamma)``
    with 1-D arrays; ``terminated`` may then be all False except the last step, or all False.

    Args:
        rewards: ``(T, N)`` or ``(T,)`` rewards, float32 (float64 accepted).
        terminated: terminal flag after step t, bool (or 0/1), same shape.
        gamma: discount in [0, 1].
        truncated: optional time-limit flag after step t, same shape.
        bootstrap_values: ``V(true next observation)`` at truncated steps, same shape (other entries
            ignored).  Required when ``truncated`` has any True entry.
        last_values: ``(N,)`` value of the observation after the last step; default 0 (a scalar or
            shape ``(1,)`` for 1-D input).

    Returns:
        Returns with the shape of ``rewards``; float32, or float64 when ``rewards`` is float64.

    Raises:
        ValueError: on mismatched shapes, gamma outside [0, 1], or truncation without bootstrap values.
        TypeError: on non-numeric input.
    """
    shape, r_arr = v.leading_shape("rewards", rewards)
    dtype = v.float_dtype(r_arr, bootstrap_values, last_values)
    g = v.check_discount("gamma", gamma)
    r2 = v.as_float("rewards", r_arr, shape, dtype)
    d2 = v.as_flags("terminated", terminated, shape)
    lv = v.per_env("last_values", last_values, shape, dtype, default=0.0)
    has_trunc, u2, b2 = v.optional_truncation(shape, dtype, truncated, bootstrap_values)
    out = np.empty(r2.shape, dtype=dtype)
    _returns_kernel(r2, d2, dtype.type(g), has_trunc, u2, b2, lv, out)
    return v.restore_shape(out, shape)
