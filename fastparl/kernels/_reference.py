"""Plain Python reference loops for every kernel (float64 maths, one step at a time).

Slow on purpose: written to be read and checked against the papers, used by
``tests/unit/kernels/test_kernels.py`` for equivalence tests and by ``perf/kernels/`` as the
pure-Python baseline.  Inputs follow the kernels' conventions (time-major ``(T, N)`` or ``(T,)``).
"""

from __future__ import annotations

import math
import random
from typing import Any

import numpy as np

__all__ = ["ref_discounted_returns", "ref_gae", "ref_nstep_targets", "ref_vtrace", "RefSumTree"]


def _two_d(x: Any, shape: tuple[int, int]) -> list[list[float]]:
    a = np.asarray(x, dtype=np.float64).reshape(shape)
    return a.tolist()


def _prep(rewards: Any) -> tuple[tuple[int, ...], int, int]:
    shape = np.shape(rewards)
    T = shape[0]
    N = shape[1] if len(shape) == 2 else 1
    return shape, T, N


def _per_env(x: Any, N: int, default: float = 0.0) -> list[float]:
    if x is None:
        return [default] * N
    a = np.asarray(x, dtype=np.float64)
    return [float(a.reshape(()))] * N if a.size == 1 else a.reshape(N).tolist()


def _flags(x: Any, shape: tuple[int, int]) -> list[list[bool]]:
    if x is None:
        return [[False] * shape[1] for _ in range(shape[0])]
    return (np.asarray(x).reshape(shape) != 0).tolist()


def ref_discounted_returns(rewards: Any, terminated: Any, gamma: float, truncated: Any = None,
                           bootstrap_values: Any = None, last_values: Any = None) -> np.ndarray:
    """Reference for :func:`fastparl.kernels.discounted_returns` (float64 result)."""
    shape, T, N = _prep(rewards)
    r = _two_d(rewards, (T, N))
    d = _flags(terminated, (T, N))
    u = _flags(truncated, (T, N))
    b = _two_d(bootstrap_values if bootstrap_values is not None else np.zeros((T, N)), (T, N))
    out = [[0.0] * N for _ in range(T)]
    for n in range(N):
        g = _per_env(last_values, N)[n]
        for t in reversed(range(T)):
            if d[t][n]:
                g = r[t][n]
            elif u[t][n]:
                g = r[t][n] + gamma * b[t][n]
            else:
                g = r[t][n] + gamma * g
            out[t][n] = g
    return np.array(out).reshape(shape)


