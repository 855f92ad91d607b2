"""The workload and the baselines that ``perf/runtime/`` compares fastparl against.

Kept light on purpose: fastparl actors import this module (the benchmark class is shipped by
reference, as a user's module would be), so whatever it imports counts in actor start time.

* :class:`Bench`: the one workload class every system serves (fastparl, the multiprocessing
  proxy, Ray): no-op, pinning, arrays in/out, shared-array writes, weights reading, CPU spin.
* :class:`RawPeer`: the floor, a 1-byte round trip over a ``socketpair`` with a forked child.
* :class:`MpProxy`: what a user would write with plain ``multiprocessing``: a forked child that
  loops ``recv`` -> ``getattr`` -> ``send`` over a ``Pipe``, arrays as pickle-5 out-of-band
  buffers sent with ``send_bytes`` (one copy into the pipe, one out of it).
"""

from __future__ import annotations

import os
import pickle
import struct
from typing import Any, Callable

import numpy as np

__all__ = ["Bench", "touch", "spin", "RawPeer", "MpProxy", "pin_self"]

PAGE = 4096


def pin_self(cpu: int | None) -> None:
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})


def touch(arr: Any) -> int:
    """Read one byte of every page of ``arr`` (and its last byte); returns their sum."""
    a = np.asarray(arr)
    if a.nbytes == 0:
        return 0
    v = a.reshape(-1).view(np.uint8)
    return int(np.add.reduce(v[::PAGE], dtype=np.uint64)) + int(v[-1])


def spin(n: int) -> int:
    """Pure-Python CPU work: holds the GIL of its process for the whole loop."""
    s = 0
    for i in range(n):
        s += i
    return s


