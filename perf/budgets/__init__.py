"""The budgets report (``python -m perf.budgets``): env steps/s of the SAC and PPO examples with ``--actors`` and
``--learners``, measured over a window of a real run, and the wall time of the full budgets (1M, 3M steps) they
imply (:mod:`perf.budgets.report`).
"""

from perf.budgets.report import main

__all__ = ["main"]
