"""The kernels report (``python -m perf.kernels``): fastparl.kernels against pure Python, NumPy/SciPy and memcpy.

- :mod:`perf.kernels.report`: the 1M-step comparison, the sum tree, targets, rendering, options (``main``);
- :mod:`perf.kernels.baselines`: rollout data, the best NumPy/SciPy forms, a Python sum tree, ``KERNELS``;
- :mod:`perf.kernels.scaling`: throughput against payload size and against N threads.
"""

from perf.kernels.report import main

__all__ = ["main"]
