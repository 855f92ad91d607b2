"""One background thread per driver: prints actors' output and enforces ``max_memory``.

Actors' stdout and stderr reach the driver as records on one pipe from the fork server (see
:mod:`.forkserver`).  Each line is printed with the actor's prefix, ``(ClassName pid=123)``; a
carriage-return update (a progress bar) is printed as it comes, ending in ``\\r``, so that a
terminal shows it in place.  Text without an end of line is held, up to 64 KiB, so the cost stays
linear in the output.  It is off the call path: calls never wait for it.
"""

from __future__ import annotations

import collections
import os
import re
import selectors
import sys
import threading
import time
import weakref
from typing import Any, Callable

import psutil

from fastparl.errors import ResourceError
from fastparl.remote.local.forkserver import OUT_RECORD, STDERR, STDERR_EOF, STDOUT, STDOUT_EOF
from fastparl.remote.system import portable

__all__ = ["Monitor"]

MEMORY_POLL_S = 0.05
_HOLD_MAX = 1 << 16
_LINE_END = re.compile(rb"\r\n|\n|\r")


class _Actor:
    """What the monitor knows of one actor: its prefix, unfinished text, stderr tail, memory limit."""

    def __init__(self, actor: Any, prefix: str, max_memory_mb: float | None):
        self.actor = weakref.ref(actor) if actor is not None else None  # a gone handle must be freed
        self.prefix = prefix
        self.partial = {STDOUT: b"", STDERR: b""}
        self.ended_cr = {STDOUT: False, STDERR: False}  # the last text shown ended in "\r"
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.stderr_closed = threading.Event()
        self.eofs = 0
        self.max_memory_mb = max_memory_mb
        self.process: psutil.Process | None = None


