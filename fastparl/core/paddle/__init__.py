"""PARL's ``parl.core.paddle``: the paddle ``Model``, ``Algorithm`` and ``Agent`` (and ``policy_distribution``).

fastparl has one backend, so these are the classes of :mod:`fastparl.core`; the module path exists
for PARL code that imports them from here (``from parl.core.paddle import Model``,
``from parl.core.paddle.policy_distribution import CategoricalDistribution``).
"""

from __future__ import annotations

from fastparl.core.agent import Agent
from fastparl.core.algorithm import Algorithm
from fastparl.core.model import Model
from fastparl.core.paddle import policy_distribution

__all__ = ["Agent", "Algorithm", "Model", "policy_distribution"]
