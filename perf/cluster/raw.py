"""The cluster report's baseline: raw pyzmq peers with the topology of fastparl actors and their driver's hub.

A ROUTER socket in the driver and ``n`` forked DEALER peers connected to it over loopback TCP: what a
user would write by hand with pyzmq, and the same sockets a fastparl actor and its hub use.  Arrays go
as ``copy=False`` frames both ways, so the baseline pays only what ZeroMQ itself pays.
"""

from __future__ import annotations

import os

import numpy as np
import zmq

from perf.common.baselines import touch

__all__ = ["RawZmq"]


MECHANISMS = ("null", "plain", "curve")


class RawZmq:
    """``peers`` forked DEALER peers and a ROUTER here; single-peer calls go to the first peer.

    ``mechanism``: ZMTP's ``"null"`` (no security), ``"plain"`` (a username and password checked by a ZAP
    handler, pyzmq's ``ThreadAuthenticator``: what fastparl's default transport does) or ``"curve"``
    (CurveZMQ encryption, any client key admitted by the ZAP handler: what ``--curve`` does).
    """

    def __init__(self, peers: int = 1, mechanism: str = "null") -> None:
        if peers < 1:
            raise ValueError(f"RawZmq needs at least one peer, got peers={peers}")
        if mechanism not in MECHANISMS:
            raise ValueError(f"mechanism must be one of {MECHANISMS}, got {mechanism!r}")
        self.ctx = zmq.Context()
        self.sock = self.ctx.socket(zmq.ROUTER)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.auth = None
        server_public = b""
        if mechanism != "null":
            from zmq.auth import CURVE_ALLOW_ANY
            from zmq.auth.thread import ThreadAuthenticator

            self.auth = ThreadAuthenticator(self.ctx)
            self.auth.start()
            self.sock.setsockopt(zmq.ZAP_DOMAIN, b"bench")
            if mechanism == "plain":
                self.auth.configure_plain(domain="bench", passwords={"bench": "a-ticket-" + "0" * 55})
                self.sock.setsockopt(zmq.PLAIN_SERVER, 1)
            else:
                self.auth.configure_curve(domain="*", location=CURVE_ALLOW_ANY)
                server_public, server_secret = zmq.curve_keypair()
                self.sock.setsockopt(zmq.CURVE_SECRETKEY, server_secret)
                self.sock.setsockopt(zmq.CURVE_SERVER, 1)
        port = self.sock.bind_to_random_port("tcp://127.0.0.1")
        self.pids: list[int] = []
        for _ in range(peers):
            pid = os.fork()
            if pid == 0:  # the peer
                try:
                    _raw_peer(port, mechanism, server_public)
                finally:
                    os._exit(0)
            self.pids.append(pid)
        self.idents = [self.sock.recv_multipart()[0] for _ in range(peers)]
        self.ident = self.idents[0]

    def ping(self) -> None:
        self.sock.send_multipart([self.ident, b"p"])
        self.sock.recv_multipart()

    def send_in(self, arr: np.ndarray) -> None:
        """An array to the peer, which touches every page of it and acks."""
        self.sock.send_multipart([self.ident, b"i", arr], copy=False)
        self.sock.recv_multipart()

    def get_out(self, n: int) -> np.ndarray:
        """An array of ``n`` bytes from the peer, received without a copy."""
        self.sock.send_multipart([self.ident, b"o", str(n).encode()])
        frames = self.sock.recv_multipart(copy=False)
        return np.frombuffer(frames[1].buffer, np.uint8)

    def pipelined(self, n: int) -> None:
        """``n`` pings sent round-robin over the peers before the first reply is read, then all replies."""
        idents, k = self.idents, len(self.idents)
        for i in range(n):
            self.sock.send_multipart([idents[i % k], b"p"])
        for _ in range(n):
            self.sock.recv_multipart()

    def close(self) -> None:
        for ident in self.idents:
            self.sock.send_multipart([ident, b"q"])
        for pid in self.pids:
            os.waitpid(pid, 0)
        self.sock.close()
        if self.auth is not None:
            self.auth.stop()
        self.ctx.term()


def _raw_peer(port: int, mechanism: str = "null", server_public: bytes = b"") -> None:
    ctx = zmq.Context()
    s = ctx.socket(zmq.DEALER)
    if mechanism == "plain":
        s.setsockopt(zmq.PLAIN_USERNAME, b"bench")
        s.setsockopt(zmq.PLAIN_PASSWORD, b"a-ticket-" + b"0" * 55)
    elif mechanism == "curve":
        public, secret = zmq.curve_keypair()
        s.setsockopt(zmq.CURVE_PUBLICKEY, public)
        s.setsockopt(zmq.CURVE_SECRETKEY, secret)
        s.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    s.connect(f"tcp://127.0.0.1:{port}")
    s.send(b"hi")
    held: dict[int, np.ndarray] = {}
    while True:
        frames = s.recv_multipart(copy=False)
        op = frames[0].bytes
        if op == b"p":
            s.send(b"r")
        elif op == b"i":
            touch(np.frombuffer(frames[1].buffer, np.uint8))
            s.send(b"k")
        elif op == b"o":
            n = int(frames[1].bytes)
            arr = held.setdefault(n, np.ones(n, np.uint8))
            s.send_multipart([b"a", arr], copy=False)
        else:
            break
    s.close()
    ctx.term()
