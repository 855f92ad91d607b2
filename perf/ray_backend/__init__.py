"""The Ray backend report (``python -m perf.ray_backend``): fastparl's proxies on Ray actors against plain Ray
actors (:mod:`perf.ray_backend.report`).
"""

from perf.ray_backend.report import main

__all__ = ["main"]