def ref_gae(rewards: Any, values: Any, terminated: Any, last_values: Any, gamma: float, lam: float,
            truncated: Any = None, bootstrap_values: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Reference for :func:`fastparl.kernels.gae`: ``(advantages, returns)`` in float64."""
    shape, T, N = _prep(rewards)
    r, v = _two_d(rewards, (T, N)), _two_d(values, (T, N))
    d, u = _flags(terminated, (T, N)), _flags(truncated, (T, N))
    b = _two_d(bootstrap_values if bootstrap_values is not None else np.zeros((T, N)), (T, N))
    lv = _per_env(last_values, N)
    adv = [[0.0] * N for _ in range(T)]
    for n in range(N):
        a_next = 0.0
        for t in reversed(range(T)):
            next_value = lv[n] if t == T - 1 else v[t + 1][n]
            if u[t][n]:
                next_value = b[t][n]
            not_done = 0.0 if d[t][n] else 1.0
            keep_trace = 0.0 if (d[t][n] or u[t][n]) else 1.0
            delta = r[t][n] + gamma * not_done * next_value - v[t][n]
            a_next = delta + gamma * lam * keep_trace * a_next
            adv[t][n] = a_next
    a = np.array(adv)
    return a.reshape(shape), (a + np.array(v)).reshape(shape)


def ref_nstep_targets(rewards: Any, terminated: Any, next_values: Any, gamma: float, n: int,
                      truncated: Any = None) -> np.ndarray:
    """Reference for :func:`fastparl.kernels.nstep_targets`, written as the explicit sum."""
    shape, T, N = _prep(rewards)
    r, nv = _two_d(rewards, (T, N)), _two_d(next_values, (T, N))
    d, u = _flags(terminated, (T, N)), _flags(truncated, (T, N))
    out = [[0.0] * N for _ in range(T)]
    for e in range(N):
        for t in range(T):
            m = 1  # number of rewards summed
            while not (d[t + m - 1][e] or u[t + m - 1][e] or m == n or t + m == T):
                m += 1
            total = sum(gamma ** k * r[t + k][e] for k in range(m))
            last = t + m - 1
            if not d[last][e]:
                total += gamma ** m * nv[last][e]
            out[t][e] = total
    return np.array(out).reshape(shape)


def ref_vtrace(behaviour_logp: Any, target_logp: Any, rewards: Any, values: Any, terminated: Any,
               last_values: Any, gamma: float, clip_rho: float | None = 1.0, clip_pg_rho: float | None = 1.0,
               clip_c: float | None = 1.0, truncated: Any = None,
               bootstrap_values: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Reference for :func:`fastparl.kernels.vtrace`, following PARL's ``from_importance_weights`` step by step.

    Computes ``discounts``, ``values_t_plus_1``, ``deltas``, the backward ``acc`` recursion and
    ``vs_t_plus_1`` as PARL does, per env, with truncation splitting the sequence into independent
    segments whose bootstrap value is ``bootstrap_values`` at the cut.
    """
    shape, T, N = _prep(rewards)
    bl, tl = _two_d(behaviour_logp, (T, N)), _two_d(target_logp, (T, N))
    r, v = _two_d(rewards, (T, N)), _two_d(values, (T, N))
    d, u = _flags(terminated, (T, N)), _flags(truncated, (T, N))
    b = _two_d(bootstrap_values if bootstrap_values is not None else np.zeros((T, N)), (T, N))
    lv = _per_env(last_values, N)
    inf = math.inf
    cr = inf if clip_rho is None else clip_rho
    cp = inf if clip_pg_rho is None else clip_pg_rho
    cc = inf if clip_c is None else clip_c
    vs = [[0.0] * N for _ in range(T)]
    pg = [[0.0] * N for _ in range(T)]
    for e in range(N):
        # Split at truncations: each segment ends at a truncated step (bootstrap there) or at T - 1.
        start = 0
        while start < T:
            end = start
            while end < T - 1 and not (u[end][e] and not d[end][e]):
                end += 1
            boot = b[end][e] if (u[end][e] and not d[end][e]) else lv[e]
            seg = range(start, end + 1)
            rhos = {t: math.exp(tl[t][e] - bl[t][e]) for t in seg}
            disc = {t: 0.0 if d[t][e] else gamma for t in seg}
            v_tp1 = {t: (v[t + 1][e] if t < end else boot) for t in seg}
            deltas = {t: min(rhos[t], cr) * (r[t][e] + disc[t] * v_tp1[t] - v[t][e]) for t in seg}
            acc = 0.0
            for t in reversed(seg):
                acc = deltas[t] + disc[t] * min(rhos[t], cc) * acc
                vs[t][e] = acc + v[t][e]
            for t in seg:
                vs_tp1 = vs[t + 1][e] if t < end else boot
                pg[t][e] = min(rhos[t], cp) * (r[t][e] + disc[t] * vs_tp1 - v[t][e])
            start = end + 1
    return np.array(vs).reshape(shape), np.array(pg).reshape(shape)


class RefSumTree:
    """Reference prioritized sampler: a Python list and a linear prefix-sum scan (O(capacity) per draw)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.p = [0.0] * capacity

    def update(self, indices: Any, priorities: Any) -> None:
        for i, p in zip(np.atleast_1d(indices).tolist(), np.broadcast_to(priorities, np.shape(indices)).tolist()):
            self.p[i] = float(p)

    @property
    def total(self) -> float:
        return math.fsum(self.p)

    def find(self, u: float) -> int:
        acc = 0.0
        last_positive = 0
        for i, p in enumerate(self.p):
            if p > 0.0:
                last_positive = i
            acc += p
            if u < acc and p > 0.0:
                return i
        return last_positive

    def sample(self, batch_size: int, rng: random.Random) -> list[int]:
        seg = self.total / batch_size
        return [self.find((k + rng.random()) * seg) for k in range(batch_size)]
