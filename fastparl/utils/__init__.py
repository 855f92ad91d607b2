"""Utilities, as ``parl.utils``: ``logger``, ``summary``, ``ReplayMemory``, ``CSVLogger`` ...

This package never imports paddle: ``from fastparl.utils import logger`` is cheap.  Names
that live elsewhere (``ReplayMemory`` in :mod:`fastparl.data`, ``check_model_method`` in
:mod:`fastparl.core`) and heavier modules (``summary``, ``plot``) load on first access.
"""

from __future__ import annotations

import importlib
from typing import Any

from fastparl.utils import logger
from fastparl.utils.progress import CSVLogger, TrainLogger, progress_bar
from fastparl.utils.scheduler import LinearDecayScheduler, PiecewiseScheduler
from fastparl.utils.seeding import set_seed

# name -> (module, attribute or None for the module itself)
_LAZY: dict[str, tuple[str, str | None]] = {
    "summary": ("fastparl.utils.summary", None),
    "plot": ("fastparl.utils.plot", None),
    "plot_curves": ("fastparl.utils.plot", "plot_curves"),
    "ReplayMemory": ("fastparl.data", "ReplayMemory"),
    "PrioritizedReplayMemory": ("fastparl.data", "PrioritizedReplayMemory"),
    "check_model_method": ("fastparl.core.checks", "check_model_method"),
}

__all__ = [
    "CSVLogger",
    "LinearDecayScheduler",
    "PiecewiseScheduler",
    "PrioritizedReplayMemory",
    "ReplayMemory",
    "TrainLogger",
    "check_model_method",
    "logger",
    "plot_curves",
    "progress_bar",
    "set_seed",
    "summary",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'fastparl.utils' has no attribute {name!r}")
    module, attr = _LAZY[name]
    value = importlib.import_module(module)
    if attr is not None:
        value = getattr(value, attr)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
