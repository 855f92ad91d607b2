"""The ZeroMQ backend's handles: an actor on a worker host (:class:`ZmqActor`, over the driver's hub),
and an actor placed on a worker of this machine (:class:`_SlotActor`, a local actor holding that
worker's slot)."""

from __future__ import annotations

import secrets
import time
import weakref
from abc import abstractmethod
from typing import Any

from fastparl.errors import ActorDiedError, ConnectionError, FastparlError, ResourceError
from fastparl.remote.backend import Backend
from fastparl.remote.class_transfer import class_spec
from fastparl.remote.error_messages import describe_exit
from fastparl.remote.local.handle import ActorSpawner, LocalActor
from fastparl.remote.local.monitor import Monitor
from fastparl.remote.protocol import INIT
from fastparl.remote.tracker import TrackedActor
from fastparl.remote.waiting import Flag
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.control import Control, WorkerLink
from fastparl.remote.zmq.hub import Hub
from fastparl.remote.zmq.wire import DataCodec

__all__ = ["ActorPlacer", "ZmqActor", "ZmqTransport"]

START_TIMEOUT = 30.0


class ActorPlacer(Backend):
    """What the handles need of the backend that made them (:class:`~fastparl.remote.zmq.backend.ZmqBackend`):
    its control links to the workers, its hub, and the local backend for same-host actors.  Declared
    here so that the handles do not import the backend that imports them."""

    control: Control
    actors: "weakref.WeakValueDictionary[bytes, ZmqActor]"
    monitor: Monitor
    curve: bool
    _hub: Hub | None
    _closed: bool

    @property
    @abstractmethod
    def hub(self) -> Hub:
        """The driver's hub, bound on first use."""

    @abstractmethod
    def endpoint_for(self, w: WorkerLink) -> str:
        """The hub's address as worker ``w`` reaches it."""

    @abstractmethod
    def local(self) -> ActorSpawner:
        """The local backend that runs the actors placed on this machine's workers."""


class ZmqTransport:
    """One actor's link through the hub (the :class:`~fastparl.remote.transport.Transport` for zmq)."""

    closed = False

    def __init__(self, hub: Hub, identity: bytes, where: str):
        self.hub, self.identity = hub, identity
        self.codec = DataCodec(where=where)

    def send(self, op: int, seq: int, payload: Any, on_blocked: Any = None, plain: bool = False) -> None:
        self.hub.send(self.identity, self.codec.encode(op, seq, payload), on_blocked)

    def recv(self, timeout: float | None = None) -> Any:
        frames = self.hub.recv(self.identity, timeout)
        return None if frames is None else DataCodec.decode(frames)

    def poll(self) -> list[Any]:
        return [DataCodec.decode(f) for f in self.hub.poll(self.identity)]

    def fileno(self) -> int:
        return -1

    def close(self) -> None:
        self.closed = True
        self.hub.forget(self.identity)


