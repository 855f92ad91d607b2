"""PARL's ``parl.utils.window_stat.WindowStat``: mean/min/max of the last N values."""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["WindowStat"]


class WindowStat:
    """Statistics over a sliding window of the last ``window_size`` values added.

    Args:
        window_size: how many recent values to keep (>= 1).

    Raises:
        ValueError: if ``window_size < 1``.
    """

    def __init__(self, window_size: int) -> None:
        if window_size < 1:
            raise ValueError(f"WindowStat needs window_size >= 1, got {window_size}")
        self.items: list[Any] = [None] * window_size
        self.idx = 0
        self.count = 0

    def add(self, obj: Any) -> None:
        """Add a value (the oldest falls out of a full window)."""
        self.items[self.idx] = obj
        self.idx = (self.idx + 1) % len(self.items)
        self.count += 1

    def _values(self) -> list[Any]:
        return self.items[:self.count]

    @property
    def mean(self) -> Any:
        """Mean of the window, or None if nothing was added."""
        return np.mean(self._values()) if self.count > 0 else None

    @property
    def min(self) -> Any:
        """Minimum of the window, or None if nothing was added."""
        return np.min(self._values()) if self.count > 0 else None

    @property
    def max(self) -> Any:
        """Maximum of the window, or None if nothing was added."""
        return np.max(self._values()) if self.count > 0 else None
