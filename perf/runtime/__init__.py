"""The runtime report (``python -m perf.runtime``): fastparl's local backend against a raw socketpair,
plain ``multiprocessing``, memcpy (and Ray, PARL).

- :mod:`perf.runtime.report`: sections, targets, rendering, options (``main``);
- :mod:`perf.runtime.config`: repeats and targets;
- :mod:`perf.runtime.calls`: no-op latency, pipelined futures, N threads on one actor;
- :mod:`perf.runtime.data`: arrays against the floor and the mp proxy, the OOB sweep, ``shared_array``, ``put()``;
- :mod:`perf.runtime.procs`: actor start, a fresh interpreter's costs and footprint;
- :mod:`perf.runtime.peers`: Ray and PARL serving the same class.

CPU scaling is :mod:`perf.common.cpu_scaling` (the cluster report runs it too).
"""

from perf.runtime.report import SECTIONS, TARGETS, main, render, targets

__all__ = ["SECTIONS", "TARGETS", "main", "render", "targets"]
