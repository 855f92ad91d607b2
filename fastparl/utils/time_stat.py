"""PARL's ``parl.utils.time_stat.TimeStat``: time a block of code, with statistics over the last N runs."""

from __future__ import annotations

import time
from typing import Any

from fastparl.utils.window_stat import WindowStat

__all__ = ["TimeStat"]


class TimeStat:
    """A context manager that records how long its block took (seconds; ``time.perf_counter``).

    Example::

        learn_time = TimeStat(100)
        with learn_time:
            agent.learn(batch)
        logger.info(f"learn: {learn_time.mean:.3f} s")

    Args:
        window_size: statistics cover the last ``window_size`` runs.
    """

    def __init__(self, window_size: int = 1) -> None:
        self.time_samples = WindowStat(window_size)
        self._start_time: float | None = None

    def __enter__(self) -> None:
        self._start_time = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        if self._start_time is not None:
            self.time_samples.add(time.perf_counter() - self._start_time)
            self._start_time = None

    @property
    def mean(self) -> Any:
        return self.time_samples.mean

    @property
    def min(self) -> Any:
        return self.time_samples.min

    @property
    def max(self) -> Any:
        return self.time_samples.max
