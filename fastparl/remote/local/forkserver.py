"""The fork server: a clean, single-threaded process that forks actors on request.

Started as ``python -m fastparl.remote.local.forkserver FD FD_SOCK OUT_FD DRIVER_PID`` from a fresh
interpreter, so it holds none of the driver's threads (paddle, BLAS) or large heap; it preloads
numpy, cloudpickle and fastparl's actor code, so that a forked actor answers its first call in
milliseconds.

What it does for the driver:

* ``SPAWN``: fork an actor on the two sockets the driver sent (or, for a worker daemon's actor,
  one that connects to its remote driver over ZeroMQ: ``req["zmq"]``); reply with its pid.  Each
  reply carries the sequence number of its request, so a late reply can never be taken for another.
* Output: each actor's stdout and stderr are pipes read here and forwarded to the driver as
  records on one pipe (``OUT_FD``), so the driver holds no descriptor per actor for them.
* ``STATUS``: an actor's exit code (after forwarding the last of its output).

The requests and replies are frames of :mod:`fastparl.remote.protocol` over a
:class:`~.channel.Channel`.  An output record on ``OUT_FD`` (read by :mod:`.monitor`) is, little-endian:

=========  =====  ===========================================================================
field      type   meaning
=========  =====  ===========================================================================
pid        u32    the actor that wrote it
stream     u8     ``STDOUT`` 1, ``STDERR`` 2; ``STDOUT_EOF`` 3, ``STDERR_EOF`` 4: that pipe closed
length     u32    the number of bytes that follow (0 for an EOF record)
data       bytes  what the actor wrote, as read from its pipe (at most 64 KiB a record)
=========  =====  ===========================================================================

What runs in the forked actor is :mod:`.host`'s; this module keeps the server.

Lifetime: every actor leads its own process group, and this server is a *child subreaper*, so
whatever an actor starts (``multiprocessing``, ``subprocess``, double forks) stays below it.  When
an actor exits, its whole group and any orphan it left are killed at once: a child that inherited
the actor's socket can never keep the driver's call waiting.  When the driver goes away (even by
SIGKILL) the control socket reaches EOF and the server kills everything below it, then exits.
Each actor also has ``PR_SET_PDEATHSIG`` set to SIGKILL on the server.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import struct
import sys
import time

import numpy  # noqa: F401  - preloaded for the actors

from fastparl.remote.error_messages import error_info
from fastparl.remote.local import host
from fastparl.remote.local.channel import Channel
from fastparl.remote.protocol import ERR, OK, SPAWN, STATUS, PeerClosed
from fastparl.remote.system import portable
from fastparl.remote.system.processes import PR_SET_CHILD_SUBREAPER, killpg, prctl, raise_fd_limit

__all__ = ["OUT_RECORD", "STDOUT", "STDERR", "STDOUT_EOF", "STDERR_EOF"]

OUT_RECORD = struct.Struct("<IBI")  # pid u32, stream u8, length u32 (little-endian); then `length` bytes
STDOUT, STDERR, STDOUT_EOF, STDERR_EOF = 1, 2, 3, 4
_CHUNK = 1 << 16


class ForkServer:
    def __init__(self, fd: int, fd_sock: int, out_fd: int, driver_pid: int):
        self.ch = Channel(socket.socket(fileno=fd), socket.socket(fileno=fd_sock))
        self.out_fd = out_fd  # records of actors' output for the driver, or -1: actors write to ours
        self.driver_pid = driver_pid
        self.actors: dict[int, list[int]] = {}  # pid -> its output pipes still open here
        self.status: dict[int, int] = {}
        self.pid = os.getpid()
        self.sel = selectors.DefaultSelector()
        r, w = portable.pipe(nonblocking=True)
        self.wake_r, self.wake_w = r, w
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        self.sel.register(self.ch.fd, selectors.EVENT_READ, "ctl")
        self.sel.register(r, selectors.EVENT_READ, "wake")

    # ------------------------------------------------------------------ main loop
    def run(self) -> None:
        ch = self.ch
        ch.send(OK, 0, os.getpid())
        while True:
            while ch.has_frame():
                self.handle(ch.next_buffered())  # type: ignore[arg-type]
            for key, _ in self.sel.select():
                if key.data == "wake":
                    try:
                        os.read(self.wake_r, 4096)
                    except BlockingIOError:
                        pass
                    self.reap()
                elif key.data == "ctl":
                    try:
                        for frame in ch.poll():
                            self.handle(frame)
                    except PeerClosed:
                        self.shutdown()
                        return
                elif key.fd in self.sel.get_map():  # not closed by an earlier event of this round
                    self.forward(key.fd, *key.data)

    def handle(self, frame: tuple) -> None:
        op, seq, payload, err = frame
        if op == SPAWN:
            fds = self.ch.take_fds(payload.pop("nfds"))  # sent just before the frame
            try:
                pid = self.spawn(payload, fds)
            except Exception as e:  # noqa: BLE001
                self.ch.send(ERR, seq, error_info(e))
                return
            self.ch.send(OK, seq, pid)
        elif op == STATUS:
            self.reap()
            self.drain(payload)
            self.ch.send(OK, seq, self.status.get(payload))

    # ------------------------------------------------------------------ actors
    def spawn(self, req: dict, fds: list[int]) -> int:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pipes = [portable.pipe(), portable.pipe()] if self.out_fd >= 0 else []
        pid = os.fork()
        if pid == 0:  # the actor: never returns
            host.run_actor(lambda: self._leave_server([r for r, _ in pipes]), req, fds, [w for _, w in pipes],
                           self.pid)
        try:
            os.setpgid(pid, pid)  # also here, so that killpg works even before the child ran
        except OSError:
            pass
        for fd in fds:
            os.close(fd)
        self.actors[pid] = []
        for stream, (r, w) in zip((STDOUT, STDERR), pipes):
            os.close(w)
            os.set_blocking(r, False)
            self.sel.register(r, selectors.EVENT_READ, (pid, stream))
            self.actors[pid].append(r)
        return pid

    def _leave_server(self, close_fds: list[int]) -> None:
        """In a new actor: drop what is the fork server's (its wake-up, selector, links and other actors' pipes)."""
        signal.set_wakeup_fd(-1)
        self.sel.close()
        for fd in [self.wake_r, self.wake_w, self.ch.fd, self.ch.fd_sock.fileno(), *close_fds,
                   *(r for fds in self.actors.values() for r in fds)]:
            try:
                os.close(fd)  # the driver's links, and other actors' pipes, must not stay open here
            except OSError:
                pass
        if self.out_fd >= 0:
            os.close(self.out_fd)

    # ------------------------------------------------------------------ output
    def forward(self, fd: int, pid: int, stream: int) -> None:
        try:
            data = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._record(pid, stream, data)
            return
        self.sel.unregister(fd)
        os.close(fd)
        fds = self.actors.get(pid)
        if fds is not None and fd in fds:
            fds.remove(fd)
            if not fds and pid in self.status:
                del self.actors[pid]
        self._record(pid, STDOUT_EOF if stream == STDOUT else STDERR_EOF, b"")

    def _record(self, pid: int, stream: int, data: bytes) -> None:
        try:
            os.write(self.out_fd, OUT_RECORD.pack(pid, stream, len(data)) + data)
        except OSError:
            pass  # the driver stopped reading: it is going away

    def drain(self, pid: int, wait: float = 0.5) -> None:
        """Forward what a dead actor wrote, up to EOF of its pipes (its group is dead: EOF is near)."""
        deadline = time.monotonic() + wait
        while self.actors.get(pid) and pid in self.status and time.monotonic() < deadline:
            for fd in list(self.actors.get(pid, ())):
                self.forward(fd, *self.sel.get_key(fd).data)
            if self.actors.get(pid):
                time.sleep(0.002)

    # ------------------------------------------------------------------ children
    def reap(self) -> None:
        dead = []
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                break
            if pid == 0:
                break
            if pid in self.actors:
                self.status[pid] = os.waitstatus_to_exitcode(status)
                dead.append(pid)
        for pid in dead:  # whatever the actor started dies with it
            killpg(pid)
            if not self.actors[pid]:
                del self.actors[pid]
        if dead:
            self.kill_orphans()

    def kill_orphans(self) -> None:
        """Kill processes reparented to us (we are a subreaper) whose actor is gone."""
        live_groups = {pid for pid in self.actors if pid not in self.status}
        for pid in _children(self.pid):
            if pid in self.actors:
                continue
            try:
                if os.getpgid(pid) in live_groups:
                    continue  # still in a live actor's group: it ends with that actor
            except ProcessLookupError:
                continue
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def shutdown(self, grace: float = 1.0) -> None:
        live = [pid for pid in self.actors if pid not in self.status]
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in live:
                killpg(pid, sig)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.reap()
                live = [pid for pid in self.actors if pid not in self.status]
                if not live:
                    break
                time.sleep(0.005)
        for pid in list(self.actors):
            killpg(pid)
        for pid in _children(self.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.reap()


def _children(ppid: int) -> list[int]:
    """Pids whose parent is ``ppid`` (children and reparented orphans)."""
    try:
        with open(f"/proc/{ppid}/task/{ppid}/children") as f:
            return [int(p) for p in f.read().split()]
    except OSError:
        pass
    out = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    if int(f.read().rpartition(")")[2].split()[1]) == ppid:
                        out.append(int(name))
            except (OSError, ValueError, IndexError):
                pass
    return out


def main() -> None:
    fd, fd_sock, out_fd, driver_pid = (int(a) for a in sys.argv[1:5])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # No PDEATHSIG here: it fires when the driver *thread* that started us exits.  Driver death
    # (even SIGKILL) closes the control socket instead, and we then kill every actor.
    if os.getppid() != driver_pid:  # the driver died before we got here
        sys.exit(0)
    prctl(PR_SET_CHILD_SUBREAPER, 1)
    raise_fd_limit()
    portable.configure()  # the driver's FASTPARL_SHM, inherited with its environment
    for module in filter(None, os.environ.get("FASTPARL_FORKSERVER_PRELOAD", "").split(",")):
        __import__(module)  # e.g. a worker daemon's actors speak ZeroMQ: import it once, here
    ForkServer(fd, fd_sock, out_fd, driver_pid).run()


if __name__ == "__main__":
    main()
