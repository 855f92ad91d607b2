"""One background thread per driver: prints actors' output and enforces ``max_memory``.

Actors' stdout and stderr reach the driver as records on one pipe from the fork server (see
:mod:`.forkserver`), or, for actors on worker daemons, as "output" control messages
(:meth:`Monitor.record`).  Where it goes is ``mode`` (``connect(log_to_driver=...)``):

* ``"terminal"`` (``True``): each line is printed with the actor's prefix, ``(ClassName pid=123)``;
* ``"file"``: each actor's output goes to its own file, ``<log dir>/<Class>-<pid>.log`` (``<Class>-<host>-<pid>``
  for an actor on another host), read with ``fastparl logs``; nothing reaches the terminal;
* ``"both"``: the terminal and the files.

Progress bars (carriage-return updates) are shown at a display rate: of the ``\\r`` updates of a
line, the latest is printed (ending in ``\\r``, so that a terminal shows it in place) at most every
:data:`CR_INTERVAL_S` per actor and stream, and the final state of a line always, with its ``\\n``;
updates superseded in between are dropped, nothing else.  Text without an end of line is held, up to
64 KiB, so the cost stays linear in the output.

Calls never wait for this thread, except for a reply that says its actor wrote something during the
call (:meth:`Monitor.sync`): the caller then waits (at most :data:`SYNC_TIMEOUT_S`) until what the actor
wrote before it replied has been printed, and its latest progress state shown, so that the driver's own
output after the call comes after it.  An actor that floods the terminal (over :attr:`Monitor.flood_lines`
lines/s or :attr:`Monitor.flood_bytes` bytes/s for :attr:`Monitor.flood_seconds` s) gets one note on
stderr that says how to keep its output off the terminal.
"""

from __future__ import annotations

import collections
import os
import selectors
import sys
import threading
import time
import weakref
from threading import get_ident
from typing import Any, Callable

import psutil

from fastparl.errors import ResourceError
from fastparl.remote.local.forkserver import OUT_RECORD, STDERR, STDERR_EOF, STDOUT, STDOUT_EOF
from fastparl.remote.logs import log_file_name, log_mode, log_root, make_session_dir, new_session_dir
from fastparl.remote.system import portable
from fastparl.remote.waiting import Flag, Waiters, closed_gate, wait_at

__all__ = ["Monitor"]

MEMORY_POLL_S = 0.05
CR_INTERVAL_S = 0.1  # a progress bar is shown at most this often per actor and stream (tqdm's default rate)
SYNC_TIMEOUT_S = 1.0  # the longest a call's return waits for the output its actor wrote before replying
_HOLD_MAX = 1 << 16


class _Actor:
    """What the monitor knows of one actor: its prefix, unfinished text, stderr tail, memory limit."""

    def __init__(self, actor: Any, prefix: str, max_memory_mb: float | None):
        self.actor = weakref.ref(actor) if actor is not None else None  # a gone handle must be freed
        self.prefix = prefix
        self.partial = {STDOUT: b"", STDERR: b""}
        self.last_cr: dict[int, bytes | None] = {STDOUT: None, STDERR: None}  # latest "\r" update of the open line
        self.cr_shown = {STDOUT: True, STDERR: True}  # ... and whether it was printed
        self.next_cr = {STDOUT: 0.0, STDERR: 0.0}  # not before this time (monotonic)
        self.received = {STDOUT: 0, STDERR: 0}  # bytes received per stream (what the actor's replies count)
        self.synced = Waiters()  # threads in Monitor.sync() for this actor, woken when its output arrives
        self.file: Any = None  # its log file, opened at its first output (mode "file" or "both")
        self.flood = [0.0, 0, 0, 0]  # window start, lines, bytes, windows over the limit in a row
        self.tail: collections.deque[str] = collections.deque(maxlen=20)
        self.stderr_closed = Flag()
        self.eofs = 0
        self.max_memory_mb = max_memory_mb
        self.process: psutil.Process | None = None


