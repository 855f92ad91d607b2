"""Bounds on what peers can make a daemon write to its log."""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["Throttle"]


class Throttle:
    """Logs at most one line per kind every ``interval`` s; the next line says how many were held back.

    Malformed input from the network must not be able to fill a disk: a stranger (or a buggy client)
    sending a thousand bad messages a second costs one log line per kind per ``interval``.
    """

    def __init__(self, logger: logging.Logger, interval: float = 10.0):
        self.logger = logger
        self.interval = interval
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def _allow(self, kind: str) -> int | None:
        """None if the line must be held back, else how many were held back since the last one."""
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(kind, -1e9) < self.interval:
                self._held[kind] = self._held.get(kind, 0) + 1
                return None
            self._last[kind] = now
            return self._held.pop(kind, 0)

    def warn(self, kind: str, fmt: str, *args: Any, exc_info: bool = False) -> None:
        held = self._allow(kind)
        if held is None:
            return
        if held:
            fmt += " [%d similar line(s) held back in the last %.0f s]"
            args = (*args, held, self.interval)
        self.logger.warning(fmt, *args, exc_info=exc_info)
