"""Ready-made algorithms, as ``parl.algorithms``.

Each algorithm lives in its own module and is imported (with paddle) on first access, so
``import fastparl.algorithms`` stays cheap.  To add one, add a line to ``_ALGORITHMS``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# Public name -> module defining it.  One line per algorithm.
_ALGORITHMS: dict[str, str] = {
    "PolicyGradient": "fastparl.algorithms.policy_gradient",
    "DQN": "fastparl.algorithms.dqn",
    "DDQN": "fastparl.algorithms.ddqn",
}

__all__ = sorted(_ALGORITHMS)

if TYPE_CHECKING:  # pragma: no cover
    from fastparl.algorithms.ddqn import DDQN
    from fastparl.algorithms.dqn import DQN
    from fastparl.algorithms.policy_gradient import PolicyGradient


def __getattr__(name: str) -> Any:
    module = _ALGORITHMS.get(name)
    if module is None:
        raise AttributeError(f"module 'fastparl.algorithms' has no attribute {name!r}; available: {__all__}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_ALGORITHMS))
