"""Resources handed to actors: GPUs (through ``CUDA_VISIBLE_DEVICES``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading
import time
from typing import Callable

from fastparl.errors import ResourceError

__all__ = ["GpuPool", "visible_gpus"]


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this driver may hand out: ``CUDA_VISIBLE_DEVICES`` if set, else those ``nvidia-smi`` lists."""
    env = os.environ if environ is None else environ
    listed = env.get("CUDA_VISIBLE_DEVICES")
    if listed is not None:
        return [d.strip() for d in listed.split(",") if d.strip() and d.strip() != "-1"]
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "--query-gpu=index", "--format=csv,noheader"], capture_output=True, text=True,
                             timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


class GpuPool:
    """Hands out whole GPUs exclusively: an actor with ``n_gpu=k`` gets k devices no other actor has.

    A released actor's GPUs come back only once its process has ended (:meth:`release_when`), so
    that a new actor never shares a device with one that is still running on it.
    """

    def __init__(self, devices: list[str], reclaim_wait: float = 10.0):
        self.all = list(devices)
        self.free = list(devices)
        self.returning: list[tuple[list[str], Callable[[], bool]]] = []  # (devices, "is the holder gone?")
        self.reclaim_wait = reclaim_wait
        self._lock = threading.Lock()

    def acquire(self, n: int, who: str) -> list[str]:
        if n == 0:
            return []
        if n > len(self.all):
            shown = ",".join(self.all) if self.all else "none"
            raise ResourceError(
                f"{who} asks for n_gpu={n}, but only {len(self.all)} GPU(s) are visible to this driver ({shown}). "
                "Ask for fewer, or set CUDA_VISIBLE_DEVICES before fastparl.connect() to list the GPUs to use.")
        deadline = time.monotonic() + self.reclaim_wait
        while True:
            with self._lock:
                self._reclaim()
                if n <= len(self.free):
                    taken, self.free = self.free[:n], self.free[n:]
                    return taken
                waiting = bool(self.returning)
                free = len(self.free)
            if not waiting or time.monotonic() >= deadline:
                raise ResourceError(
                    f"{who} asks for n_gpu={n}, but only {free} of the {len(self.all)} GPUs visible to this driver "
                    f"are free (visible: {','.join(self.all)}). Release actors that hold GPUs (fastparl.kill), "
                    "ask for fewer, or set CUDA_VISIBLE_DEVICES before fastparl.connect() to list the GPUs to use.")
            time.sleep(0.01)  # a released actor's process is still ending: its GPUs come back in a moment

    def release(self, devices: list[str]) -> None:
        with self._lock:
            self.free.extend(d for d in devices if d not in self.free)

    def release_when(self, devices: list[str], gone: Callable[[], bool]) -> None:
        """Return ``devices`` once ``gone()`` says their holder's process has ended."""
        with self._lock:
            self.returning.append((list(devices), gone))
            self._reclaim()

    def _reclaim(self) -> None:
        keep = []
        for devices, gone in self.returning:
            try:
                done = gone()
            except Exception:  # noqa: BLE001 - cannot tell: assume gone rather than lose the GPU
                done = True
            if done:
                self.free.extend(d for d in devices if d not in self.free)
            else:
                keep.append((devices, gone))
        self.returning = keep
