"""The local backend: one process per actor on this machine, forked by a fork server, linked by a
Unix socket, with array payloads in shared memory.

The driver holds two descriptors per actor (the frame socket and the descriptor socket of its
:class:`~.channel.Channel`); actors' output comes through the fork server on one shared pipe.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Sequence

import fastparl.remote
from fastparl.errors import ActorDiedError, FastparlError
from fastparl.remote.backend import Backend, Capabilities
from fastparl.remote.dispatcher import class_spec
from fastparl.remote.errinfo import build_error
from fastparl.remote.local.channel import Channel, socket_pairs
from fastparl.remote.local.forkserver import killpg
from fastparl.remote.local.monitor import Monitor
from fastparl.remote.local.objref import ThisMachineBackend
from fastparl.remote.local.segments import raise_fd_limit
from fastparl.remote.protocol import ERR, INIT, OK, SPAWN, STATUS, PeerClosed
from fastparl.remote.resources import GpuPool, visible_gpus
from fastparl.remote.tracker import TrackedActor
from fastparl.remote.local import portable

__all__ = ["LocalBackend", "LocalActor"]


class LocalBackend(ThisMachineBackend, Backend):
    """Starts the fork server and creates :class:`LocalActor` processes through it."""

    name = "local"
    capabilities = Capabilities(processes=True, shared_memory=True, zero_copy=True, interrupt_timeouts=True)
    request_timeout = 30.0  # s to wait for the fork server's reply to a request (a spawn on a loaded machine)

    def __init__(self, target: str = "local", log_to_driver: bool = True, start_timeout: float = 60.0,
                 gpus: list[str] | None = None, **_options: Any):
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
        out_r, out_w = portable.pipe() if log_to_driver else (-1, -1)
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(fastparl.remote.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([pkg_root, *filter(None, [env.get("PYTHONPATH")])])
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
        self.monitor = Monitor(out_r, on_eof=self._output_closed)
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
        """Fork an actor on ``fds`` (its frame socket and descriptor socket); returns its pid."""
        req = {"env": dict(os.environ), "overrides": overrides, "name": cls_name, "nfds": len(fds)}
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
    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]) -> "LocalActor":
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


class LocalActor(TrackedActor):
    """Driver-side handle of one actor process."""

    def __init__(self, backend: LocalBackend, cls: type, args: tuple, kwargs: dict, opts: dict[str, Any]):
        super().__init__(backend, cls.__name__)
        self.backend: LocalBackend = backend
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
            spec = class_spec(cls)
            self.request(INIT, (spec, args, kwargs, list(sys.path), os.getcwd()), "__init__", args, kwargs)
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


def describe_exit(code: int | None) -> str:
    if code is None:
        return "(exit status unknown)"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        hint = {"SIGKILL": " (killed: out of memory, or by a user)", "SIGSEGV": " (segmentation fault in native code)",
                "SIGABRT": " (aborted by native code)"}.get(name, "")
        return f"from {name}{hint}"
    return f"with exit code {code}"
