"""The serial backend: actors are plain objects in the driver process (for pdb and for tests).

Requests run through the same :class:`~fastparl.remote.dispatcher.Dispatcher` as in an actor
process, and arguments and results make a pickle round trip, so that argument copying,
unpicklable values and read-only received arrays behave as on the local backend; only the
process is missing.  Calls run at once, so futures are always done.  The handle is
:class:`~.handle.SerialActor`; there is no actor process, so no ``host`` module.
"""

from __future__ import annotations

from typing import Any

from fastparl.remote.backend import Backend, Capabilities
from fastparl.remote.local.backend import ThisMachineBackend
from fastparl.remote.resources import GpuPool, visible_gpus
from fastparl.remote.serial.handle import SerialActor
from fastparl.remote.system import portable

__all__ = ["SerialBackend"]


class SerialBackend(ThisMachineBackend, Backend):
    name = "serial"
    capabilities = Capabilities(processes=False, shared_memory=True, zero_copy=False, interrupt_timeouts=False)

    def __init__(self, target: str = "serial", gpus: list[str] | None = None, **_options: Any):
        super().__init__()
        portable.configure()
        self.gpu_pool = GpuPool(visible_gpus() if gpus is None else gpus)

    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> SerialActor:
        return SerialActor(self, self.gpu_pool, cls, args, kwargs, opts)

    def shutdown(self) -> None:
        self.close_wake_pipe()
