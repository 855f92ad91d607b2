"""What the kernels report times fastparl.kernels against: rollout data, the best NumPy/SciPy forms, a Python sum tree.

Also :data:`KERNELS`, the four rollout kernels as ``(bytes read + written per step, make(data) -> call)``,
which the comparison, the payload sweep and the thread sweep all time (:mod:`perf.kernels.report`,
:mod:`perf.kernels.scaling`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from fastparl.kernels import discounted_returns, gae, nstep_targets, vtrace

__all__ = ["GAMMA", "LAM", "NSTEP", "P_END", "KERNELS", "make_data", "np_returns_lfilter", "np_returns_timeloop",
           "np_gae_lfilter", "np_gae_timeloop", "np_vtrace_timeloop", "np_nstep", "PySumTree"]

GAMMA, LAM, NSTEP = 0.99, 0.95, 5
P_END = 0.005  # episode ends per step (mean episode length 200)


def make_data(T: int, N: int, seed: int = 0) -> dict[str, np.ndarray]:
    """A float32 rollout of T steps x N envs: rewards, values, episode ends, last values, log-probs."""
    rng = np.random.default_rng(seed)
    f = np.float32
    return {"r": rng.normal(size=(T, N)).astype(f), "v": rng.normal(size=(T, N)).astype(f),
            "d": rng.random((T, N)) < P_END, "lv": rng.normal(size=N).astype(f),
            "bl": rng.normal(-1, 0.5, (T, N)).astype(f), "tl": rng.normal(-1, 0.5, (T, N)).astype(f)}


# name -> (bytes read + written per step, make(data) -> one call of the fastparl kernel).  Bytes: float32
# inputs and outputs (4 B each) plus the bool episode ends (1 B).
KERNELS: dict[str, tuple[int, Callable[[dict[str, np.ndarray]], Callable[[], Any]]]] = {
    "discounted_returns": (9, lambda x: lambda: discounted_returns(x["r"], x["d"], GAMMA)),
    "gae": (17, lambda x: lambda: gae(x["r"], x["v"], x["d"], x["lv"], GAMMA, LAM)),
    "vtrace": (25, lambda x: lambda: vtrace(x["bl"], x["tl"], x["r"], x["v"], x["d"], x["lv"], GAMMA)),
    "nstep_targets": (13, lambda x: lambda: nstep_targets(x["r"], x["d"], x["v"], GAMMA, NSTEP)),
}


# ---------------------------------------------------------------- best NumPy / SciPy forms

def _segments(flags: np.ndarray) -> list[tuple[int, int]]:
    ends = np.flatnonzero(flags) + 1
    bounds = np.concatenate([[0], ends[ends < len(flags)], [len(flags)]])
    return list(zip(bounds[:-1].tolist(), bounds[1:].tolist()))


def _lfilter_backward(x: np.ndarray, coef: float, flags: np.ndarray, out: np.ndarray) -> None:
    """out = backward discounted sum of x with factor coef, restarted after each flagged step."""
    from scipy.signal import lfilter

    for a, b in _segments(flags):
        out[a:b] = lfilter([1.0], [1.0, -coef], x[a:b][::-1])[::-1]


def np_returns_lfilter(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    out = np.empty_like(r)
    for n in range(r.shape[1]):
        _lfilter_backward(r[:, n], GAMMA, d[:, n], out[:, n])
    return out


def np_returns_timeloop(r: np.ndarray, d: np.ndarray) -> np.ndarray:
    out = np.empty_like(r)
    acc = np.zeros(r.shape[1], r.dtype)
    live = (~d).astype(r.dtype) * r.dtype.type(GAMMA)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = r[t] + live[t] * acc
        out[t] = acc
    return out


def np_gae_lfilter(r: np.ndarray, v: np.ndarray, d: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nxt = np.concatenate([v[1:], lv[None]])
    delta = r + GAMMA * (~d) * nxt - v
    adv = np.empty_like(r)
    for n in range(r.shape[1]):
        _lfilter_backward(delta[:, n], GAMMA * LAM, d[:, n], adv[:, n])
    return adv, adv + v


def np_gae_timeloop(r: np.ndarray, v: np.ndarray, d: np.ndarray, lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    nxt = np.concatenate([v[1:], lv[None]])
    live = (~d).astype(r.dtype)
    delta = r + GAMMA * live * nxt - v
    coef = live * r.dtype.type(GAMMA * LAM)
    adv = np.empty_like(r)
    acc = np.zeros(r.shape[1], r.dtype)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = delta[t] + coef[t] * acc
        adv[t] = acc
    return adv, adv + v


def np_vtrace_timeloop(bl: np.ndarray, tl: np.ndarray, r: np.ndarray, v: np.ndarray, d: np.ndarray,
                       lv: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """PARL's from_importance_weights in NumPy (vectorised over envs, a loop over time)."""
    rhos = np.exp(tl - bl)
    crho = np.minimum(rhos, 1.0)
    disc = GAMMA * (~d).astype(r.dtype)
    nxt = np.concatenate([v[1:], lv[None]])
    deltas = crho * (r + disc * nxt - v)
    dc = disc * crho
    acc = np.zeros(r.shape[1], r.dtype)
    vs_minus_v = np.empty_like(r)
    for t in range(r.shape[0] - 1, -1, -1):
        acc = deltas[t] + dc[t] * acc
        vs_minus_v[t] = acc
    vs = vs_minus_v + v
    vs_next = np.concatenate([vs[1:], lv[None]])
    return vs, crho * (r + disc * vs_next - v)


def np_nstep(r: np.ndarray, d: np.ndarray, nv: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
    """n vectorised passes: add gamma^k r_{t+k} while the window is open, bootstrap where it closes."""
    T = r.shape[0]
    out = np.zeros_like(r)
    disc = np.ones_like(r)
    open_ = np.ones(r.shape, dtype=bool)
    t_idx = np.arange(T)[:, None]
    for k in range(NSTEP):
        sl = slice(k, T)
        rk = np.zeros_like(r)
        rk[: T - k] = r[sl]
        dk = np.zeros_like(d)
        dk[: T - k] = d[sl]
        nk = np.zeros_like(r)
        nk[: T - k] = nv[sl]
        out += np.where(open_, disc * rk, 0.0)
        stop = open_ & (dk | (t_idx + k == T - 1) | (k == NSTEP - 1))
        out += np.where(stop & ~dk, disc * GAMMA * nk, 0.0)
        open_ &= ~stop
        disc *= GAMMA
    return out


# ---------------------------------------------------------------- sum tree baselines

class PySumTree:
    """Pure-Python list-based sum tree (the structure of openai/baselines' SumSegmentTree)."""

    def __init__(self, capacity: int) -> None:
        self.base = 1 << (capacity - 1).bit_length()
        self.t = [0.0] * (2 * self.base)

    def update(self, indices: list[int], priorities: list[float]) -> None:
        t = self.t
        for i, p in zip(indices, priorities):
            i += self.base
            t[i] = p
            i //= 2
            while i:
                t[i] = t[2 * i] + t[2 * i + 1]
                i //= 2

    def sample(self, batch: int, rng: Any) -> list[int]:
        t, seg, out = self.t, self.t[1] / batch, []
        for k in range(batch):
            u, i = (k + rng.random()) * seg, 1
            while i < self.base:
                if u < t[2 * i]:
                    i = 2 * i
                else:
                    u -= t[2 * i]
                    i = 2 * i + 1
            out.append(i - self.base)
        return out
