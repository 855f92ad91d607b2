"""The local backend: one process per actor, forked by a fork server, linked by a Unix socket."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import weakref
from typing import Any, Sequence

import fastparl
from fastparl.errors import ActorDiedError, FastparlError, SerializationError
from fastparl.remote import actor as actor_mod
from fastparl.remote.channel import Channel, PeerClosed, socket_pairs
from fastparl.remote.futures import Future, timeout_error
from fastparl.remote.handle import CALLABLE_ATTR, build_error, unpicklable_reply
from fastparl.remote.monitor import Monitor
from fastparl.remote.protocol import CALL, CALLABLE, ERR, GETATTR, INIT, OK, SETATTR, SPAWN, STATUS
from fastparl.remote.resources import GpuPool
from fastparl.remote.serialization import describe_unpicklable

__all__ = ["LocalBackend", "LocalActor"]


class LocalBackend:
    """Starts the fork server and creates :class:`LocalActor` processes through it."""

    name = "local"

    def __init__(self, gpus: list[str], log_to_driver: bool = True, start_timeout: float = 60.0):
        self.gpus = GpuPool(gpus)
        self.log_to_driver = log_to_driver
        self.actors: "weakref.WeakSet[LocalActor]" = weakref.WeakSet()
        self.monitor = Monitor()
        self._lock = threading.Lock()
        self._seq = 0
        self._closed = False
        ours, theirs = socket_pairs()
        pkg_root = os.path.dirname(os.path.dirname(os.path.abspath(fastparl.__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join([pkg_root, *filter(None, [env.get("PYTHONPATH")])])
        try:
            self.server = subprocess.Popen(
                [sys.executable, "-m", "fastparl.remote.forkserver", *(str(s.fileno()) for s in theirs),
                 str(os.getpid())],
                pass_fds=tuple(s.fileno() for s in theirs), stdin=subprocess.DEVNULL, env=env, close_fds=True)
        finally:
            for sock in theirs:
                sock.close()
        self.ctl = Channel(*ours)
        try:
            frame = self.ctl.recv(timeout=start_timeout)
        except PeerClosed:
            frame = None
        if frame is None or frame[0] != OK:
            self.server.kill()
            code = self.server.wait()
            self.ctl.close()
            raise FastparlError(f"the fastparl fork server did not start within {start_timeout} s (exit code {code}; "
                                f"command: {sys.executable} -m fastparl.remote.forkserver); see its output above")

    def _request(self, op: int, payload: Any, fds: Sequence[int] = ()) -> Any:
        with self._lock:
            if self._closed:
                raise FastparlError("fastparl was disconnected; call fastparl.connect() again")
            self._seq += 1
            data, _ = self.ctl.encode(op, self._seq, payload)
            try:
                self.ctl.send_raw(data, list(fds))
                frame = self.ctl.recv(timeout=30)
            except PeerClosed:
                raise FastparlError("the fastparl fork server died; call fastparl.disconnect() and "
                                    "fastparl.connect() to start a new one") from None
            if frame is None:
                raise FastparlError("the fastparl fork server did not answer within 30 s")
            if frame[0] == ERR:
                raise build_error(frame[2], "fork server")
            return frame[2]

    def spawn(self, env: dict[str, str | None], fds: list[int]) -> int:
        """Fork an actor; ``fds``: its frame socket, descriptor socket, stdout and stderr (-1: inherit)."""
        fds = [fd for fd in fds if fd >= 0]
        return self._request(SPAWN, {"env": env, "nfds": len(fds)}, fds)

    def exit_code(self, pid: int, wait: float = 1.0) -> int | None:
        """The actor's exit code (negative: killed by that signal), or None if still running."""
        deadline = time.monotonic() + wait
        while True:
            try:
                code = self._request(STATUS, pid)
            except FastparlError:
                return None
            if code is not None or time.monotonic() >= deadline:
                return code
            time.sleep(0.005)

    def create_actor(self, cls: type, args: tuple, kwargs: dict, opts: dict) -> "LocalActor":
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
        self.monitor.stop()


