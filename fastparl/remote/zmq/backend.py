"""The ZeroMQ backend: the same proxies, with actors placed on worker daemons (``fastparl worker``).

``fastparl.connect("h1:8037,h2:8037")`` (or ``FASTPARL_HOSTS``) authenticates to each worker
(:mod:`.control`), then places each new actor on the worker with the most free CPU slots (and
enough free GPUs for ``n_gpu``).  An actor on another host is a :class:`~.handle.ZmqActor`: a process
forked by that worker, linked straight to this driver's hub (:mod:`.hub`), with array buffers as
zero-copy ZeroMQ frames.  An actor placed on a worker that runs on *this* machine takes a slot
there but runs as a local actor, on the shared-memory path (``FASTPARL_SAME_HOST_SHM=0`` sends it
over TCP like the others, e.g. to test that path on one machine).
"""

from __future__ import annotations

import glob
import json
import os
import secrets
import threading
import logging
import time
import warnings
import weakref
from typing import Any, Sequence

import zmq

from fastparl.errors import AuthenticationError, ConnectionError, FastparlError, ResourceError
from fastparl.remote.backend import Capabilities
from fastparl.remote.hosts import parse_hosts
from fastparl.remote.local.backend import LocalBackend
from fastparl.remote.local.monitor import Monitor
from fastparl.remote.logs import log_mode, make_session_dir, new_session_dir
from fastparl.remote.objref import ObjectRef
from fastparl.remote.system.processes import raise_fd_limit
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.control import Control, WorkerLink, handshake, local_ip_for
from fastparl.remote.zmq.handle import ActorPlacer, ZmqActor, _SlotActor
from fastparl.remote.zmq.hub import Hub
from fastparl.remote.zmq.liveness import host_timeout
from fastparl.remote.zmq.wire import FILE_CHUNK_BYTES
from fastparl.remote.zmq.worker import host_id

__all__ = ["ZmqBackend"]
log = logging.getLogger("fastparl.remote")


