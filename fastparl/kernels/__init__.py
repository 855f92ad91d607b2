"""Numba kernels for RL targets and prioritized replay (numpy and numba only; never imports paddle).

All kernels take time-major arrays, ``(T, N)`` for T steps of N envs, or ``(T,)`` for one env, and
return arrays of the same shape; float32 by default, float64 when given float64.  Episode ends are
``terminated`` (terminal state: no bootstrap) and ``truncated`` (time limit: bootstrap from the value of
the true next observation, passed as ``bootstrap_values``).  Each kernel has a plain-Python twin in
:mod:`fastparl.kernels._reference` that the tests compare against.
"""

from __future__ import annotations

from fastparl.kernels.gae import gae
from fastparl.kernels.nstep import nstep_targets
from fastparl.kernels.returns import discounted_returns
from fastparl.kernels.sumtree import SumTree
from fastparl.kernels.vtrace import vtrace

__all__ = ["SumTree", "discounted_returns", "gae", "nstep_targets", "vtrace"]
