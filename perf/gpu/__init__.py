"""The GPU placement check (``python -m perf.gpu``): actors asking ``n_gpu`` get exactly their devices
(:mod:`perf.gpu.report`).
"""

from perf.gpu.report import main

__all__ = ["main"]