class Bench:
    """The workload served by every system under test."""

    def __init__(self) -> None:
        self.held: dict[int, np.ndarray] = {}

    def noop(self) -> None:
        return None

    def pid(self) -> int:
        return os.getpid()

    def pin(self, cpu: int | None) -> list[int]:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        return sorted(os.sched_getaffinity(0))

    def touch(self, arr: Any) -> int:
        return touch(arr)

    def hold(self, nbytes: int) -> None:
        """Allocate (and pre-fault) an array of ``nbytes`` that :meth:`give` returns."""
        a = np.empty(nbytes // 4, np.float32)
        a.fill(1.0)
        self.held[nbytes] = a

    def give(self, nbytes: int) -> np.ndarray:
        return self.held[nbytes]

    def drop(self) -> None:
        self.held.clear()

    def write_one(self, arr: Any) -> None:
        arr.reshape(-1)[0] = 1

    def read_weights(self, weights: Any) -> int:
        return sum(touch(v) for v in weights.values())

    def spin(self, n: int) -> int:
        return spin(n)


# ---------------------------------------------------------------------------------- raw socketpair
class RawPeer:
    """The floor: a forked child that echoes 1-byte messages over a Unix ``socketpair``."""

    def __init__(self, cpu: int | None = None):
        import socket

        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pid = os.fork()
        if pid == 0:  # child: echo bytes until EOF
            code = 0
            try:
                a.close()
                fd = b.fileno()
                _close_other_fds(fd)
                pin_self(cpu)
                rd, wr = os.read, os.write
                while True:
                    x = rd(fd, 65536)
                    if not x:
                        break
                    wr(fd, x)
            except BaseException:  # noqa: BLE001
                code = 1
            finally:
                os._exit(code)
        b.close()
        self.sock, self.pid = a, pid

    def ping(self) -> None:
        fd = self.sock.fileno()
        os.write(fd, b"x")
        os.read(fd, 1)

    def samples(self, n: int) -> np.ndarray:
        """Round-trip times (ns) of ``n`` ping-pongs."""
        import time

        fd = self.sock.fileno()
        rd, wr, clock = os.read, os.write, time.perf_counter_ns
        out = np.empty(n, np.int64)
        for i in range(n):
            t0 = clock()
            wr(fd, b"x")
            rd(fd, 1)
            out[i] = clock() - t0
        return out

    def pipelined(self, n: int, window: int = 100) -> None:
        """``n`` 1-byte writes (one system call each, like one frame per call) with at most ``window``
        unanswered, reading the echoes as they come: the floor for one send per pipelined call."""
        fd = self.sock.fileno()
        wr, rd = os.write, os.read
        got = 0
        for i in range(1, n + 1):
            wr(fd, b"x")
            while i - got >= window:
                got += len(rd(fd, 65536))
        while got < n:
            got += len(rd(fd, 65536))

    def close(self) -> None:
        import socket

        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # EOF for the child even if another process holds our end
        except OSError:
            pass
        self.sock.close()
        os.waitpid(self.pid, 0)


# ---------------------------------------------------------------------------------- multiprocessing
def _send(conn: Any, obj: Any) -> None:
    bufs: list[pickle.PickleBuffer] = []
    body = pickle.dumps(obj, 5, buffer_callback=bufs.append)
    conn.send_bytes(struct.pack("<I", len(bufs)) + body)
    for b in bufs:
        conn.send_bytes(b.raw())


def _recv(conn: Any) -> Any:
    head = conn.recv_bytes()
    (n,) = struct.unpack_from("<I", head)
    bufs = [conn.recv_bytes() for _ in range(n)]
    return pickle.loads(memoryview(head)[4:], buffers=bufs)


def _close_other_fds(keep: int) -> None:
    """In a forked child: drop every inherited descriptor but stdio and ``keep`` (other peers' and
    fastparl's sockets would otherwise stay open here and keep those peers from seeing EOF)."""
    os.closerange(3, keep)
    os.closerange(keep + 1, 1 << 16)


def _mp_serve(conn: Any, other: Any, cpu: int | None, factory: Callable[[], Any]) -> None:
    _close_other_fds(conn.fileno())
    pin_self(cpu)
    obj = factory()
    while True:
        try:
            msg = _recv(conn)
        except (EOFError, OSError):
            return
        if msg is None:
            return
        name, args, kwargs = msg
        try:
            result, ok = getattr(obj, name)(*args, **kwargs), True
        except Exception as e:  # noqa: BLE001
            result, ok = e, False
        args = kwargs = None
        _send(conn, (ok, result))
        result = None


class MpProxy:
    """A hand-written ``multiprocessing`` actor: fork + ``Pipe`` + a recv/getattr/send loop."""

    def __init__(self, factory: Callable[[], Any] = Bench, cpu: int | None = None):
        import multiprocessing as mp

        ctx = mp.get_context("fork")
        self.conn, child = ctx.Pipe(duplex=True)
        self.proc = ctx.Process(target=_mp_serve, args=(child, self.conn, cpu, factory), daemon=True)
        self.proc.start()
        child.close()

    def send(self, name: str, *args: Any, **kwargs: Any) -> None:
        _send(self.conn, (name, args, kwargs))

    def recv(self) -> Any:
        ok, value = _recv(self.conn)
        if not ok:
            raise value
        return value

    def call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        _send(self.conn, (name, args, kwargs))
        return self.recv()

    def pipelined(self, name: str, n: int, window: int = 100) -> list[Any]:
        """``n`` calls with up to ``window`` in flight.

        The window keeps both socket buffers from filling: with every call sent before any reply
        is read, about a thousand small messages deadlock both ends.
        """
        out = []
        inflight = 0
        for _ in range(n):
            _send(self.conn, (name, (), {}))
            inflight += 1
            if inflight >= window:
                out.append(self.recv())
                inflight -= 1
        for _ in range(inflight):
            out.append(self.recv())
        return out

    def close(self) -> None:
        try:
            _send(self.conn, None)  # asks the child to leave
            self.conn.close()
        except OSError:
            pass
        self.proc.join(2)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join()
