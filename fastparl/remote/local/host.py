"""What runs in a local actor's process: set the process up, then serve requests until the driver goes.

The fork server (:mod:`.forkserver`) forks, drops what is its own in the child, and hands over to
:func:`run_actor`, which never returns: the process exits with the actor's exit code.  A driver's
actor serves the shared :func:`~fastparl.remote.dispatcher.serve` loop over the two sockets the
driver sent; a worker daemon's actor (``req["zmq"]``) connects to its remote driver instead
(:func:`fastparl.remote.zmq.host.serve_zmq`).
"""

from __future__ import annotations

import io
import os
import signal
import socket
import sys
from typing import Any, Callable, NoReturn

from fastparl.remote import dispatcher
from fastparl.remote.local.channel import Channel
from fastparl.remote.protocol import PeerClosed
from fastparl.remote.system.processes import set_pdeathsig

__all__ = ["run_actor"]


def run_actor(leave_server: Callable[[], None], req: dict[str, Any], fds: list[int], out_fds: list[int],
              server_pid: int) -> NoReturn:
    """The life of a freshly forked actor process (see :data:`fastparl.remote.protocol.SPAWN` for ``req``).

    Args:
        leave_server: closes, in this child, what belongs to the fork server.
        req: the SPAWN request.
        fds: the actor's frame socket and descriptor socket (none for a worker daemon's actor).
        out_fds: write ends of the pipes that become its stdout and stderr (none: keep the server's).
        server_pid: the fork server's pid (the actor exits at once if its parent is already gone).
    """
    code = 1
    try:
        os.setpgid(0, 0)
        leave_server()
        _become_actor(req, out_fds, server_pid)
        if "zmq" in req:
            from fastparl.remote.zmq.host import serve_zmq

            code = serve_zmq(req["zmq"])
        else:
            code = dispatcher.serve(Channel(socket.socket(fileno=fds[0]), socket.socket(fileno=fds[1])), PeerClosed)
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


def _become_actor(req: dict[str, Any], out_fds: list[int], server_pid: int) -> None:
    """Signals, parent-death signal, output pipes, environment, ``sys.path`` and working directory of the actor."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    set_pdeathsig(signal.SIGKILL)
    if os.getppid() != server_pid:
        os._exit(1)
    for target, fd in zip((1, 2), out_fds):
        os.dup2(fd, target)
        os.close(fd)
    if out_fds:
        _count_output()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.reconfigure(line_buffering=True)  # type: ignore[union-attr]
        except (AttributeError, ValueError):
            pass
    env = req.get("env")
    if env is not None:  # the driver's environment as it is now, not as it was when we started
        os.environ.clear()
        os.environ.update(env)
    for key, value in req.get("overrides", {}).items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    if req.get("path") is not None:  # the driver's, as it is now: what INIT unpickles may need it
        sys.path[:] = req["path"]
    if req.get("cwd"):
        os.chdir(req["cwd"])


class _CountingFile(io.FileIO):
    """Descriptor 1 or 2 of an actor: counts what Python writes there in :data:`dispatcher.WRITTEN`, so that
    the reply of a call that wrote output tells the driver how much to print before it returns."""

    def __init__(self, fd: int):
        super().__init__(fd, "w", closefd=False)
        self.index = fd

    def write(self, b: Any) -> int:  # type: ignore[override]
        n = super().write(b)
        if n:
            written = dispatcher.WRITTEN
            written[self.index] += n
            written[0] += n
        return n or 0


def _count_output() -> None:
    """Make sys.stdout and sys.stderr line-buffered text streams over counting descriptors 1 and 2.

    What Python code writes (print, sys.stdout / sys.stderr, logging, warnings, tqdm) is counted; what
    C code writes straight to descriptor 1 or 2 reaches the driver as before, but is not waited for."""
    for name, fd in (("stdout", 1), ("stderr", 2)):
        old = getattr(sys, name)
        try:
            old.flush()
            encoding, errors = old.encoding, old.errors
        except (AttributeError, ValueError, OSError):
            encoding, errors = "utf-8", "backslashreplace"
        new = io.TextIOWrapper(io.BufferedWriter(_CountingFile(fd)), encoding=encoding, errors=errors,
                               line_buffering=True)
        setattr(sys, name, new)
        setattr(sys, f"__{name}__", new)
