"""The shared token, and the mutual HMAC challenge-response every connection starts with.

A worker runs code it is sent, so nothing is unpickled before both sides have proved that they
hold the same secret token:

1. client -> worker  ``hello``     with a fresh client nonce;
2. worker -> client  ``challenge`` with a fresh worker nonce and HMAC(token, "worker", both nonces);
3. client checks it (a worker without the token cannot answer), then -> ``auth`` with
   HMAC(token, "client", both nonces);
4. worker checks it -> ``welcome`` (or ``denied``).

The exchange is JSON; the token never travels.  It runs inside connections that already passed the
gate of :mod:`.gate` (a ZAP handler admitting only token holders), so a stranger never gets this far.  It is sound on a trusted network: it keeps out
anyone without the token, but does not encrypt.  For untrusted networks, ``fastparl worker --curve``
and ``FASTPARL_CURVE=1`` (or ``connect(..., curve=True)``) encrypt every connection with CurveZMQ:
the servers' key pairs (the worker's, and the driver's hub's) are derived from the token, so no key
files need copying; clients use fresh key pairs, and the HMAC handshake still runs inside.

The token comes from ``FASTPARL_TOKEN``, else from a token file (``FASTPARL_TOKEN_FILE`` or
``~/.fastparl/token``) that must be readable by its owner only (mode 0600), as ssh requires of keys.
``fastparl worker`` creates that file on first start.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import secrets
import stat
from typing import Callable

from fastparl.errors import AuthenticationError

__all__ = ["load_token", "ensure_token", "token_path", "nonce", "proof", "check", "curve_server", "curve_client",
           "session_key", "seal", "unseal", "Session"]


def token_path() -> str:
    return os.environ.get("FASTPARL_TOKEN_FILE") or os.path.join(os.path.expanduser("~"), ".fastparl", "token")


def load_token() -> bytes:
    """The shared token (``FASTPARL_TOKEN``, else the token file).

    Raises:
        AuthenticationError: there is none, or the file is readable by others.
    """
    token = _find_token(required=True)
    assert token is not None
    return token


def _find_token(required: bool) -> bytes | None:
    env = os.environ.get("FASTPARL_TOKEN")
    if env:
        return env.strip().encode()
    path = token_path()
    try:
        st = os.stat(path)
    except FileNotFoundError:
        if not required:
            return None
        raise AuthenticationError(
            f"no fastparl token: set FASTPARL_TOKEN, or copy the token file that `fastparl worker` created on the "
            f"worker hosts ({path}) to this machine with mode 0600") from None
    if st.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise AuthenticationError(
            f"the token file {path} can be read by other users (mode {stat.S_IMODE(st.st_mode):o}); a token others "
            f"can read lets them run code on your workers. Run: chmod 600 {path}")
    with open(path, "rb") as f:
        token = f.read().strip()
    if not token:
        raise AuthenticationError(f"the token file {path} is empty; delete it and restart `fastparl worker` to make one")
    return token


def ensure_token() -> bytes:
    """The token, creating the token file (mode 0600) when there is none: what a worker does at start."""
    token = _find_token(required=False)
    if token is not None:
        return token
    path = token_path()
    os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
    token = secrets.token_hex(32).encode()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(token + b"\n")
    logging.getLogger("fastparl.auth").info(
        "created the token file %s (mode 0600): copy it to the other hosts, or set FASTPARL_TOKEN there", path)
    return token


def nonce() -> str:
    return secrets.token_hex(16)


def proof(token: bytes, role: str, *parts: str) -> str:
    """HMAC-SHA256 of ``role`` and ``parts`` under ``token``, as hex."""
    msg = "\0".join((role, *parts)).encode()
    return hmac.new(token, msg, hashlib.sha256).hexdigest()


def check(token: bytes, given: object, role: str, *parts: str) -> bool:
    """Whether ``given`` is the right proof (constant-time)."""
    return isinstance(given, str) and hmac.compare_digest(given, proof(token, role, *parts))


def _server_keys(token: bytes, role: str) -> tuple[bytes, bytes]:
    import zmq
    from zmq.utils import z85

    secret = z85.encode(hmac.new(token, f"fastparl-curve-{role}".encode(), hashlib.sha256).digest())
    return zmq.curve_public(secret), secret


def curve_server(sock: object, token: bytes, role: str) -> None:
    """Make ``sock`` a CurveZMQ server with the key pair of ``role`` ("worker" or "hub")."""
    import zmq

    public, secret = _server_keys(token, role)
    sock.setsockopt(zmq.CURVE_SERVER, 1)  # type: ignore[attr-defined]
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)  # type: ignore[attr-defined]
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)  # type: ignore[attr-defined]


def curve_client(sock: object, token: bytes, role: str) -> None:
    """Make ``sock`` a CurveZMQ client of the server of ``role``, with a fresh key pair."""
    import zmq

    public, secret = zmq.curve_keypair()
    sock.setsockopt(zmq.CURVE_SERVERKEY, _server_keys(token, role)[0])  # type: ignore[attr-defined]
    sock.setsockopt(zmq.CURVE_PUBLICKEY, public)  # type: ignore[attr-defined]
    sock.setsockopt(zmq.CURVE_SECRETKEY, secret)  # type: ignore[attr-defined]


# ---------------------------------------------------------------- the session after the handshake
MAC_LEN = 64  # hex HMAC-SHA256


def session_key(token: bytes, client_nonce: str, worker_nonce: str) -> bytes:
    """The key both ends derive from the handshake; only they (token holders who took part) know it."""
    return hmac.new(token, "\0".join(("session", client_nonce, worker_nonce)).encode(), hashlib.sha256).digest()


def _mac(key: bytes, frames: list[bytes]) -> bytes:
    h = hmac.new(key, str(len(frames)).encode(), hashlib.sha256)
    for f in frames:
        h.update(b"\0" + str(len(f)).encode() + b"\0" + f)
    return h.hexdigest().encode()


def seal(key: bytes, frames: list[bytes]) -> list[bytes]:
    """``frames`` (a control message carrying a ``seq``) with the session's MAC before its first frame."""
    return [_mac(key, frames) + frames[0], *frames[1:]]


def unseal(key: bytes, frames: list[bytes]) -> list[bytes] | None:
    """The control message inside, or None if the MAC is not the session's."""
    if not frames or len(frames[0]) < MAC_LEN:
        return None
    inner = [frames[0][MAC_LEN:], *frames[1:]]
    return inner if hmac.compare_digest(frames[0][:MAC_LEN], _mac(key, inner)) else None


class Session:
    """The client's end of a session: seals each control message with an increasing ``seq``.

    After the handshake every client->worker message is sealed, so a peer that takes over the
    connection's routing id (after the driver dropped) is not served, and a replayed message
    (``seq`` not above the last one) is dropped.  Callers keep the sealing order the sending order.
    """

    def __init__(self, key: bytes):
        self.key = key
        self.seq = 0

    def seal(self, frames_of: Callable[[int], list[bytes]]) -> list[bytes]:
        self.seq += 1
        return seal(self.key, frames_of(self.seq))
