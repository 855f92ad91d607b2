"""Resources handed to actors: GPUs (through ``CUDA_VISIBLE_DEVICES``)."""

from __future__ import annotations

import os
import shutil
import subprocess
import threading

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
    """Hands out whole GPUs exclusively: an actor with ``n_gpu=k`` gets k devices no other actor has."""

    def __init__(self, devices: list[str]):
        self.all = list(devices)
        self.free = list(devices)
        self._lock = threading.Lock()

    def acquire(self, n: int, who: str) -> list[str]:
        if n == 0:
            return []
        with self._lock:
            if n > len(self.free):
                shown = ",".join(self.all) if self.all else "none"
                raise ResourceError(
                    f"{who} asks for n_gpu={n}, but only {len(self.free)} of the {len(self.all)} GPUs visible to "
                    f"this driver are free (visible: {shown}). Release actors that hold GPUs (fastparl.kill), "
                    "ask for fewer, or set CUDA_VISIBLE_DEVICES before fastparl.connect() to list the GPUs to use.")
            taken, self.free = self.free[:n], self.free[n:]
            return taken

    def release(self, devices: list[str]) -> None:
        with self._lock:
            self.free.extend(d for d in devices if d not in self.free)
