"""Generalized Advantage Estimation (Schulman et al. 2016, arXiv:1506.02438) as a numba kernel."""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fastparl.kernels import _validate as v

__all__ = ["gae"]

_ROW_CALL_MIN_ENVS = 256  # from this many envs on, vectorise each time step across envs


# The recursion is A_t = x_t + c_t * A_{t+1} with x_t = r_t - V_t + gamma (1 - d_t) V'_t and
# c_t = gamma lam (1 - d_t)(1 - u_t); x and c do not depend on A, so the loops below keep only one
# fused multiply-add on the loop-carried path ("contract" lets LLVM fuse; results differ from the
# reference loop by float rounding only).
_FM = {"contract"}


@numba.njit(inline="always", fastmath=_FM)
def _xc(t: int, r: np.ndarray, v: np.ndarray, d: np.ndarray, nv: float, gamma: float,
        gl: float) -> tuple[float, float]:  # pragma: no cover - compiled
    live = not d[t]
    return r[t] - v[t] + (gamma * nv if live else r.dtype.type(0.0)), (gl if live else r.dtype.type(0.0))


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def _gae_1d(r: np.ndarray, v: np.ndarray, d: np.ndarray, lv: float, gamma: float, lam: float, has_trunc: bool,
            u: np.ndarray, b: np.ndarray, adv: np.ndarray, ret: np.ndarray) -> None:  # pragma: no cover - compiled
    """One env, 1-D arrays.  Without truncation, four steps per iteration: A_{t-3} = X + C A_{t+1}
    leaves one multiply-add per four steps on the carried chain."""
    T = r.shape[0]
    gl = gamma * lam
    a = r.dtype.type(0.0)
    nv = lv
    if has_trunc:  # plain loop; branches are cheap because episode ends are rare
        for t in range(T - 1, -1, -1):
            val = v[t]
            if d[t]:
                a = r[t] - val
            elif u[t]:
                a = r[t] + gamma * b[t] - val
            else:
                a = r[t] + gamma * nv - val + gl * a
            adv[t] = a
            ret[t] = a + val
            nv = val
        return
    t = T - 1
    for _ in range(T % 4):
        x, c = _xc(t, r, v, d, nv, gamma, gl)
        a = x + c * a
        adv[t] = a
        ret[t] = a + v[t]
        nv = v[t]
        t -= 1
    while t >= 3:
        v3 = v[t]
        v2 = v[t - 1]
        v1 = v[t - 2]
        v0 = v[t - 3]
        x3, c3 = _xc(t, r, v, d, nv, gamma, gl)
        x2, c2 = _xc(t - 1, r, v, d, v3, gamma, gl)
        x1, c1 = _xc(t - 2, r, v, d, v2, gamma, gl)
        x0, c0 = _xc(t - 3, r, v, d, v1, gamma, gl)
        x2 = x2 + c2 * x3
        c2 = c2 * c3
        x1 = x1 + c1 * x2
        c1 = c1 * c2
        x0 = x0 + c0 * x1
        c0 = c0 * c1
        a3 = x3 + c3 * a
        a2 = x2 + c2 * a
        a1 = x1 + c1 * a
        a = x0 + c0 * a
        adv[t] = a3
        ret[t] = a3 + v3
        adv[t - 1] = a2
        ret[t - 1] = a2 + v2
        adv[t - 2] = a1
        ret[t - 2] = a1 + v1
        adv[t - 3] = a
        ret[t - 3] = a + v0
        nv = v0
        t -= 4


@numba.njit(cache=True, nogil=True, fastmath=_FM)
def _gae_row(r_t: np.ndarray, v_t: np.ndarray, d_t: np.ndarray, nv: np.ndarray, gamma: float, gl: float,
             has_trunc: bool, u_t: np.ndarray, b_t: np.ndarray, carry: np.ndarray, adv_t: np.ndarray,
             ret_t: np.ndarray) -> None:  # pragma: no cover - compiled
    """One time step for all envs; a separate function so that LLVM vectorises it across envs."""
    zero = r_t.dtype.type(0.0)
    if has_trunc:
        for n in range(r_t.shape[0]):
            cut = u_t[n] and not d_t[n]
            nxt = b_t[n] if cut else nv[n]
            a = r_t[n] - v_t[n] + (zero if d_t[n] else gamma * nxt) + (zero if (d_t[n] or cut) else gl * carry[n])
            carry[n] = a
            adv_t[n] = a
            ret_t[n] = a + v_t[n]
    else:
        for n in range(r_t.shape[0]):
            a = r_t[n] - v_t[n] + (zero if d_t[n] else gamma * nv[n] + gl * carry[n])
            carry[n] = a
            adv_t[n] = a
            ret_t[n] = a + v_t[n]


@numba.njit(cache=True, nogil=True)
def _gae_kernel(rewards: np.ndarray, values: np.ndarray, terminated: np.ndarray, last_values: np.ndarray,
                gamma: float, lam: float, has_trunc: bool, truncated: np.ndarray, bootstrap: np.ndarray,
                adv: np.ndarray, ret: np.ndarray) -> None:  # pragma: no cover - compiled
    T, N = rewards.shape
    carry = np.zeros(N, dtype=rewards.dtype)
    gl = gamma * lam
    if N < _ROW_CALL_MIN_ENVS:  # few envs: a call per row costs more than it saves
        for t in range(T - 1, -1, -1):
            for n in range(N):
                nv = last_values[n] if t == T - 1 else values[t + 1, n]
                val = values[t, n]
                if terminated[t, n]:
                    a = rewards[t, n] - val
                elif has_trunc and truncated[t, n]:
                    a = rewards[t, n] + gamma * bootstrap[t, n] - val
                else:
                    a = rewards[t, n] + gamma * nv - val + gl * carry[n]
                carry[n] = a
                adv[t, n] = a
                ret[t, n] = a + val
        return
    for t in range(T - 1, -1, -1):
        nv = last_values if t == T - 1 else values[t + 1]
        tt = t if has_trunc else 0
        _gae_row(rewards[t], values[t], terminated[t], nv, gamma, gl, has_trunc, truncated[tt], bootstrap[tt],
                 carry, adv[t], ret[t])


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
    f = dtype.type
    if r2.shape[1] == 1:  # one env: the 1-D kernel
        T = r2.shape[0]
        u1, b1 = (u2.reshape(T), b2.reshape(T)) if has_trunc else (u2.reshape(1), b2.reshape(1))
        _gae_1d(r2.reshape(T), v2.reshape(T), d2.reshape(T), f(lv[0]), f(g), f(lm), has_trunc, u1, b1,
                adv.reshape(T), ret.reshape(T))
    else:
        _gae_kernel(r2, v2, d2, lv, f(g), f(lm), has_trunc, u2, b2, adv, ret)
    return v.restore_shape(adv, shape), v.restore_shape(ret, shape)
