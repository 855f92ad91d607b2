"""V-trace off-policy targets (IMPALA, Espeholt et al. 2018, arXiv:1802.01561) as a numba kernel.

Matches ``parl/algorithms/paddle/impala/vtrace.py::from_importance_weights`` and deepmind's
``scalable_agent/vtrace.py`` with ``discounts = gamma * (1 - terminated)`` and
``bootstrap_value = last_values``; ``clip_c`` is the c-bar threshold (fixed at 1.0 there).

Written twice on purpose, on different types: this kernel (numpy in, numpy out, ``terminated`` and
``truncated`` flags, what :class:`fastparl.algorithms.IMPALA` uses) and PARL's
:func:`fastparl.algorithms.impala.vtrace.from_importance_weights` (paddle tensors in and out, any
per-step ``discounts``, for PARL code that calls it).  The tests check that both give the same targets.
"""

from __future__ import annotations

import math
from typing import Any

import numba
import numpy as np
import numpy.typing as npt

from fastparl.kernels import _validate as v

__all__ = ["vtrace"]


@numba.njit(cache=True, nogil=True)
def _vtrace_kernel(blogp: np.ndarray, tlogp: np.ndarray, rewards: np.ndarray, values: np.ndarray,
                   terminated: np.ndarray, last_values: np.ndarray, gamma: float, clip_rho: float,
                   clip_pg_rho: float, clip_c: float, has_trunc: bool, truncated: np.ndarray,
                   bootstrap: np.ndarray, vs: np.ndarray, pg_adv: np.ndarray) -> None:  # pragma: no cover
    T, N = rewards.shape
    zero = rewards.dtype.type(0.0)
    acc = np.zeros(N, dtype=rewards.dtype)  # vs_{t+1} - V(x_{t+1}), zero after the last step
    for t in range(T - 1, -1, -1):
        nxt = last_values if t == T - 1 else values[t + 1]
        for n in range(N):
            rho = math.exp(tlogp[t, n] - blogp[t, n])
            disc = zero if terminated[t, n] else gamma
            cut = terminated[t, n] or (has_trunc and truncated[t, n])
            nv = bootstrap[t, n] if (has_trunc and truncated[t, n]) else nxt[n]
            carry = zero if cut else acc[n]
            val = values[t, n]
            r = rewards[t, n]
            delta = min(rho, clip_rho) * (r + disc * nv - val)
            vs_next = nv + carry  # vs_{t+1} (= nv at a cut, where the trace restarts)
            a = delta + disc * min(rho, clip_c) * carry
            acc[n] = a
            vs[t, n] = val + a
            pg_adv[t, n] = min(rho, clip_pg_rho) * (r + disc * vs_next - val)


def _clip(name: str, value: float | None) -> float:
    if value is None:
        return math.inf
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)):
        raise TypeError(f"{name} must be a positive float or None (no clipping), got {value!r}")
    if not float(value) > 0.0:
        raise ValueError(f"{name} must be > 0 (or None for no clipping), got {value}")
    return float(value)


def vtrace(behaviour_logp: npt.ArrayLike, target_logp: npt.ArrayLike, rewards: npt.ArrayLike,
           values: npt.ArrayLike, terminated: npt.ArrayLike, last_values: npt.ArrayLike, gamma: float,
           clip_rho: float | None = 1.0, clip_pg_rho: float | None = 1.0, clip_c: float | None = 1.0,
           truncated: npt.ArrayLike | None = None,
           bootstrap_values: npt.ArrayLike | None = None) -> tuple[npt.NDArray[Any], npt.NDArray[Any]]:
    r"""V-trace value targets ``vs`` and policy-gradient advantages.

    With :math:`\rho_t = \exp(\log\pi(a_t) - \log\mu(a_t))`, :math:`\gamma_t = \gamma (1 - d_t)`
    (:math:`d_t` = terminated) and :math:`V'_t` = ``values[t+1]`` (``last_values`` after the last step):

    .. math::

        \delta_t = \min(\bar\rho, \rho_t)\,(r_t + \gamma_t V'_t - V(x_t)), \qquad
        v_t - V(x_t) = \delta_t + \gamma_t \min(\bar c, \rho_t)\,(v_{t+1} - V(x_{t+1})),

        A^{pg}_t = \min(\bar\rho_{pg}, \rho_t)\,(r_t + \gamma_t v_{t+1} - V(x_t)), \qquad v_T = \text{last\_values}.

    A truncated step (time limit, not terminal) uses ``bootstrap_values[t]`` as :math:`V'_t` and as
    :math:`v_{t+1}`, and restarts the trace, as the segment end does.  This is an extension: PARL and
    scalable_agent have no truncation input.

    Args:
        behaviour_logp: ``(T, N)`` or ``(T,)`` log mu(a_t | x_t) of the acting policy, float32/float64.
        target_logp: log pi(a_t | x_t) of the learner's policy, same shape.
        rewards: rewards, same shape.
        values: ``V(x_t)`` under the target policy, same shape.
        terminated: terminal flag after step t, bool (or 0/1), same shape.
        last_values: ``(N,)`` value of the observation after the last step (PARL's ``bootstrap_value``).
        gamma: discount in [0, 1].
        clip_rho: rho-bar for ``vs`` (None: no clipping).
        clip_pg_rho: rho-bar for the policy-gradient advantage (None: no clipping).
        clip_c: c-bar for the trace coefficients (None: no clipping).
        truncated: optional time-limit flag after step t, same shape.
        bootstrap_values: ``V(true next observation)`` at truncated steps; required if any is truncated.

    Returns:
        ``(vs, pg_advantages)`` with the shape of ``rewards``; float32 (float64 if any float input is).

    Raises:
        ValueError: on mismatched shapes, gamma outside [0, 1] or non-positive clip thresholds.
        TypeError: on non-numeric input.
    """
    shape, r_arr = v.leading_shape("rewards", rewards)
    dtype = v.float_dtype(behaviour_logp, target_logp, r_arr, values, last_values)
    g = v.check_discount("gamma", gamma)
    c_rho, c_pg, c_c = _clip("clip_rho", clip_rho), _clip("clip_pg_rho", clip_pg_rho), _clip("clip_c", clip_c)
    b2 = v.as_float("behaviour_logp", behaviour_logp, shape, dtype)
    t2 = v.as_float("target_logp", target_logp, shape, dtype)
    r2 = v.as_float("rewards", r_arr, shape, dtype)
    v2 = v.as_float("values", values, shape, dtype)
    d2 = v.as_flags("terminated", terminated, shape)
    lv = v.per_env("last_values", last_values, shape, dtype)
    has_trunc, u2, bs2 = v.optional_truncation(shape, dtype, truncated, bootstrap_values)
    vs = np.empty(r2.shape, dtype=dtype)
    pg = np.empty(r2.shape, dtype=dtype)
    f = dtype.type
    _vtrace_kernel(b2, t2, r2, v2, d2, lv, f(g), f(c_rho), f(c_pg), f(c_c), has_trunc, u2, bs2, vs, pg)
    return v.restore_shape(vs, shape), v.restore_shape(pg, shape)
