"""The gate in front of our ROUTER sockets: only peers holding the token may open a connection.

Why: a ZeroMQ ROUTER that accepts anonymous peers *and* peer-chosen routing ids can be aborted by
anyone who can reach its port.  libzmq gives anonymous peers predictable ids (``00`` + a counter
starting at ``6b8b4567``); a peer that announces the next ones and then connects anonymously trips
``Assertion failed: ok (src/socket_base.cpp:2113)``, before fastparl sees a byte.  A ZAP handler
cannot see the id a peer announces (libzmq passes the server's own id), so the gate keeps strangers
from completing the ZeroMQ handshake at all:

* default transport: the server socket is a ZMTP ``PLAIN`` server, and this module's ZAP handler
  admits a peer only if its PLAIN credentials are a proof derived from the token (:func:`ticket`).
  For a worker the proof is ``HMAC(token, "zap", "worker")``; for a driver's hub it is per actor,
  ``HMAC(token, "zap", "actor", actor id, spawn nonce)``, admitted only for actors the hub is waiting
  for (or serving, so that a reconnect after a blip works).  PLAIN costs nothing after the handshake:
  data frames travel exactly as before.  A stranger never gets a message through, so it cannot
  collide routing ids, send frames (of any size) or take over anyone's session; a peer using
  ``NULL`` is refused by libzmq itself (mechanism mismatch).  The credentials travel in the clear: as
  the rest of the default transport, this keeps out anyone who cannot *read* the traffic; use
  CurveZMQ (``--curve`` / ``FASTPARL_CURVE=1``) on networks where others can.
* CurveZMQ: the server key pair is derived from the token, so only token holders can complete the
  handshake; the gate admits every CURVE peer.

Our own clients never connect anonymously: they choose a random 16-byte routing id whose first byte
is nonzero (:func:`routing_id`), outside libzmq's space of generated ids.  The ZAP handler runs in
one thread per context (``inproc://zeromq.zap.01``), and logs refusals at most once per 10 s.

Memory before the handshake.  The gate decides after the peer's first command (PLAIN ``HELLO``), and
libzmq buffers that command whole: a stranger could declare a 200 MB "HELLO" and stream it.  So every
served socket takes frames of at most ``MAX_FRAME_BYTES`` (:mod:`.wire` splits larger parts, files
travel in chunks), a connection that has not finished the handshake after ``HANDSHAKE_IVL_MS`` is
closed by libzmq, and :class:`_HalfOpen` keeps at most ``MAX_HALF_OPEN`` connections in the handshake
at once (on Linux), shutting down those holding the most bytes.  All strangers together can therefore make a
worker or a driver hold at most ``MAX_HALF_OPEN * MAX_FRAME_BYTES`` (32 MiB) plus libzmq's few KiB per
connection, however many connect.
"""

from __future__ import annotations

import itertools
import logging
import os
import secrets
import socket
import struct
import sys
import threading
import time
from typing import Callable

import zmq

from fastparl.remote.zmq import auth
from fastparl.remote.zmq.limits import Throttle
from fastparl.remote.zmq.wire import FRAME_BYTES

