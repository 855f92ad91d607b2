"""PARL's ``parl.utils.rl_utils``: discounted sums and GAE over one trajectory, on fastparl's Numba kernels."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from fastparl.kernels import discounted_returns, gae

__all__ = ["calc_discount_sum_rewards", "calc_gae"]


def calc_discount_sum_rewards(rewards: npt.ArrayLike, gamma: float) -> npt.NDArray[np.float64]:
    r"""Discounted forward sums :math:`G_t = r_t + \gamma G_{t+1}` (:math:`G_T = 0`) of one sequence.

    Args:
        rewards: rewards of :math:`(s_t, ..., s_T)`, a list, tuple or 1-D array.
        gamma: discount in [0, 1].

    Returns:
        float64 array of the same length (PARL's scipy ``lfilter`` also returns float64).
    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    if r.size == 0:
        return r
    return discounted_returns(r, np.zeros(r.shape, dtype=np.bool_), gamma)


def calc_gae(rewards: npt.ArrayLike, values: npt.ArrayLike, next_value: Any, gamma: float,
             lam: float) -> npt.NDArray[np.float64]:
    """Generalized advantage estimates (Schulman et al. 2016, arXiv:1506.02438) of one trajectory.

    ``delta_t = r_t + gamma V(s_{t+1}) - V(s_t)`` with ``V(s_{T+1}) = next_value``, and
    ``A_t = delta_t + gamma lam A_{t+1}``; the trajectory is not cut by episode ends (as in PARL).

    Args:
        rewards: rewards of :math:`(s_t, ..., s_T)`.
        values: values of :math:`(s_t, ..., s_T)`.
        next_value: value of :math:`s_{T+1}` (0 if :math:`s_T` was terminal).
        gamma: discount in [0, 1].
        lam: GAE lambda in [0, 1].

    Returns:
        float64 advantages of the same length.

    Raises:
        ValueError: if ``rewards`` and ``values`` differ in length, or gamma/lam are outside [0, 1].
    """
    r = np.asarray(rewards, dtype=np.float64).reshape(-1)
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if r.shape != v.shape:
        raise ValueError(f"calc_gae: rewards has {r.size} entries but values has {v.size}; pass one value per step")
    if r.size == 0:
        return r
    advantages, _ = gae(r, v, np.zeros(r.shape, dtype=np.bool_), np.float64(np.asarray(next_value).item()),
                        gamma, lam)
    return advantages
