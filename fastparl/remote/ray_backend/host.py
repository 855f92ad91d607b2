"""The actor side of the Ray backend: one Ray actor class that hosts fastparl's Dispatcher.

Kept free of driver-side imports: it runs in Ray's worker processes.
"""

from __future__ import annotations

import os
import sys
from typing import Any

from fastparl.remote.dispatcher import Dispatcher

__all__ = ["Host"]


class Host:
    """Runs one fastparl actor inside a Ray actor: every request goes through :meth:`handle`.

    Args:
        cls_name: the user's class name, shown by Ray in output prefixes (``(Plain pid=123)``).
        path: the driver's ``sys.path`` when the actor runs on the driver's machine, so that its
            modules import here as they do there (``None`` on other hosts: keep ours).
        cwd: the driver's working directory, under the same condition.
        hide_gpus: the actor asked for no GPU: hide them all, as the other backends do (Ray leaves them
            visible to actors without GPUs).
    """

    def __init__(self, cls_name: str, path: list[str] | None, cwd: str | None, hide_gpus: bool):
        self._name = cls_name
        if hide_gpus:
            os.environ["CUDA_VISIBLE_DEVICES"] = ""
        if path is not None:
            sys.path[:] = list(path) + [p for p in sys.path if p not in path]
        if cwd is not None:
            try:
                os.chdir(cwd)
            except OSError:
                pass
        # Remote classes used inside this actor become Ray actors of the same cluster (connect() reads this).
        os.environ["FASTPARL_BACKEND"] = "ray"
        self._dispatcher = Dispatcher(setup_process=False)

    def start(self, op: int, payload: Any) -> tuple[int, Any, int]:
        """The INIT request; also returns this process's pid."""
        rop, result = self._dispatcher.handle(op, payload)
        return rop, result, os.getpid()

    def handle(self, op: int, payload: Any) -> tuple[int, Any]:
        """One CALL / GETATTR / SETATTR request -> (reply op, reply payload)."""
        return self._dispatcher.handle(op, payload)

    def __repr__(self) -> str:  # Ray prefixes the actor's output with this
        return self._name
