"""One background thread per driver: forwards actors' stdout/stderr and enforces ``max_memory``.

It is off the call path: calls never wait for it.
"""

from __future__ import annotations

import collections
import os
import selectors
import sys
import threading
import time
from typing import Any

import psutil

from fastparl.errors import ResourceError

__all__ = ["Monitor", "ActorStreams"]

MEMORY_POLL_S = 0.05


class ActorStreams:
    """The output pipes and memory limit of one actor, as the monitor sees them."""

    def __init__(self, monitor: "Monitor", actor: Any, prefix: str, max_memory_mb: float | None):
        self.monitor = monitor
        self.actor = actor
        self.prefix = prefix
        self.partial: dict[int, bytes] = {}
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.stderr_closed = threading.Event()
        self.max_memory_mb = max_memory_mb
        self.process: psutil.Process | None = None

    def stderr_tail(self, wait: float = 0.0) -> str:
        """The last lines the actor wrote to stderr (waits up to ``wait`` s for the pipe to drain)."""
        if wait > 0:
            self.stderr_closed.wait(wait)
        return "\n".join(self.tail)

    def stop_memory_watch(self) -> None:
        self.max_memory_mb = None


class Monitor:
    def __init__(self) -> None:
        self.sel = selectors.DefaultSelector()
        self.watched: list[ActorStreams] = []
        self._wake_r, self._wake_w = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self.sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._pending: list[tuple[int, ActorStreams, bool]] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = False

    def add_actor(self, actor: Any, out_fd: int, err_fd: int, prefix: str, max_memory_mb: float | None
                  ) -> ActorStreams:
        streams = ActorStreams(self, actor, prefix, max_memory_mb)
        if err_fd < 0:
            streams.stderr_closed.set()
        with self._lock:
            for fd, is_err in ((out_fd, False), (err_fd, True)):
                if fd >= 0:
                    self._pending.append((fd, streams, is_err))
            if max_memory_mb:
                self.watched.append(streams)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="fastparl-monitor", daemon=True)
                self._thread.start()
        os.write(self._wake_w, b"x")
        return streams

    def stop(self, drain: float = 1.0) -> None:
        """Stop the thread, first forwarding what actors wrote before they exited (up to ``drain`` s)."""
        self._stop = True
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(drain)

    def _run(self) -> None:
        next_mem = 0.0
        while not (self._stop and not self._pending and len(self.sel.get_map()) <= 1):
            with self._lock:
                for fd, streams, is_err in self._pending:
                    self.sel.register(fd, selectors.EVENT_READ, (streams, is_err))
                self._pending.clear()
                watched = [s for s in self.watched if s.max_memory_mb]
                self.watched = watched
            timeout = 0.05 if self._stop else None
            if watched and not self._stop:
                now = time.monotonic()
                if now >= next_mem:
                    self._check_memory(watched)
                    next_mem = now + MEMORY_POLL_S
                timeout = max(0.0, next_mem - time.monotonic())
            for key, _ in self.sel.select(timeout):
                if key.data is None:
                    try:
                        os.read(self._wake_r, 4096)
                    except BlockingIOError:
                        pass
                    continue
                self._read(key.fd, *key.data)

    def _read(self, fd: int, streams: ActorStreams, is_err: bool) -> None:
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if not data:
            self.sel.unregister(fd)
            os.close(fd)
            rest = streams.partial.pop(fd, b"")
            if rest:
                self._emit(streams, rest + b"\n", is_err)
            if is_err:
                streams.stderr_closed.set()
            return
        data = streams.partial.pop(fd, b"") + data
        cut = data.rfind(b"\n") + 1
        if cut < len(data):
            streams.partial[fd] = data[cut:]
        if cut:
            self._emit(streams, data[:cut], is_err)

    def _emit(self, streams: ActorStreams, data: bytes, is_err: bool) -> None:
        lines = data.decode("utf-8", "replace").splitlines()
        if is_err:
            streams.tail.extend(lines)
        out = sys.stderr if is_err else sys.stdout
        try:
            out.write("".join(f"{streams.prefix}{line}\n" for line in lines))
            out.flush()
        except (ValueError, OSError):  # the stream was closed (interpreter shutdown)
            pass

    def _check_memory(self, watched: list[ActorStreams]) -> None:
        for s in watched:
            limit = s.max_memory_mb
            actor = s.actor
            if not limit or actor.pid <= 0:
                continue
            try:
                if s.process is None:
                    s.process = psutil.Process(actor.pid)
                info = s.process.memory_info()
            except (psutil.Error, OSError):
                s.max_memory_mb = None
                continue
            used_mb = (info.rss - getattr(info, "shared", 0)) / 2**20
            if used_mb > limit:
                s.max_memory_mb = None
                actor.kill(ResourceError(
                    f"actor {actor.cls_name} (pid {actor.pid}) used {used_mb:.0f} MB of private memory, over its "
                    f"max_memory={limit:g} MB, and was stopped. Raise max_memory in @remote_class(max_memory=...) "
                    "or make the actor hold less; create a new actor to go on."))