__all__ = ["Gate", "routing_id", "ticket", "plain_client", "HANDSHAKE_IVL_MS", "MAX_FRAME_BYTES", "MAX_HALF_OPEN"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
HANDSHAKE_IVL_MS = 10_000  # a connection that has not finished the handshake by then is closed
MAX_FRAME_BYTES = FRAME_BYTES + (64 << 10)  # what one frame may hold on a served socket (data + headers)
MAX_HALF_OPEN = 32  # connections in the handshake at once, per served socket
log = logging.getLogger("fastparl.gate")


def routing_id() -> bytes:
    """A random 16-byte routing id outside libzmq's generated ids (those start with a zero byte)."""
    rid = secrets.token_bytes(16)
    return rid if rid[0] else b"\x01" + rid[1:]


def ticket(token: bytes, *parts: str) -> bytes:
    """The PLAIN password a peer shows at the gate."""
    return auth.proof(token, "zap", *parts).encode()


_monitors = itertools.count()


def monitor_socket(sock: zmq.Socket, events: int) -> zmq.Socket:
    """``sock.get_monitor_socket(events)`` at an address of its own: pyzmq's default names it after the
    descriptor number, which a socket closed a moment ago may still hold (``Address already in use``)."""
    return sock.get_monitor_socket(events, addr=f"inproc://fastparl-monitor-{os.getpid()}-{next(_monitors)}")


def plain_client(sock: zmq.Socket, username: bytes, password: bytes) -> None:
    sock.setsockopt(zmq.PLAIN_USERNAME, username)
    sock.setsockopt(zmq.PLAIN_PASSWORD, password)


class Gate:
    """The ZAP handler of one context, deciding for the server sockets that use it.

    Args:
        admit: ``admit(username, password) -> bool`` for PLAIN peers (CURVE peers are admitted: only
            token holders can finish a CURVE handshake with our token-derived server keys).
        what: names the server in log lines.
    """

    def __init__(self, ctx: zmq.Context, admit: Callable[[bytes, bytes], bool], what: str,
                 on_closed: Callable[[int], None] | None = None):
        self.admit = admit
        self.on_closed = on_closed  # called (in the gate's thread) with the descriptor of each connection that closed
        self.what = what
        self.refused = 0
        self.admitted = 0
        self._throttle = Throttle(log, 10.0)
        self._sock = ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)  # before the server socket binds: no handshake goes unchecked
        self._half_open: list[_HalfOpen] = []
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fastparl-gate", daemon=True)
        self._thread.start()

    def serve(self, sock: zmq.Socket, curve: bool) -> None:
        """Put ``sock`` (a server socket, not yet bound) behind the gate."""
        sock.setsockopt(zmq.ZAP_DOMAIN, b"fastparl")
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
        sock.setsockopt(zmq.MAXMSGSIZE, MAX_FRAME_BYTES)  # per frame, the handshake's commands included
        if not curve:
            sock.setsockopt(zmq.PLAIN_SERVER, 1)
        if _HalfOpen.supported() or self.on_closed is not None:
            monitor = monitor_socket(sock, zmq.EVENT_ACCEPTED | zmq.EVENT_DISCONNECTED)
            self._half_open.append(_HalfOpen(monitor, self.what, self._throttle, self.on_closed))

    def _run(self) -> None:
        sock = self._sock
        poller = zmq.Poller()
        poller.register(sock, zmq.POLLIN)
        watched: set = set()
        try:
            while not self._stop:
                for h in list(self._half_open):  # sockets served after the thread started
                    if h.monitor not in watched:
                        watched.add(h.monitor)
                        poller.register(h.monitor, zmq.POLLIN)
                try:
                    ready = dict(poller.poll(200))
                except zmq.ZMQError:
                    return  # the context is ending
                for h in self._half_open:
                    if h.monitor in ready:
                        h.on_events()
                if sock not in ready:
                    continue
                try:
                    frames = sock.recv_multipart()
                except zmq.ZMQError:
                    return
                ok = self._decide(frames)
                reply = [frames[0] if frames else b"1.0", frames[1] if len(frames) > 1 else b"",
                         b"200" if ok else b"400", b"OK" if ok else b"not a fastparl peer", b"", b""]
                try:
                    sock.send_multipart(reply)
                except zmq.ZMQError:
                    return
        finally:
            sock.close(linger=0)
            for h in self._half_open:
                h.monitor.close(linger=0)

    def _decide(self, frames: list[bytes]) -> bool:
        try:
            mechanism = frames[5] if len(frames) >= 6 else b""
            address = frames[3].decode(errors="replace") if len(frames) >= 4 else "?"
            if mechanism == b"CURVE":
                ok = True
            elif mechanism == b"PLAIN" and len(frames) == 8:
                ok = bool(self.admit(frames[6], frames[7]))
            else:
                ok = False
        except Exception:  # noqa: BLE001 - the gate must answer whatever happens
            log.exception("error in the ZAP handler")
            ok, address = False, "?"
        if ok:
            self.admitted += 1
        else:
            self.refused += 1
            self._throttle.warn("refused", "%s refused a connection from %s without the token (%d refused so far)",
                                self.what, address, self.refused)
        return ok

    def close(self) -> None:
        self._stop = True
        if self._thread is not threading.current_thread():
            self._thread.join(2.0)


