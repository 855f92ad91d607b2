"""The cluster report (``python -m perf.cluster``): the ZeroMQ backend on loopback workers against raw pyzmq.

- :mod:`perf.cluster.report`: sections, targets, rendering, options (``main``);
- :mod:`perf.cluster.raw`: the raw pyzmq baseline (ROUTER in the driver, DEALER peers in forked processes);
- :mod:`perf.cluster.scaling`: pipelined calls over N actors, the scaling and arrays tables and plots.
"""

from perf.cluster.report import main

__all__ = ["main"]
