"""The learners report (``python -m perf.learners``): PPO gradient steps in the driver, in one learner actor and
in k data-parallel learners (:mod:`perf.learners.report`).
"""

from perf.learners.report import main

__all__ = ["main"]
