"""PARL's ``parl.utils.tensorboard``: the same writer as :mod:`fastparl.utils.summary` (an alias)."""

from __future__ import annotations

from typing import Any

from fastparl.utils import summary
from fastparl.utils.summary import add_histogram, add_scalar, close, flush

__all__ = ["add_histogram", "add_scalar", "close", "flush"]


def __getattr__(name: str) -> Any:
    return getattr(summary, name)  # summary.logdir, computed on each access
