"""n-step TD targets over time-major trajectory segments, as a numba kernel."""

from __future__ import annotations

import numbers
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fastparl.kernels import _validate as v

__all__ = ["nstep_targets"]


@numba.njit(cache=True, nogil=True)
def _nstep_kernel(rewards: np.ndarray, terminated: np.ndarray, next_values: np.ndarray, gamma: float, nsteps: int,
                  has_trunc: bool, truncated: np.ndarray, out: np.ndarray) -> None:  # pragma: no cover - compiled
    T, N = rewards.shape
    for t in range(T):
        for n in range(N):
            g = rewards.dtype.type(0.0)
            disc = rewards.dtype.type(1.0)
            j = t
            while True:
                g += disc * rewards[j, n]
                if terminated[j, n]:
                    break
                disc *= gamma
                if j == T - 1 or j == t + nsteps - 1 or (has_trunc and truncated[j, n]):
                    g += disc * next_values[j, n]
                    break
                j += 1
            out[t, n] = g


def nstep_targets(rewards: npt.ArrayLike, terminated: npt.ArrayLike, next_values: npt.ArrayLike, gamma: float,
                  n: int, truncated: npt.ArrayLike | None = None) -> npt.NDArray[Any]:
    r"""n-step TD targets for every step of a ``(T, N)`` segment.

    ``next_values[t]`` is the value of :math:`s_{t+1}`, the observation the env returned after
    step t (e.g. :math:`\max_a Q_{target}(s_{t+1}, a)` for DQN).  At a truncated step it must be the
    value of the true final observation, not of the reset observation; at a terminated step it is
    ignored.  For each t, let :math:`m \le n` be the number of steps until (and including) the first of:
    a terminated or truncated step, the n-th step, or the last step of the segment.  Then

    .. math::

        y_t = \sum_{k=0}^{m-1} \gamma^k r_{t+k} + \gamma^m (1 - d_{t+m-1})\,\text{next\_values}_{t+m-1}

    with :math:`d` = terminated.  The last ``n - 1`` steps of a segment therefore use the steps that
    remain and bootstrap from ``next_values`` there.  ``n = 1`` gives the one-step target
    :math:`r_t + \gamma (1 - d_t) V(s_{t+1})`.  Cost: O(T N n).

    Args:
        rewards: ``(T, N)`` or ``(T,)`` rewards, float32 (float64 accepted).
        terminated: terminal flag after step t, bool (or 0/1), same shape.
        next_values: value of :math:`s_{t+1}` for each t, same shape.
        gamma: discount in [0, 1].
        n: number of steps, an int >= 1.
        truncated: optional time-limit flag after step t, same shape; stops the sum there and
            bootstraps from ``next_values[t]``.

    Returns:
        Targets with the shape of ``rewards``; float32, or float64 when a float64 array is given.

    Raises:
        ValueError: on mismatched shapes, gamma outside [0, 1] or n < 1.
        TypeError: on non-numeric input or a non-integer n.
    """
    if isinstance(n, bool) or not isinstance(n, numbers.Integral):
        raise TypeError(f"n must be an int >= 1 (number of steps), got {n!r} of type {type(n).__name__}")
    if n < 1:
        raise ValueError(f"n must be >= 1 (number of steps), got {n}")
    shape, r_arr = v.leading_shape("rewards", rewards)
    dtype = v.float_dtype(r_arr, next_values)
    g = v.check_discount("gamma", gamma)
    r2 = v.as_float("rewards", r_arr, shape, dtype)
    d2 = v.as_flags("terminated", terminated, shape)
    nv = v.as_float("next_values", next_values, shape, dtype)
    if truncated is None:
        has_trunc, u2 = False, v.NO_FLAGS
    else:
        has_trunc, u2 = True, v.as_flags("truncated", truncated, shape)
    out = np.empty(r2.shape, dtype=dtype)
    _nstep_kernel(r2, d2, nv, dtype.type(g), int(n), has_trunc, u2, out)
    return v.restore_shape(out, shape)