class _HalfOpen:
    """Keeps at most ``MAX_HALF_OPEN`` connections of one server socket in the ZeroMQ handshake.

    A ROUTER cannot drop one peer, and libzmq's monitor names a connection only by its descriptor
    (``EVENT_ACCEPTED``), not when its handshake succeeds.  The kernel knows, though: until the gate
    has decided, the server has sent its 64-byte greeting and nothing more (``WELCOME``, ``READY`` or
    ``ERROR`` follow the decision).  So when more than ``MAX_HALF_OPEN`` young connections are open,
    those whose server side has sent no more than the greeting are shut down, the ones that sent us
    the most bytes first (an honest handshake is ~100 bytes), then the oldest
    (``shutdown(2)`` on a duplicate of the descriptor: libzmq sees the end and closes it as usual).
    A descriptor is acted on only while it still joins the same two addresses as when it was
    accepted, so a number reused for a newer connection is never mistaken for an older one.
    Linux only (``TCP_INFO``, ``TIOCOUTQ``); elsewhere the handshake deadline alone applies.
    """

    GREETING = 64  # bytes of a ZMTP 3 greeting

    def __init__(self, monitor: zmq.Socket, what: str, throttle: Throttle,
                 on_closed: Callable[[int], None] | None = None):
        self.monitor = monitor
        self.on_closed = on_closed
        self.capped = self.supported()
        self.what = what
        self.throttle = throttle
        self.young: dict[int, tuple[float, tuple, tuple]] = {}  # fd -> (accepted at, our address, peer's)
        self.shut = 0

    @staticmethod
    def supported() -> bool:
        return sys.platform.startswith("linux") and hasattr(socket, "TCP_INFO")

    def on_events(self) -> None:
        from zmq.utils.monitor import parse_monitor_message

        while True:
            try:
                event = parse_monitor_message(self.monitor.recv_multipart(zmq.NOBLOCK))
            except zmq.Again:
                break
            except zmq.ZMQError:
                return
            fd = event["value"]
            if event["event"] == zmq.EVENT_ACCEPTED:
                ends = _ends(fd) if self.capped else None
                if ends is not None:
                    self.young[fd] = (time.monotonic(), *ends)
            else:
                self.young.pop(fd, None)
                if self.on_closed is not None:
                    self.on_closed(fd)
        if self.capped and len(self.young) > MAX_HALF_OPEN:
            self._enforce()

    def _enforce(self) -> None:
        expired = time.monotonic() - HANDSHAKE_IVL_MS / 1000 - 1.0
        half_open: list[tuple[int, float, int, tuple]] = []
        for fd, (accepted, ours, theirs) in list(self.young.items()):
            counts = _counts(fd, (ours, theirs)) if accepted > expired else None
            if counts is None or counts[0] > self.GREETING:  # gone, reused, or past the gate: no longer half-open
                del self.young[fd]
            else:
                half_open.append((counts[1], -accepted, fd, (ours, theirs)))
        # Those holding the most bytes go first (an honest handshake is ~100 bytes), then the oldest.
        for _, _, fd, pair in sorted(half_open, reverse=True):
            if len(self.young) <= MAX_HALF_OPEN:
                return
            _shutdown(fd, pair)
            del self.young[fd]
            self.shut += 1
            self.throttle.warn("half-open", "%s closed connections still in the handshake beyond %d at once "
                               "(%d so far)", self.what, MAX_HALF_OPEN, self.shut)


def _dup(fd: int) -> socket.socket | None:
    try:
        return socket.socket(fileno=os.dup(fd))
    except OSError:
        return None


def _ends(fd: int) -> tuple[tuple, tuple] | None:
    s = _dup(fd)
    if s is None:
        return None
    try:
        return s.getsockname(), s.getpeername()
    except OSError:
        return None
    finally:
        s.close()


def _counts(fd: int, ends: tuple) -> tuple[int, int] | None:
    """(bytes the server side of ``fd`` has sent, acknowledged or queued; bytes it received), if ``fd`` is
    still the connection between ``ends``."""
    import fcntl
    import termios

    s = _dup(fd)
    if s is None:
        return None
    try:
        if (s.getsockname(), s.getpeername()) != ends:
            return None
        info = s.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 232)
        if len(info) < 128:
            return None
        acked, received = struct.unpack_from("@QQ", info, 120)  # tcpi_bytes_acked, tcpi_bytes_received (Linux >= 4.1)
        queued = struct.unpack("@i", fcntl.ioctl(s.fileno(), termios.TIOCOUTQ, b"\0\0\0\0"))[0]
        return acked + queued, received
    except OSError:
        return None
    finally:
        s.close()


def _shutdown(fd: int, ends: tuple) -> None:
    s = _dup(fd)
    if s is None:
        return
    try:
        if (s.getsockname(), s.getpeername()) == ends:
            s.shutdown(socket.SHUT_RDWR)
    except OSError:
        pass
    finally:
        s.close()
