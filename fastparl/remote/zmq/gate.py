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
"""

from __future__ import annotations

import logging
import secrets
import threading
from typing import Callable

import zmq

from fastparl.remote.zmq import auth
from fastparl.remote.zmq.limits import Throttle

__all__ = ["Gate", "routing_id", "ticket", "plain_client", "HANDSHAKE_IVL_MS"]

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
HANDSHAKE_IVL_MS = 10_000  # a connection that has not finished the handshake by then is closed
log = logging.getLogger("fastparl.gate")


def routing_id() -> bytes:
    """A random 16-byte routing id outside libzmq's generated ids (those start with a zero byte)."""
    rid = secrets.token_bytes(16)
    return rid if rid[0] else b"\x01" + rid[1:]


def ticket(token: bytes, *parts: str) -> bytes:
    """The PLAIN password a peer shows at the gate."""
    return auth.proof(token, "zap", *parts).encode()


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

    def __init__(self, ctx: zmq.Context, admit: Callable[[bytes, bytes], bool], what: str):
        self.admit = admit
        self.what = what
        self.refused = 0
        self.admitted = 0
        self._throttle = Throttle(log, 10.0)
        self._sock = ctx.socket(zmq.REP)
        self._sock.setsockopt(zmq.LINGER, 0)
        self._sock.bind(ZAP_ENDPOINT)  # before the server socket binds: no handshake goes unchecked
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="fastparl-gate", daemon=True)
        self._thread.start()

    def serve(self, sock: zmq.Socket, curve: bool) -> None:
        """Put ``sock`` (a server socket, not yet bound) behind the gate."""
        sock.setsockopt(zmq.ZAP_DOMAIN, b"fastparl")
        sock.setsockopt(zmq.HANDSHAKE_IVL, HANDSHAKE_IVL_MS)
        if not curve:
            sock.setsockopt(zmq.PLAIN_SERVER, 1)

    def _run(self) -> None:
        sock = self._sock
        try:
            while not self._stop:
                try:
                    if not sock.poll(200):
                        continue
                    frames = sock.recv_multipart()
                except zmq.ZMQError:
                    return  # the context is ending
                ok = self._decide(frames)
                reply = [frames[0] if frames else b"1.0", frames[1] if len(frames) > 1 else b"",
                         b"200" if ok else b"400", b"OK" if ok else b"not a fastparl peer", b"", b""]
                try:
                    sock.send_multipart(reply)
                except zmq.ZMQError:
                    return
        finally:
            sock.close(linger=0)

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
