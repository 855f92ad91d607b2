"""The local backend: one process per actor on this machine, forked by a fork server, linked by a
Unix socket, with array payloads in shared memory.

The driver holds two descriptors per actor (the frame socket and the descriptor socket of its
:class:`~.channel.Channel`); actors' output comes through the fork server on one shared pipe.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Sequence

from fastparl.errors import FastparlError
from fastparl.remote.backend import Capabilities
from fastparl.remote.error_messages import build_error
from fastparl.remote.local.channel import Channel, socket_pairs
from fastparl.remote.local.handle import ActorSpawner, LocalActor
from fastparl.remote.local.monitor import Monitor
from fastparl.remote.logs import log_mode
from fastparl.remote.local.objref import ShmObjectRef
from fastparl.remote.protocol import ERR, OK, SPAWN, STATUS, PeerClosed
from fastparl.remote.resources import GpuPool, visible_gpus
from fastparl.remote.system import portable
from fastparl.remote.system.processes import killpg, raise_fd_limit

__all__ = ["LocalBackend", "ThisMachineBackend"]

# Put first on the fork server's PYTHONPATH: the directory that holds the fastparl package, so that the
# server imports this fastparl even where it is not installed (a checkout).  Not the package directory
# itself, whose subpackages (env, data, utils, ...) would shadow same-named modules of the user's.
_PKG_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class ThisMachineBackend:
    """``put()``, ``shared_array()`` and ``gpus()`` of a backend whose actors all run on this machine
    (local, serial): shared memory in place, and GPUs from its ``gpu_pool``.  A mixin for Backend."""

    gpu_pool: GpuPool

    def put(self, obj: Any) -> ShmObjectRef:
        return ShmObjectRef(obj)

    def shared_array(self, shape: int | tuple[int, ...], dtype: Any, fill: Any) -> Any:
        from fastparl.remote.local.shm import shared_array

        return shared_array(shape, dtype, fill)

    def gpus(self) -> list[str]:
        return list(self.gpu_pool.all)


class LocalBackend(ThisMachineBackend, ActorSpawner):
    """Starts the fork server and creates :class:`LocalActor` processes through it."""

    name = "local"
    capabilities = Capabilities(processes=True, shared_memory=True, zero_copy=True, interrupt_timeouts=True)
    request_timeout = 30.0  # s to wait for the fork server's reply to a request (a spawn on a loaded machine)

    def __init__(self, target: str = "local", log_to_driver: bool | str = True, start_timeout: float = 60.0,
                 gpus: list[str] | None = None, log_dir: str | None = None, **_options: Any):
        super().__init__()
        portable.configure()  # FASTPARL_SHM: memfd or POSIX shared memory (read at connect time)
        raise_fd_limit()
        self.gpu_pool = GpuPool(visible_gpus() if gpus is None else gpus)
        self.log_to_driver = log_to_driver
        self.actors: "weakref.WeakSet[LocalActor]" = weakref.WeakSet()
        self._lock = threading.Lock()
        self._seq = 0
        self._late_spawns: set[int] = set()  # SPAWN requests that timed out: their actors are stopped
        self._closed = False
        ours, theirs = socket_pairs()
        mode = log_mode(log_to_driver)
        out_r, out_w = portable.pipe() if mode != "off" else (-1, -1)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([_PKG_ROOT, *filter(None, [env.get("PYTHONPATH")])])
        fds = [*(s.fileno() for s in theirs), out_w]
        try:
            # Its own process group: a signal to the driver's group (Ctrl-C, `kill -9 -PGID`) must not take
            # the reaper down with the driver; it sees the driver's end of the socket close and cleans up.
            self.server = subprocess.Popen(
                [sys.executable, "-m", "fastparl.remote.local.forkserver", *map(str, fds), str(os.getpid())],
                pass_fds=tuple(fd for fd in fds if fd >= 0), stdin=subprocess.DEVNULL, env=env, close_fds=True,
                process_group=0)
        finally:
            for sock in theirs:
                sock.close()
            if out_w >= 0:
                os.close(out_w)
        self.ctl = Channel(*ours)
        self.monitor = Monitor(out_r, on_eof=self._output_closed, mode=mode, log_dir=log_dir)
        try:
            frame = self.ctl.recv(timeout=start_timeout)
        except PeerClosed:
            frame = None
        if frame is None or frame[0] != OK:
            self.server.kill()
            code = self.server.wait()
            self.ctl.close()
            self.monitor.stop(0.1)
            raise FastparlError(f"the fastparl fork server did not start within {start_timeout} s (exit code {code}; "
                                f"command: {sys.executable} -m fastparl.remote.local.forkserver); see its output above")

    # ------------------------------------------------------------------ fork server requests
    def _request(self, op: int, payload: Any, fds: Sequence[int] = (), timeout: float | None = None) -> Any:
        """One request to the fork server; replies are matched to requests by sequence number, so a
        reply that comes after its request timed out is recognised (and a late actor stopped)."""
        if timeout is None:
            timeout = self.request_timeout
        with self._lock:
            if self._closed:
                raise FastparlError("fastparl was disconnected; call fastparl.connect() again")
            self._seq += 1
            seq = self._seq
            try:
                self.ctl.send_raw(self.ctl.encode(op, seq, payload)[0], list(fds))
                deadline = time.monotonic() + timeout
                while True:
                    frame = self.ctl.recv(timeout=max(0.0, deadline - time.monotonic()))
                    if frame is None:
                        if op == SPAWN:
                            self._late_spawns.add(seq)
                        raise FastparlError(f"the fastparl fork server (pid {self.server.pid}) did not answer within "
                                            f"{timeout} s; it may be overloaded. Retry, or call fastparl.disconnect() "
                                            "and fastparl.connect() to start a new one")
                    if frame[1] == seq:
                        break
                    self._late_reply(frame)
            except PeerClosed:
                self._server_lost()
                raise FastparlError("the fastparl fork server died; call fastparl.disconnect() and "
                                    "fastparl.connect() to start a new one") from None
            if frame[0] == ERR:
                raise build_error(frame[2], "fork server")
            return frame[2]

    def _late_reply(self, frame: tuple) -> None:
        """A reply to a request that timed out: an actor spawned for nobody is stopped."""
        op, seq, payload, _ = frame
        if op == OK and seq in self._late_spawns and isinstance(payload, int) and payload > 0:
            killpg(payload)
        self._late_spawns.discard(seq)

    def _output_closed(self) -> None:
        """The fork server closed its output pipe: it died, unless we are shutting down."""
        if not self._closed:
            self._server_lost()

    def _server_lost(self) -> None:
        """The fork server is gone: its actors lost their reaper, so stop them from here."""
        for a in list(self.actors):
            if a.pid > 0:
                killpg(a.pid)

    def spawn(self, cls_name: str, overrides: dict[str, str | None], fds: list[int]) -> int:
        """Fork an actor on ``fds`` (its frame socket and descriptor socket); returns its pid.

        The actor starts with this process's environment, ``sys.path`` and working directory as they
        are now, before it reads its INIT: its constructor's arguments unpickle with them."""
        req = {"env": dict(os.environ), "path": list(sys.path), "cwd": os.getcwd(), "overrides": overrides,
               "name": cls_name, "nfds": len(fds)}
        return int(self._request(SPAWN, req, fds))

    def exit_code(self, pid: int, wait: float = 1.0) -> int | None:
        """The actor's exit code (negative: killed by that signal), or None if still running."""
        deadline = time.monotonic() + wait
        while True:
            try:
                code = self._request(STATUS, pid, timeout=5.0)
            except FastparlError:
                return None
            if code is not None or time.monotonic() >= deadline:
                return code
            time.sleep(0.005)

    # ------------------------------------------------------------------ Backend
    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> LocalActor:
        return LocalActor(self, cls, args, kwargs, opts)

    def shutdown(self, timeout: float = 5.0) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for a in list(self.actors):
            a.close()
        self.ctl.close()  # the server sees EOF, stops what is left, reaps, exits
        try:
            self.server.wait(timeout)
        except subprocess.TimeoutExpired:
            self.server.kill()
            self.server.wait()
            self._server_lost()
        self.monitor.stop()
        self.close_wake_pipe()