class Monitor:
    def __init__(self, out_fd: int, on_eof: Callable[[], None] | None = None):
        self.out_fd = out_fd  # read end of the fork server's output records, or -1
        self.on_eof = on_eof  # called (on the thread) when the fork server closes the pipe: it is gone
        # Where output goes instead of our stdout/stderr: sink(pid, stream, data) (a worker daemon
        # forwards it to the actor's driver); stderr tails are kept either way.
        self.sink: Any = None
        self.actors: dict[Any, _Actor] = {}
        self._buf = b""
        self._lock = threading.Lock()
        self._stop = False
        self._wake_r, self._wake_w = portable.pipe(nonblocking=True)
        self._thread = threading.Thread(target=self._run, name="fastparl-monitor", daemon=True)
        self._thread.start()

    def add_actor(self, actor: Any, pid: Any, prefix: str, max_memory_mb: float | None) -> None:
        """Watch ``actor``: ``pid`` keys its output records (any hashable for remote actors, whose
        output arrives through :meth:`record`)."""
        with self._lock:
            self.actors[pid] = _Actor(actor, prefix, max_memory_mb)
            if self.out_fd < 0:
                self.actors[pid].stderr_closed.set()
        if max_memory_mb:
            self._wake()

    def stderr_tail(self, pid: Any, wait: float = 0.0) -> str:
        """The last lines actor ``pid`` wrote to stderr (waits up to ``wait`` s for them to arrive)."""
        a = self.actors.get(pid)
        if a is None:
            return ""
        if wait > 0:
            a.stderr_closed.wait(wait)
        return "\n".join(a.tail)

    def forget(self, pid: Any) -> None:
        """Stop watching the actor's memory (it is gone or going); its output is still printed."""
        a = self.actors.get(pid)
        if a is not None:
            a.max_memory_mb = None

    def stop(self, drain: float = 1.0) -> None:
        """Stop the thread, first printing what actors wrote before they exited (up to ``drain`` s)."""
        self._stop = True
        self._wake()
        if self._thread is not threading.current_thread():
            self._thread.join(drain)
        for fd in (self._wake_r, self._wake_w):
            try:
                os.close(fd)
            except OSError:
                pass

    def _wake(self) -> None:
        try:
            os.write(self._wake_w, b"x")
        except OSError:
            pass

    # ------------------------------------------------------------------ the thread
    def _run(self) -> None:
        sel = selectors.DefaultSelector()
        sel.register(self._wake_r, selectors.EVENT_READ, "wake")
        if self.out_fd >= 0:
            sel.register(self.out_fd, selectors.EVENT_READ, "out")
        next_mem = 0.0
        out_open = self.out_fd >= 0
        stop_at = None
        while True:
            if self._stop:  # keep printing until the fork server closed the pipe, or the drain time ran out
                stop_at = stop_at or time.monotonic() + 1.0
                if not out_open or time.monotonic() >= stop_at:
                    break
            watched = [a for a in list(self.actors.values()) if a.max_memory_mb]
            timeout = 0.05 if self._stop else None
            if watched and not self._stop:
                now = time.monotonic()
                if now >= next_mem:
                    self._check_memory(watched)
                    next_mem = now + MEMORY_POLL_S
                timeout = max(0.0, next_mem - time.monotonic())
            for key, _ in sel.select(timeout):
                if key.data == "wake":
                    try:
                        os.read(self._wake_r, 4096)
                    except OSError:
                        pass
                elif not self._read():
                    sel.unregister(self.out_fd)
                    out_open = False
                    if not self._stop and self.on_eof is not None:
                        self.on_eof()
        if self.out_fd >= 0:
            os.close(self.out_fd)
        sel.close()

    def _read(self) -> bool:
        try:
            data = os.read(self.out_fd, 1 << 16)
        except BlockingIOError:
            return True
        except OSError:
            data = b""
        if not data:
            return False
        buf = self._buf + data
        pos = 0
        while len(buf) - pos >= OUT_RECORD.size:
            pid, stream, n = OUT_RECORD.unpack_from(buf, pos)
            end = pos + OUT_RECORD.size + n
            if end > len(buf):
                break
            self.record(pid, stream, buf[pos + OUT_RECORD.size:end])
            pos = end
        self._buf = buf[pos:]
        return True

    def record(self, pid: Any, stream: int, data: bytes) -> None:
        """Print what actor ``pid`` wrote (``stream``: STDOUT, STDERR, or their EOF markers)."""
        a = self.actors.get(pid)
        if a is None:
            a = self.actors.setdefault(pid, _Actor(None, f"(pid={pid}) ", None))
        if self.sink is not None:
            self.sink(pid, stream, data)
            if stream == STDERR:
                a.tail.extend(line for line in data.decode("utf-8", "replace").splitlines() if line.strip())
            elif stream == STDERR_EOF:
                a.stderr_closed.set()
            return
        if stream in (STDOUT_EOF, STDERR_EOF):
            stream = STDOUT if stream == STDOUT_EOF else STDERR
            rest, a.partial[stream] = a.partial[stream], b""
            if rest:
                self._emit(a, [(rest, "\n")], stream == STDERR)
            if stream == STDERR:
                a.stderr_closed.set()
            a.eofs += 1
            if a.eofs == 2 and len(self.actors) > 1024:  # forget finished actors (their tails were read)
                with self._lock:
                    for old in [p for p, x in self.actors.items() if x.eofs == 2][:512]:
                        del self.actors[old]
            return
        text = a.partial[stream] + data
        lead = ""
        if a.ended_cr[stream] and text[:1] == b"\n":  # the "\n" of a "\r\n" split across reads: end the line
            lead, text = "\n", text[1:]
        a.ended_cr[stream] = text.endswith(b"\r")  # shown at once: a progress bar must not wait for more
        pieces = []
        start = 0
        for m in _LINE_END.finditer(text):
            if m.group() != b"\r" or m.start() > start:  # an empty \r update shows nothing: skip it
                pieces.append((text[start:m.start()], "\r" if m.group() == b"\r" else "\n"))
            start = m.end()
        rest = text[start:]
        if len(rest) > _HOLD_MAX:  # a very long line without an end: print what we have
            pieces.append((rest, "\n"))
            rest = b""
        a.partial[stream] = rest
        if pieces or lead:
            self._emit(a, pieces, stream == STDERR, lead)

    @staticmethod
    def _emit(a: _Actor, pieces: list[tuple[bytes, str]], is_err: bool, lead: str = "") -> None:
        lines = [(p.decode("utf-8", "replace"), end) for p, end in pieces]
        if is_err:
            a.tail.extend(line for line, _ in lines if line.strip())
        out = sys.stderr if is_err else sys.stdout
        try:
            out.write(lead + "".join(f"{a.prefix}{line}{end}" for line, end in lines))
            out.flush()
        except (ValueError, OSError):  # the stream was closed (interpreter shutdown)
            pass

    def _check_memory(self, watched: list[_Actor]) -> None:
        for s in watched:
            limit = s.max_memory_mb
            actor = s.actor() if s.actor is not None else None
            if not limit or actor is None or actor.pid <= 0:
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