class Monitor:
    flood_lines = 1000  # lines/s ...
    flood_bytes = 1 << 20  # ... or bytes/s on the terminal ...
    flood_seconds = 3.0  # ... for this long: one note on stderr
    flood_window = 1.0

    def __init__(self, out_fd: int, on_eof: Callable[[], None] | None = None, *, receives: bool | None = None,
                 mode: Any = "terminal", log_dir: str | None = None):
        self.out_fd = out_fd  # read end of the fork server's output records, or -1
        self.on_eof = on_eof  # called (on the thread) when the fork server closes the pipe: it is gone
        self.receives = out_fd >= 0 if receives is None else receives  # all actors' output comes through record()
        self.mode = log_mode(mode)
        self.log_dir = log_dir  # the session's folder (made at the first file), None: new_session_dir()
        self.flood_noted = False
        self._cr_due = 0.0  # the earliest time a held progress update is due (0: none held)
        # record() and sync() print under it.  A plain lock, taken by `with` only, and sync() waits outside it: a
        # driver's thread interrupted there (Ctrl-C) must not leave it held (see fastparl.remote.waiting).
        self._printing = threading.Lock()
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
            old = self.actors.get(pid)
            new = self.actors[pid] = _Actor(actor, prefix, max_memory_mb)
            if old is not None:  # output that came first: keep its counts and held text
                for name in ("partial", "last_cr", "cr_shown", "next_cr", "received", "tail", "eofs", "file"):
                    setattr(new, name, getattr(old, name))
            if self.out_fd < 0 and not self.receives:
                new.stderr_closed.set()
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
        with self._printing:
            for a in list(self.actors.values()):
                for stream in (STDOUT, STDERR):
                    self._show_cr(a, stream, time.monotonic(), force=True)
                if a.file is not None:
                    try:
                        a.file.close()
                    except OSError:
                        pass
                    a.file = None
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
            if self._cr_due:
                now = time.monotonic()
                if now >= self._cr_due:
                    self._flush_due(now)
                if self._cr_due:
                    wait = max(0.0, self._cr_due - now)
                    timeout = wait if timeout is None else min(timeout, wait)
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
        with self._printing:
            self._record(a, stream, data)
            a.synced.wake_all()

    def _record(self, a: _Actor, stream: int, data: bytes) -> None:
        if stream in (STDOUT_EOF, STDERR_EOF):
            stream = STDOUT if stream == STDOUT_EOF else STDERR
            rest, a.partial[stream] = a.partial[stream], b""
            pieces = self._line_ends(a, stream, [rest] if rest else [])
            held = a.last_cr[stream]
            if held is not None:  # a progress bar left open: its final state
                pieces.append((held, b"\n"))
                a.last_cr[stream] = None
            if pieces:
                self._emit(a, pieces, stream == STDERR)
            if stream == STDERR:
                a.stderr_closed.set()
            a.eofs += 1
            if a.eofs == 2 and len(self.actors) > 1024:  # forget finished actors (their tails were read)
                with self._lock:
                    for old in [p for p, x in self.actors.items() if x.eofs == 2][:512]:
                        del self.actors[old]
            return
        a.received[stream] += len(data)
        text = a.partial[stream] + data if a.partial[stream] else data
        lines = text.split(b"\n")
        rest = lines.pop()  # after the last "\n": the open line
        pieces = self._line_ends(a, stream, lines)
        if b"\r" in rest:
            parts = rest.split(b"\r")
            rest = parts.pop()
            for part in reversed(parts):
                if part:  # the latest update; empty ones ("\r\r") show nothing
                    a.last_cr[stream], a.cr_shown[stream] = part, False
                    break
        if len(rest) > _HOLD_MAX:  # a very long line without an end: print what we have
            pieces.extend(self._line_ends(a, stream, [rest]))
            rest = b""
        a.partial[stream] = rest
        if pieces:
            self._emit(a, pieces, stream == STDERR)
        if not a.cr_shown[stream]:
            self._show_cr(a, stream, time.monotonic())

    @staticmethod
    def _line_ends(a: _Actor, stream: int, lines: list[bytes]) -> list[tuple[bytes, bytes]]:
        """The final state of each ended line: the text after its last "\\r" (updates before it are superseded)."""
        pieces = []
        for line in lines:
            if b"\r" in line:
                line = next((part for part in reversed(line.split(b"\r")) if part), b"")
            if not line and a.last_cr[stream] is not None:  # "...\r" then "\n": the update was the final state
                line = a.last_cr[stream]  # type: ignore[assignment]
            a.last_cr[stream] = None
            a.cr_shown[stream] = True
            pieces.append((line, b"\n"))
        return pieces

    def _show_cr(self, a: _Actor, stream: int, now: float, force: bool = False) -> None:
        """Print the held progress update of ``a`` if it is due (or ``force``), else make the thread wake for it."""
        if a.cr_shown[stream] or a.last_cr[stream] is None:
            return
        if force or now >= a.next_cr[stream]:
            a.cr_shown[stream] = True
            a.next_cr[stream] = now + CR_INTERVAL_S
            self._emit(a, [(a.last_cr[stream], b"\r")], stream == STDERR)  # type: ignore[list-item]
        elif not self._cr_due or a.next_cr[stream] < self._cr_due:
            self._cr_due = a.next_cr[stream]
            if threading.current_thread() is not self._thread:
                self._wake()

    def _flush_due(self, now: float) -> None:
        with self._printing:
            self._cr_due = 0.0
            for a in list(self.actors.values()):
                for stream in (STDOUT, STDERR):
                    self._show_cr(a, stream, now)

    def sync(self, pid: Any, n_out: int, n_err: int, timeout: float = SYNC_TIMEOUT_S) -> None:
        """Wait until actor ``pid``'s first ``n_out`` / ``n_err`` bytes of stdout / stderr were printed, then
        show its latest progress update: what it wrote before replying comes before what follows the call."""
        a = self.actors.get(pid)
        if a is None or not self.receives or self.mode == "off":
            return
        deadline = None
        me = get_ident()
        gate: threading.Lock | None = None
        try:
            while True:
                with self._printing:
                    if gate is not None:
                        a.synced.remove(me, gate)
                        gate = None
                    now = time.monotonic()
                    if deadline is None:
                        deadline = now + timeout
                    if a.received[STDOUT] >= n_out and a.received[STDERR] >= n_err or now >= deadline:
                        for stream in (STDOUT, STDERR):
                            self._show_cr(a, stream, now, force=True)
                        return
                    gate = closed_gate()
                    a.synced.add(me, gate)
                wait_at(gate, deadline - now)
        finally:
            if gate is not None:  # interrupted (Ctrl-C) while waiting
                with self._printing:
                    a.synced.remove(me, gate)

    def _emit(self, a: _Actor, pieces: list[tuple[bytes, bytes]], is_err: bool) -> None:
        if is_err:
            a.tail.extend(line.decode("utf-8", "replace") for line, _ in pieces if line.strip())
        mode = self.mode
        if mode in ("file", "both"):
            self._to_file(a, pieces)
        if mode not in ("terminal", "both"):
            return
        prefix = a.prefix.encode()
        data = b"".join(prefix + line + end for line, end in pieces)
        self._count_flood(a, pieces, len(data))
        out = sys.stderr if is_err else sys.stdout
        try:
            out.write(data.decode("utf-8", "replace"))
            out.flush()
        except (ValueError, OSError):  # the stream was closed (interpreter shutdown)
            pass

    def _to_file(self, a: _Actor, pieces: list[tuple[bytes, bytes]]) -> None:
        try:
            if a.file is None:
                if self.log_dir is None:
                    self.log_dir = new_session_dir()
                make_session_dir(self.log_dir)
                a.file = open(os.path.join(self.log_dir, log_file_name(a.prefix)), "ab")
            a.file.write(b"".join(line + end for line, end in pieces))
            a.file.flush()
        except OSError as e:  # a full disk must not stop the actors: say it once, on the terminal
            if a.file is not False:
                a.file = False
                sys.stderr.write(f"fastparl: cannot write the log of actor {a.prefix.strip()}: {e}\n")
        except AttributeError:  # a.file is False: writing failed before
            pass

    def _count_flood(self, a: _Actor, pieces: list[tuple[bytes, bytes]], nbytes: int) -> None:
        if self.flood_noted:
            return
        f = a.flood
        now = time.monotonic()
        f[1] += len(pieces)
        f[2] += nbytes
        span = now - f[0]
        if span < self.flood_window:
            return
        lines, rate = f[1] / span, f[2] / span
        f[3] = f[3] + 1 if (lines > self.flood_lines or rate > self.flood_bytes) and span < 2 * self.flood_window else 0
        f[0], f[1], f[2] = now, 0, 0
        if f[3] * self.flood_window >= self.flood_seconds:
            self.flood_noted = True
            what = f"{lines:,.0f} lines/s" if lines > self.flood_lines else f"{rate / 2**20:.1f} MB/s"
            try:
                sys.stderr.write(
                    f"fastparl: actor {a.prefix.strip()[1:-1]} is writing {what} to this terminal; "
                    "fastparl.connect(log_to_driver='file') keeps actors' output off it, in one file per actor "
                    f"(read them with `fastparl logs`, under {log_root()})\n")
            except (ValueError, OSError):
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
