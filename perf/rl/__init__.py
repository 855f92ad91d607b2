"""The RL sampling report (``python -m perf.rl``): fastparl against PARL 2.2.1 and Ray at the same N.

- :mod:`perf.rl.report`: runs each system's turn in its own interpreter, aggregates, renders (``main``);
- ``perf/rl/runner.py``: one system's turn, run as a script (``perf/rl/`` is its ``sys.path[0]``);
- ``perf/rl/workload.py``: the sampling work every system runs, imported by the runner and the actors as the
  top-level module ``workload`` (PARL's and Ray's interpreters cannot import fastparl or this package).
"""

from perf.rl.report import main

__all__ = ["main"]
