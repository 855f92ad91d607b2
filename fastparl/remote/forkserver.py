"""The fork server: a clean, single-threaded process that forks actors on request.

It is started (``python -m fastparl.remote.forkserver FD FD_SOCK DRIVER_PID``) from a fresh interpreter,
so it holds none of the driver's threads (paddle, BLAS) or large heap; it preloads numpy,
cloudpickle and fastparl's actor code, so that a forked actor answers its first call in
milliseconds.  It reaps its children and reports their exit codes to the driver.

Lifetime: when the driver goes away (even by SIGKILL) the control socket reaches EOF and the
server kills every actor it forked, then exits.  Each actor also has ``PR_SET_PDEATHSIG`` set to
SIGKILL on the server, and sees EOF on its own socket when the driver dies.
"""

from __future__ import annotations

import ctypes
import os
import select
import signal
import socket
import sys
import time

import numpy  # noqa: F401  - preloaded for the actors

from fastparl.remote import actor
from fastparl.remote.channel import Channel, PeerClosed
from fastparl.remote.protocol import ERR, OK, SPAWN, STATUS

_PR_SET_PDEATHSIG = 1


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent thread exits (Linux)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)
    except (OSError, AttributeError):
        pass


class ForkServer:
    def __init__(self, fd: int, fd_sock: int, driver_pid: int):
        self.ch = Channel(socket.socket(fileno=fd), socket.socket(fileno=fd_sock))
        self.driver_pid = driver_pid
        self.children: dict[int, None] = {}
        self.status: dict[int, int] = {}
        self.pid = os.getpid()
        r, w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self.wake_r = r
        signal.set_wakeup_fd(w)
        signal.signal(signal.SIGCHLD, lambda *_: None)

    def run(self) -> None:
        ch = self.ch
        ch.send(OK, 0, os.getpid())
        while True:
            while ch.has_frame():
                self.handle(ch.next_buffered())  # type: ignore[arg-type]
            r, _, _ = select.select([ch.fileno, self.wake_r], [], [])
            if self.wake_r in r:
                try:
                    os.read(self.wake_r, 4096)
                except BlockingIOError:
                    pass
                self.reap()
            if ch.fileno in r:
                try:
                    for frame in ch.poll():
                        self.handle(frame)
                except PeerClosed:
                    self.shutdown()
                    return

    def handle(self, frame: tuple) -> None:
        op, seq, payload, err = frame
        if op == SPAWN:
            fds = self.ch.take_fds(payload.pop("nfds"))  # sent just before the frame
            fds += [-1] * (4 - len(fds))  # no stdout/stderr pipes: the actor writes to ours
            try:
                pid = self.spawn(payload, *fds)
            except Exception as e:  # noqa: BLE001
                self.ch.send(ERR, seq, actor.error_info(e))
                return
            self.ch.send(OK, seq, pid)
        elif op == STATUS:
            self.reap()
            self.ch.send(OK, seq, self.status.get(payload))

    def spawn(self, req: dict, sock_fd: int, fd_sock: int, out_fd: int, err_fd: int) -> int:
        for stream in (sys.stdout, sys.stderr):
            stream.flush()
        pid = os.fork()
        if pid == 0:  # the actor
            code = 1
            try:
                self._become_actor(req, sock_fd, out_fd, err_fd)
                code = actor.serve(sock_fd, fd_sock)
            except PeerClosed:
                code = 0
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            except BaseException:  # noqa: BLE001
                import traceback

                traceback.print_exc()
            finally:
                try:
                    sys.stdout.flush()
                    sys.stderr.flush()
                finally:
                    os._exit(code)
        for fd in (sock_fd, fd_sock, out_fd, err_fd):
            if fd >= 0:
                os.close(fd)
        self.children[pid] = None
        return pid

    def _become_actor(self, req: dict, sock_fd: int, out_fd: int, err_fd: int) -> None:
        signal.set_wakeup_fd(-1)
        os.close(self.wake_r)
        self.ch.sock.close()  # the driver's link must not stay open here (others' were closed after their fork)
        self.ch.fd_sock.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
        set_pdeathsig(signal.SIGKILL)
        if os.getppid() != self.pid:
            os._exit(1)
        if out_fd >= 0:
            os.dup2(out_fd, 1)
            os.close(out_fd)
        if err_fd >= 0:
            os.dup2(err_fd, 2)
            os.close(err_fd)
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
            except (AttributeError, ValueError):
                pass
        for key, value in req.get("env", {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if req.get("nice"):
            os.nice(int(req["nice"]))

    def reap(self) -> None:
        while self.children:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                self.children.clear()
                return
            if pid == 0:
                return
            self.children.pop(pid, None)
            self.status[pid] = os.waitstatus_to_exitcode(status)

    def shutdown(self, grace: float = 1.0) -> None:
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for pid in list(self.children):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass
            deadline = time.monotonic() + grace
            while self.children and time.monotonic() < deadline:
                self.reap()
                if self.children:
                    time.sleep(0.005)
        self.reap()


def main() -> None:
    fd, fd_sock, driver_pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # No PDEATHSIG here: it fires when the driver *thread* that started us exits.  Driver death
    # (even SIGKILL) closes the control socket instead, and we then kill every actor.
    if os.getppid() != driver_pid:  # the driver died before we got here
        sys.exit(0)
    ForkServer(fd, fd_sock, driver_pid).run()


if __name__ == "__main__":
    main()
