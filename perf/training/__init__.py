"""The training-speed report (``python -m perf.training``): fastparl's examples against Stable-Baselines3.

- :mod:`perf.training.report`: each system's run of each algorithm in its own interpreter, aggregation,
  rendering (``main``);
- ``perf/training/runner.py``: one run, as a script (``perf/training/`` is its ``sys.path[0]``), in fastparl's
  interpreter or SB3's;
- ``perf/training/sb3_models.py``: SB3's models with the examples' settings (also used by ``perf.mujoco``);
- ``perf/training/profiling.py``: cProfile of the update step, split into the framework's kernels and Python.
"""

from perf.training.report import main

__all__ = ["main"]