class LocalActor:
    """Driver-side handle of one actor process: sends calls, matches replies by sequence number."""

    def __init__(self, backend: LocalBackend, cls: type, args: tuple, kwargs: dict, opts: dict):
        self.backend = backend
        self.cls_name = cls.__name__
        self.lock = threading.Lock()  # not re-entered: nothing under it calls back into this actor's locked methods
        self.seq = 0
        self.replies: dict[int, tuple[bool, Any]] = {}
        self.dropped: set[int] = set()
        self.error: FastparlError | None = None  # set once the actor is gone
        self.kill_reason: FastparlError | None = None
        self.pid = -1
        self.fileno = -1
        self.gpus = backend.gpus.acquire(int(opts.get("n_gpu") or 0), self.cls_name)
        try:
            self._start(cls, args, kwargs, opts)
        except BaseException:
            self.close()
            raise

    def _start(self, cls: type, args: tuple, kwargs: dict, opts: dict) -> None:
        backend = self.backend
        ours, theirs = socket_pairs()
        out_r = err_r = out_w = err_w = -1
        if backend.log_to_driver:
            out_r, out_w = os.pipe2(os.O_CLOEXEC)
            err_r, err_w = os.pipe2(os.O_CLOEXEC)
        env: dict[str, str | None] = {"CUDA_VISIBLE_DEVICES": ",".join(self.gpus)}
        try:
            self.pid = backend.spawn(env, [*(s.fileno() for s in theirs), out_w, err_w])
        finally:
            for sock in theirs:
                sock.close()
            for fd in (out_w, err_w):
                if fd >= 0:
                    os.close(fd)
        self.ch = Channel(*ours)
        self.fileno = self.ch.fileno
        self.streams = backend.monitor.add_actor(self, out_r, err_r, f"({self.cls_name} pid={self.pid}) ",
                                                 opts.get("max_memory"))
        backend.actors.add(self)
        spec = actor_mod.class_spec(cls)
        self.call_sync(INIT, (spec, args, kwargs, list(sys.path), os.getcwd()), "__init__", args, kwargs)

    # ------------------------------------------------------------------ calls
    def describe(self, op: int, name: str) -> str:
        """Text naming a call in error messages (built only when one is needed)."""
        if op == GETATTR:
            return f"{self.cls_name}.{name}"
        if op == SETATTR:
            return f"setting {self.cls_name}.{name}"
        return f"{self.cls_name}.{name}()"

    def call(self, name: str, args: tuple, kwargs: dict | None, wait: bool) -> Any:
        with self.lock:
            seq = self._send(CALL, (name, args, kwargs), name, args, kwargs)
            if not wait:
                return Future(self, seq, name)
            ok, value = self._wait(seq, None, CALL, name)
        if ok:
            return value
        raise value

    def getattr(self, name: str) -> Any:
        return self.call_sync(GETATTR, name, name)

    def setattr(self, name: str, value: Any) -> None:
        self.call_sync(SETATTR, (name, value), name, (value,))

    def call_sync(self, op: int, payload: Any, name: str, args: tuple = (), kwargs: dict | None = None) -> Any:
        with self.lock:
            ok, value = self._wait(self._send(op, payload, name, args, kwargs), None, op, name)
        if ok:
            return value
        raise value

    def _send(self, op: int, payload: Any, name: str, args: tuple, kwargs: dict | None) -> int:
        """Send one request (the caller holds ``self.lock``); returns its sequence number."""
        if self.error is not None:
            raise self.error
        ch = self.ch
        self.seq += 1
        seq = self.seq
        try:
            data, fds = ch.encode(op, seq, payload)
        except SerializationError:
            raise
        except Exception as e:  # noqa: BLE001
            raise describe_unpicklable(f"the arguments of {self.describe(op, name)}", args, kwargs, e) from e
        try:
            ch.send_raw(data, fds, self._drain)
        except PeerClosed:
            self._died(self.describe(op, name))
            raise self.error from None  # type: ignore[misc]
        finally:
            if ch.closed and self.error is None:  # interrupted (Ctrl-C) half-way through a frame
                self.kill(ActorDiedError(
                    f"a call to {self.describe(op, name)} was interrupted half-way through sending, which leaves the "
                    f"link to actor {self.cls_name} (pid {self.pid}) unusable: the actor was stopped; create a new one"))
                self.error = self.kill_reason
        return seq

    def _drain(self) -> None:
        try:
            for frame in self.ch.poll():
                self._store(frame)
        except PeerClosed:
            pass  # the send that called us will fail next, and report it

    def _store(self, frame: tuple) -> None:
        op, seq, payload, err = frame
        if seq in self.dropped:
            self.dropped.discard(seq)
            return
        if err is not None:
            self.replies[seq] = (False, unpicklable_reply(f"call #{seq} on {self.cls_name}", err))
        elif op == OK:
            self.replies[seq] = (True, payload)
        elif op == CALLABLE:
            self.replies[seq] = (True, CALLABLE_ATTR)
        else:
            self.replies[seq] = (False, payload)  # error info, built into an exception when read

    def wait_reply(self, seq: int, timeout: float | None, name: str) -> tuple[bool, Any]:
        """(ok, value or exception) of call ``seq`` to method ``name``, waiting up to ``timeout`` s."""
        with self.lock:
            return self._wait(seq, timeout, CALL, name)

    def _wait(self, seq: int, timeout: float | None, op: int, name: str) -> tuple[bool, Any]:
        deadline = None if timeout is None else time.monotonic() + timeout
        ch = self.ch
        while True:
            reply = self.replies.pop(seq, None)
            if reply is None:
                if self.error is not None:
                    return False, self.error
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise timeout_error(self.describe(op, name), timeout)
                try:
                    frame = ch.recv(remaining)
                except PeerClosed:
                    self._died(self.describe(op, name))
                    continue
                if frame is None:
                    continue
                if frame[1] == seq and frame[0] == OK and frame[3] is None:  # the common case
                    return True, frame[2]
                self._store(frame)
                continue
            ok, value = reply
            if not ok and isinstance(value, tuple):
                value = build_error(value, self.describe(op, name))
            return ok, value

    def poll_reply(self, seq: int, name: str = "?") -> tuple[bool, Any] | None:
        with self.lock:
            if seq not in self.replies and self.error is None:
                try:
                    for frame in self.ch.poll():
                        self._store(frame)
                except PeerClosed:
                    self._died(f"call #{seq} on {self.cls_name}")
            reply = self.replies.pop(seq, None)
            if reply is not None:
                ok, value = reply
                if not ok and isinstance(value, tuple):
                    value = build_error(value, f"{self.cls_name}.{name}()")
                return ok, value
            return (False, self.error) if self.error is not None else None

    def drop_reply(self, seq: int) -> None:
        self.dropped.add(seq)
        if self.replies.pop(seq, None) is not None:
            self.dropped.discard(seq)

    # ------------------------------------------------------------------ death and cleanup
    def _died(self, what: str) -> None:
        if self.error is not None:
            return
        reason = self.kill_reason
        if reason is None:
            code = self.backend.exit_code(self.pid)
            tail = self.streams.stderr_tail(wait=0.5) if self.streams else ""
            reason = ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid}) died {_describe_exit(code)} during {what}."
                + (f" Last lines of its stderr:\n{tail}" if tail else " It wrote nothing to stderr.")
                + "\nCalls on this actor will fail from now on: create a new one.", code, tail)
        self.error = reason
        self._release()

    def kill(self, reason: FastparlError | None = None) -> None:
        """Stop the actor process now (SIGKILL); later calls raise ``reason``."""
        if self.error is None and self.kill_reason is None:
            self.kill_reason = reason or ActorDiedError(
                f"actor {self.cls_name} (pid {self.pid}) was stopped by fastparl.kill(); create a new one")
        if self.pid > 0:
            try:
                os.kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        if reason is None:
            self.error = self.kill_reason
            self.close()

    def close(self) -> None:
        """Release the actor: closing the socket makes it exit (it sees EOF)."""
        if self.error is None:
            self.error = ActorDiedError(f"actor {self.cls_name} (pid {self.pid}) was released; create a new one")
        ch = getattr(self, "ch", None)
        if ch is not None:
            ch.close()
        self._release()

    def _release(self) -> None:
        gpus, self.gpus = self.gpus, []
        if gpus:
            self.backend.gpus.release(gpus)
        self.backend.actors.discard(self)
        streams = getattr(self, "streams", None)
        if streams is not None:
            streams.stop_memory_watch()


def _describe_exit(code: int | None) -> str:
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