class ZmqBackend(ActorPlacer):
    name = "zmq"

    def __init__(self, target: str, log_to_driver: bool | str = True, distributed_files: Sequence[str] = (),
                 connect_timeout: float = 5.0, curve: bool | None = None, log_dir: str | None = None,
                 **_options: Any):
        super().__init__()
        raise_fd_limit()
        self.token = auth.load_token()
        self.ctx = zmq.Context()
        self.ctx.setsockopt(zmq.LINGER, 0)
        self.ctx.set(zmq.MAX_SOCKETS, 65536)
        self.my_host = host_id()
        self.same_host_shm = os.environ.get("FASTPARL_SAME_HOST_SHM", "1") != "0"
        self.log_to_driver = log_to_driver
        self.log_dir = log_dir or new_session_dir()  # remote actors' log files are written here, on the driver
        log_mode(log_to_driver)  # a bad value fails before we connect
        self.curve = curve if curve is not None else os.environ.get("FASTPARL_CURVE", "0") not in ("", "0")
        self.workers: list[WorkerLink] = []
        self.unreachable: dict[str, str] = {}  # address -> why, of the workers that did not answer at connect()
        self.host_timeout = host_timeout()
        self.driver_id = secrets.token_hex(8)  # names this driver across its sessions with a worker
        self._connect_timeout = connect_timeout
        try:
            for address in parse_hosts(target):
                try:
                    sock, info = self._handshake(address)
                except AuthenticationError:  # a wrong token is the user's to fix, not a host to skip
                    raise
                except ConnectionError as e:  # no answer: skip it
                    self.unreachable[address] = str(e)
                    continue
                self.workers.append(WorkerLink(address, sock, info, info.get("host_id") == self.my_host))
            unanswered = "".join(f"\n  {a}: {why}" for a, why in self.unreachable.items())
            if not self.workers:
                raise ConnectionError(f"no worker of {target!r} answered:{unanswered}\nStart `fastparl worker "
                                      f"--port PORT` on each host, or check the addresses.")
        except BaseException:
            for w in self.workers:
                w.sock.close()
            self.ctx.destroy(linger=0)
            raise
        if self.unreachable:
            warnings.warn(f"fastparl.connect: {len(self.unreachable)} of the workers did not answer and are not used "
                          f"(actors go to the {len(self.workers)} that did):{unanswered}", stacklevel=3)
        remote = [w for w in self.workers if not (w.same_host and self.same_host_shm)]
        self.capabilities = Capabilities(processes=True, shared_memory=not remote, zero_copy=not remote,
                                         interrupt_timeouts=True)
        self.actors: "weakref.WeakValueDictionary[bytes, ZmqActor]" = weakref.WeakValueDictionary()
        self.monitor = Monitor(-1, receives=True, mode=log_to_driver, log_dir=self.log_dir)
        self._hub: Hub | None = None
        self._local: LocalBackend | None = None
        self._place_lock = threading.Lock()
        self._closed = False
        self.control = Control(self.workers, self._notice, self._worker_lost, self.host_timeout, self._handshake,
                               self._write_hosts)
        self._write_hosts()
        if distributed_files:
            self._distribute(distributed_files, [w for w in remote])

    def _handshake(self, address: str) -> tuple[Any, dict[str, Any]]:
        return handshake(self.ctx, address, self.token, self._connect_timeout, name=f"pid {os.getpid()}",
                         curve=self.curve, host_timeout=self.host_timeout, driver=self.driver_id)

    def hosts(self) -> list[dict[str, Any]]:
        """Each worker as this driver sees it: address, host, state (``alive`` / ``suspect`` / ``lost``),
        free slots, the reason it was lost, and how many sessions were opened with it (re-admissions + 1)."""
        return [{"address": w.address, "host": w.host, "state": w.state, "free_cpus": w.free_slots,
                 "lost": w.lost, "sessions": w.admissions} for w in self.workers]

    def _write_hosts(self) -> None:
        """``<session log folder>/hosts.json``: this driver's view of its workers, for ``fastparl status --driver``."""
        try:
            make_session_dir(self.log_dir)
            tmp = os.path.join(self.log_dir, f".hosts-{os.getpid()}.json")
            with open(tmp, "w") as f:
                json.dump({"driver_pid": os.getpid(), "updated": time.time(), "host_timeout": self.host_timeout,
                           "hosts": self.hosts()}, f, indent=1)
            os.replace(tmp, os.path.join(self.log_dir, "hosts.json"))
        except OSError as e:  # a read-only home must not stop a run
            log.debug("could not write hosts.json: %s", e)

    # ------------------------------------------------------------------ placement
    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> Any:
        n_gpu = int(opts.get("n_gpu") or 0)
        tried: set[int] = set()
        while True:
            w = self._place(n_gpu, tried)
            try:
                if w.same_host and self.same_host_shm:
                    return _SlotActor(self, w, cls, args, kwargs, opts)
                return ZmqActor(self, w, cls, args, kwargs, opts)
            except ResourceError:
                tried.add(id(w))  # another client took the slot first: try the next worker
                w.free_cpus = 0
            finally:
                with self._place_lock:
                    w.placing -= 1  # counted in free_cpus from the spawn's answer on (see Control._receive)

    def _place(self, n_gpu: int, tried: set[int]) -> WorkerLink:
        with self._place_lock:
            live = [w for w in self.workers if not w.lost and id(w) not in tried]
            fits = [w for w in live if w.free_slots > 0 and len(w.info.get("free_gpus", [])) >= n_gpu]
            if not fits:
                lost = [w.address for w in self.workers if w.lost] + list(self.unreachable)
                raise ResourceError(
                    f"no worker has a free CPU slot{f' and {n_gpu} free GPU(s)' if n_gpu else ''}: "
                    + ", ".join(f"{w.address} {w.free_slots}/{w.info.get('cpus')} free" for w in self.workers
                                if not w.lost)
                    + (f"; lost: {', '.join(lost)}" if lost else "")
                    + ". Release actors, start workers with more --cpus, or add hosts to FASTPARL_HOSTS.")
            w = max(fits, key=lambda w: w.free_slots)
            w.placing += 1  # in flight: pongs that cross the spawn must not free its slot again
            return w

    @property
    def hub(self) -> Hub:
        with self._place_lock:
            if self._hub is None:
                binds = sorted({local_ip_for(w.address) for w in self.workers})
                self._hub = Hub(self.ctx, binds or ["127.0.0.1"], self.token, curve=self.curve)
                self._hub.on_message = self.wake_waiters
            return self._hub

    def endpoint_for(self, w: WorkerLink) -> str:
        return f"tcp://{local_ip_for(w.address)}:{self.hub.port}"

    def local(self) -> LocalBackend:
        with self._place_lock:
            if self._local is None:
                self._local = LocalBackend(log_to_driver=self.log_to_driver, gpus=[], log_dir=self.log_dir)
            return self._local

    # ------------------------------------------------------------------ notices from workers
    def _notice(self, w: WorkerLink, msg: dict[str, Any], raw: bytes | None) -> None:
        kind = msg.get("kind")
        actor = self.actors.get(bytes.fromhex(str(msg.get("actor", ""))) if _is_hex(msg.get("actor")) else b"")
        if kind == "output" and raw is not None and isinstance(msg.get("stream"), int):
            self.monitor.record(bytes.fromhex(msg["actor"]), msg["stream"], raw)  # its mode says where it goes
        elif kind == "exited" and actor is not None:
            actor.remote_exited(msg.get("code"), str(msg.get("tail") or ""), str(msg.get("reason") or ""))
            w.free_cpus += 1

    def _worker_lost(self, w: WorkerLink) -> None:
        for actor in list(self.actors.values()):
            if actor.worker is w:
                actor.remote_exited(None, "", w.lost or "worker lost")

    # ------------------------------------------------------------------ Backend
    def put(self, obj: Any) -> ObjectRef:
        return ObjectRef(obj)  # sent by value to each actor (a worker host cannot map our memory)

    def shared_array(self, shape: int | tuple[int, ...], dtype: Any, fill: Any) -> Any:
        return self.local().shared_array(shape, dtype, fill)

    def gpus(self) -> list[str]:
        return [f"{w.address}/{g}" for w in self.workers for g in w.info.get("gpus", [])]

    def rendezvous(self, world_size: int) -> tuple[str, int]:
        if any(not (w.same_host and self.same_host_shm) for w in self.workers):
            raise FastparlError(
                "a group of collective processes (fastparl.learners) cannot be placed across worker hosts yet: its "
                "members would be placed by free slots and need rank 0's address before they start. Run the learner "
                "group on one machine (connect('local'), or workers on this host only), and samplers anywhere.")
        return super().rendezvous(world_size)

    def wait(self, futures: Sequence[Any], num_returns: int, deadline: float | None) -> None:
        if sum(1 for f in futures if f.done()) >= num_returns:
            return
        step = time.monotonic() + 0.05
        self.hub.wait_any(step if deadline is None else min(deadline, step))

    def shutdown(self) -> None:
        if self._closed:
            return
        self._closed = True
        for actor in list(self.actors.values()):
            actor.close()
        for w in self.workers:
            if not w.lost:
                self.control.send(w, "bye")
        self.control.stop()
        if self._local is not None:
            self._local.shutdown()
        if self._hub is not None:
            self._hub.close()
        for w in self.workers:
            w.sock.close(linger=200)
        self.monitor.stop(0.2)
        self.ctx.destroy(linger=0)  # closes whatever is still open: term() would wait for it for ever
        self.close_wake_pipe()

    def _distribute(self, patterns: Sequence[str], workers: list[WorkerLink]) -> None:
        """Send ``distributed_files`` (paths or globs, like PARL) to each worker's directory for us."""
        files = sorted({p for pattern in patterns for p in (glob.glob(pattern) or [pattern])})
        for path in files:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"distributed_files: {path!r} is not a file")
            name = os.path.relpath(path) if not os.path.isabs(path) else os.path.basename(path)
            if name.startswith(".."):
                name = os.path.basename(path)
            for w in workers:
                with open(path, "rb") as f:  # in chunks: a served socket takes frames of at most ~1 MiB
                    offset = 0
                    while True:
                        chunk = f.read(FILE_CHUNK_BYTES)
                        if offset and not chunk:
                            break
                        self.control.request(w, "file", raw=chunk, name=name, offset=offset)
                        offset += len(chunk)
                        if len(chunk) < FILE_CHUNK_BYTES:
                            break


def _is_hex(value: Any) -> bool:
    try:
        return isinstance(value, str) and len(bytes.fromhex(value)) == 16
    except ValueError:
        return False