class ZmqActor(TrackedActor):
    """An actor on another host, forked there by its worker and linked straight to our hub."""

    backend: ActorPlacer

    def __init__(self, backend: ActorPlacer, worker: WorkerLink, cls: type, args: tuple, kwargs: dict,
                 opts: dict[str, Any]):
        super().__init__(backend, cls.__name__)
        self.worker = worker
        self.identity = secrets.token_bytes(16)
        self.host = worker.host
        self.exit_info: tuple[Any, str, str] | None = None
        self._exited = Flag()  # not an Event: a Ctrl-C in _lost()'s wait must not block the control thread's set()
        nonce = auth.nonce()
        hub = backend.hub
        connected = hub.expect(self.identity, nonce)
        backend.actors[self.identity] = self
        try:
            reply = backend.control.request(
                worker, "spawn", actor=self.identity.hex(), endpoint=backend.endpoint_for(worker), nonce=nonce,
                cls=self.cls_name, n_gpu=int(opts.get("n_gpu") or 0), max_memory=opts.get("max_memory"),
                curve=backend.curve)
            self.pid = int(reply["pid"])
            self.host = str(reply.get("host", worker.host))
            backend.monitor.add_actor(self, self.identity, f"({self.cls_name} pid={self.pid} host={self.host}) ", None)
            deadline = time.monotonic() + START_TIMEOUT
            while not connected.is_set():
                hub.wait_any(time.monotonic() + 0.02)  # reads the hub: its hello is routed (and answered) there
                if connected.is_set():
                    break
                if self._exited.is_set() or time.monotonic() > deadline:
                    raise self._lost("start-up") if self._exited.is_set() else ConnectionError(
                        f"actor {self.cls_name} (pid {self.pid} on {self.host}) did not connect back to this driver "
                        f"at {backend.endpoint_for(worker)} within {START_TIMEOUT:g} s: can {self.host} reach this "
                        "machine (firewall, address)?")
            self.transport = ZmqTransport(hub, self.identity, f"host {self.host} (worker {worker.address})")
            self.request(INIT, (class_spec(cls, remote=True), args, kwargs), "__init__", args, kwargs)
        except BaseException:
            self.kill(ActorDiedError(f"actor {self.cls_name} failed to start"))
            self.close()
            raise

    def _output_key(self) -> Any:
        return self.identity  # the key of our output records in the backend's monitor

    def remote_exited(self, code: Any, tail: str, reason: str) -> None:
        """The worker says our process ended (or the worker is lost)."""
        self.exit_info = (code, tail, reason)
        self._exited.set()
        if self._hub_or_none() is not None:
            self.backend.hub.close_peer(self.identity, reason or "the actor exited")

    def _hub_or_none(self) -> Hub | None:
        return self.backend._hub

    def _lost(self, what: str) -> FastparlError:
        self._exited.wait(1.0)  # the worker's notice is on its way (the link closing came first)
        if self.exit_info is None and not self.worker.lost:  # the worker says nothing: the link broke, not the process
            return ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid} on {self.host}) lost its connection to this driver during "
                f"{what}, and its worker reported no exit (the TCP connection was reset or re-made: replies in "
                "flight may be lost). It is ended now.\nCalls on this actor will fail from now on: create a new one "
                "(or use @remote_class(max_restarts=...)).")
        code, tail, reason = self.exit_info or (None, "", "")
        if reason.startswith("actor ") and "max_memory" in reason:
            return ResourceError(reason)
        if code is None and reason.startswith("worker ") and " lost: " in reason:  # the host, not the process
            return ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid} on {self.host}) is lost with its host during {what}: "
                f"{reason}. Whether its process still runs there is unknown; its output and state are "
                f"unreachable.\nCalls on this actor will fail from now on: create a new one (it is placed on a "
                f"worker that answers).", code, tail)
        how = reason if reason and reason != "killed" else describe_exit(code)
        return ActorDiedError(
            f"actor {self.cls_name} (pid {self.pid} on {self.host}) died {how} during {what}."
            + (f" Last lines of its stderr:\n{tail}" if tail else " It wrote nothing to stderr.")
            + "\nCalls on this actor will fail from now on: create a new one.", code, tail)

    def _terminate(self) -> None:
        if not self._exited.is_set() and self.pid > 0:
            self.backend.control.send(self.worker, "kill", actor=self.identity.hex())

    def _cleanup(self) -> None:
        self.backend.actors.pop(self.identity, None)
        self.backend.monitor.forget(self.identity)
        if self.pid > 0 and not self._exited.is_set():
            self.backend.control.send(self.worker, "kill", actor=self.identity.hex())

    def __repr__(self) -> str:
        return f"<ZmqActor {self.cls_name} pid={self.pid} host={self.host}>"


class _SlotActor(LocalActor):
    """An actor placed on a worker of this machine: it holds a slot there, and runs as a local actor
    (shared memory, no TCP) in this driver's own fork server."""

    def __init__(self, backend: ActorPlacer, worker: WorkerLink, cls: type, args: tuple, kwargs: dict,
                 opts: dict[str, Any]):
        self._zmq, self._worker, self._slot = backend, worker, secrets.token_hex(16)
        self._reservation = backend.control.request(worker, "reserve", actor=self._slot, n_gpu=int(opts.get("n_gpu") or 0))
        try:
            super().__init__(backend.local(), cls, args, kwargs, opts)
        except BaseException:
            self._release_gpus([])
            raise

    def _acquire_gpus(self, n_gpu: int) -> list[str]:
        return list(self._reservation.get("gpus", []))

    def _release_gpus(self, gpus: list[str]) -> None:
        if self._slot:
            slot, self._slot = self._slot, ""
            if not self._worker.lost and not self._zmq._closed:
                self._zmq.control.send(self._worker, "unreserve", actor=slot)
                self._worker.free_cpus += 1
