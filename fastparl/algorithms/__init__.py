"""Ready-made algorithms, as ``parl.algorithms``.

Each algorithm lives in its own module and is imported (with paddle) on first access, so
``import fastparl.algorithms`` stays cheap.  To add one, add a line to ``_ALGORITHMS``.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

# Public name -> module defining it.  One line per algorithm.
_ALGORITHMS: dict[str, str] = {
    "PolicyGradient": "fastparl.algorithms.policy_gradient",
    "DQN": "fastparl.algorithms.dqn",
    "DDQN": "fastparl.algorithms.ddqn",
    "A2C": "fastparl.algorithms.a2c",
    "PPO": "fastparl.algorithms.ppo",
    "ES": "fastparl.algorithms.es",
    "IMPALA": "fastparl.algorithms.impala.impala",
    "DDPG": "fastparl.algorithms.ddpg",
    "TD3": "fastparl.algorithms.td3",
    "SAC": "fastparl.algorithms.sac",
    "MADDPG": "fastparl.algorithms.maddpg",
    "OAC": "fastparl.algorithms.oac",
    "CQL": "fastparl.algorithms.cql",
    "QMIX": "fastparl.algorithms.qmix",
}

__all__ = sorted(_ALGORITHMS)

if TYPE_CHECKING:  # pragma: no cover
    from fastparl.algorithms.a2c import A2C  # noqa: F401
    from fastparl.algorithms.ddqn import DDQN  # noqa: F401
    from fastparl.algorithms.dqn import DQN  # noqa: F401
    from fastparl.algorithms.policy_gradient import PolicyGradient  # noqa: F401
    from fastparl.algorithms.ppo import PPO  # noqa: F401
    from fastparl.algorithms.es import ES  # noqa: F401
    from fastparl.algorithms.impala import IMPALA  # noqa: F401
    from fastparl.algorithms.ddpg import DDPG  # noqa: F401
    from fastparl.algorithms.td3 import TD3  # noqa: F401
    from fastparl.algorithms.sac import SAC  # noqa: F401
    from fastparl.algorithms.maddpg import MADDPG  # noqa: F401
    from fastparl.algorithms.oac import OAC  # noqa: F401
    from fastparl.algorithms.cql import CQL  # noqa: F401
    from fastparl.algorithms.qmix import QMIX  # noqa: F401


def __getattr__(name: str) -> Any:
    module = _ALGORITHMS.get(name)
    if module is not None:
        value = getattr(importlib.import_module(module), name)
    elif not name.startswith("_") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        value = importlib.import_module(f"{__name__}.{name}")  # a module, e.g. PARL's ``parl.algorithms.impala``
    else:
        raise AttributeError(f"module 'fastparl.algorithms' has no attribute {name!r}; available: {__all__}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ALGORITHMS))
