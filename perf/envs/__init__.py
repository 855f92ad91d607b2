"""The vector-env report (``python -m perf.envs``): fastparl's vector envs against gymnasium's (:mod:`perf.envs.report`).
"""

from perf.envs.report import main

__all__ = ["main"]
