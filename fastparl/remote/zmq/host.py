"""What runs in the process of an actor on a worker host: connect to its driver over ZeroMQ, then run the
shared dispatcher.

Started by the worker's fork server with ``req["zmq"]``: the driver's endpoint, this actor's
routing id, and the nonce and token to prove itself with.  The link is a DEALER socket to the
driver's ROUTER (one per driver, see :mod:`.hub`).  Before anything is unpickled, the actor proves
it holds the token and checks the driver's proof in return (see :mod:`.auth`).
"""

from __future__ import annotations

import sys
from typing import Any

import zmq

from fastparl.remote import dispatcher
from fastparl.remote.protocol import PeerClosed
from fastparl.remote.zmq import auth
from fastparl.remote.zmq.gate import plain_client, ticket
from fastparl.remote.zmq.wire import DataCodec, decode_control, encode_control

__all__ = ["serve_zmq", "ActorLink"]

HANDSHAKE_TIMEOUT_MS = 30_000


class ActorLink:
    """The actor's end of its link: a :class:`~fastparl.remote.transport.Link` for
    :func:`fastparl.remote.dispatcher.serve`."""

    def __init__(self, sock: zmq.Socket, where: str):
        self.sock = sock
        self.codec = DataCodec(where=where)

    def recv(self, timeout: float | None = None) -> tuple[int, int, Any, BaseException | None] | None:
        try:
            frames = self.sock.recv_multipart(copy=False)
        except zmq.ZMQError as e:
            raise PeerClosed(str(e)) from None
        if len(frames) == 1 and len(frames[0].buffer) == 0:  # the driver's goodbye
            raise PeerClosed("the driver closed the link")
        return DataCodec.decode(frames)

    def send(self, op: int, seq: int, payload: Any) -> None:
        frames = self.codec.encode(op, seq, payload)
        try:
            self.sock.send_multipart(frames, copy=len(frames) == 1)
        except zmq.ZMQError as e:
            raise PeerClosed(str(e)) from None


def serve_zmq(cfg: dict[str, Any]) -> int:
    """Connect, authenticate, then serve requests until the driver goes; returns the exit code."""
    token = cfg["token"].encode()
    identity = cfg["identity"]
    ctx = zmq.Context(io_threads=1)
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.ROUTING_ID, bytes.fromhex(identity))
    sock.setsockopt(zmq.LINGER, 2000)  # the last reply still leaves when we exit
    sock.setsockopt(zmq.RCVTIMEO, HANDSHAKE_TIMEOUT_MS)
    if cfg.get("curve"):
        auth.curve_client(sock, token, "hub")
    else:  # the hub's gate admits only the actors it spawned (see .gate)
        plain_client(sock, identity.encode(), ticket(token, "actor", identity, cfg["nonce"]))
    sock.connect(cfg["endpoint"])
    try:
        mine = auth.nonce()
        sock.send_multipart(encode_control("actor-hello", identity=identity, nonce=mine,
                                           proof=auth.proof(token, "actor", identity, cfg["nonce"], mine)))
        msg, _ = decode_control(sock.recv_multipart())
        if msg.get("kind") != "actor-welcome" or not auth.check(token, msg.get("proof"), "driver", identity,
                                                                 cfg["nonce"], mine):
            print(f"fastparl actor: the driver at {cfg['endpoint']} failed to authenticate; exiting", file=sys.stderr)
            return 2
        sock.setsockopt(zmq.RCVTIMEO, -1)
        return dispatcher.serve(ActorLink(sock, "the driver"), PeerClosed)
    except zmq.Again:
        print(f"fastparl actor: no answer from the driver at {cfg['endpoint']}; exiting", file=sys.stderr)
        return 2
    finally:
        sock.close()
        ctx.term()
