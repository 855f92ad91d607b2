"""The local backend's handle: the driver's side of one actor process, over a
:class:`~fastparl.remote.local.channel.Channel` (request tracking is :class:`~fastparl.remote.tracker.TrackedActor`'s)."""

from __future__ import annotations

import weakref
from abc import abstractmethod
from typing import Any

from fastparl.errors import ActorDiedError, FastparlError
from fastparl.remote.backend import Backend
from fastparl.remote.class_transfer import class_spec
from fastparl.remote.error_messages import describe_exit
from fastparl.remote.local.channel import Channel, socket_pairs
from fastparl.remote.local.monitor import Monitor
from fastparl.remote.protocol import INIT
from fastparl.remote.resources import GpuPool
from fastparl.remote.system.processes import killpg
from fastparl.remote.tracker import TrackedActor

__all__ = ["ActorSpawner", "LocalActor"]


class ActorSpawner(Backend):
    """What a :class:`LocalActor` needs of the backend that made it: a backend that forks actor
    processes through a fork server (:class:`~fastparl.remote.local.backend.LocalBackend`).
    Declared here so that the handle does not import the backend that imports it."""

    monitor: Monitor
    actors: "weakref.WeakSet[LocalActor]"
    gpu_pool: GpuPool
    _closed: bool

    @abstractmethod
    def spawn(self, cls_name: str, overrides: dict[str, str | None], fds: list[int]) -> int:
        """Fork an actor on ``fds`` (its frame socket and descriptor socket); returns its pid."""

    @abstractmethod
    def exit_code(self, pid: int, wait: float = 1.0) -> int | None:
        """The actor's exit code (negative: killed by that signal), or None if still running."""


class LocalActor(TrackedActor):
    """Driver-side handle of one actor process."""

    backend: ActorSpawner

    def __init__(self, backend: ActorSpawner, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]):
        super().__init__(backend, cls.__name__)
        self.backend = backend
        self.gpus = self._acquire_gpus(int(opts.get("n_gpu") or 0))
        try:
            ours, theirs = socket_pairs()
            try:
                self.pid = backend.spawn(self.cls_name, {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)},
                                         [s.fileno() for s in theirs])
            except BaseException:
                for sock in ours:
                    sock.close()
                raise
            finally:
                for sock in theirs:
                    sock.close()
            self.transport = Channel(*ours)
            backend.monitor.add_actor(self, self.pid, f"({self.cls_name} pid={self.pid}) ", opts.get("max_memory"))
            backend.actors.add(self)
            self.request(INIT, (class_spec(cls), args, kwargs), "__init__", args, kwargs)
        except BaseException:
            self.close()
            raise

    def _lost(self, what: str) -> FastparlError:
        code = self.backend.exit_code(self.pid)
        tail = self.backend.monitor.stderr_tail(self.pid, wait=0.5)
        return ActorDiedError(
            f"actor {self.cls_name} (pid {self.pid}) died {describe_exit(code)} during {what}."
            + (f" Last lines of its stderr:\n{tail}" if tail else " It wrote nothing to stderr.")
            + "\nCalls on this actor will fail from now on: create a new one.", code, tail)

    def _terminate(self) -> None:
        if self.pid > 0:
            killpg(self.pid)  # the actor and everything it started

    def _cleanup(self) -> None:
        backend = self.backend
        backend.actors.discard(self)
        if self.pid > 0:
            backend.monitor.forget(self.pid)
        gpus, self.gpus = self.gpus, []
        self._release_gpus(gpus)

    def _acquire_gpus(self, n_gpu: int) -> list[str]:
        """The GPUs this actor gets (a subclass may take them from elsewhere, e.g. a worker's slots)."""
        return self.backend.gpu_pool.acquire(n_gpu, self.cls_name)

    def _release_gpus(self, gpus: list[str]) -> None:
        backend, pid = self.backend, self.pid
        if gpus:  # handed out again only once the process is gone
            backend.gpu_pool.release_when(gpus, lambda: pid <= 0 or backend._closed
                                          or backend.exit_code(pid, wait=0) is not None)

    def __repr__(self) -> str:
        return f"<LocalActor {self.cls_name} pid={self.pid}>"
