"""The link to one peer, as request tracking and the actor side see it: declared once.

A :class:`Link` is what :func:`fastparl.remote.dispatcher.serve` needs on the actor's side
(receive a request, send a reply); a :class:`Transport` is a link as the driver's
:class:`~fastparl.remote.tracker.TrackedActor` needs it (also: poll without blocking, a waitable
descriptor, close, pipelined sends).  Both carry :data:`Frame`\\ s (see :mod:`.protocol`); the
byte layout is each implementation's (:class:`~fastparl.remote.local.channel.Channel`,
:class:`~fastparl.remote.zmq.handle.ZmqTransport`, :class:`~fastparl.remote.zmq.host.ActorLink`).
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

__all__ = ["Frame", "Link", "Transport"]

Frame = tuple[int, int, Any, "BaseException | None"]  # (op, seq, payload, unpickling error or None)


class Link(Protocol):
    """Frames in and out of one peer.  Both methods raise :class:`~fastparl.remote.protocol.PeerClosed`
    when the peer is gone."""

    def recv(self, timeout: float | None = None) -> Frame | None:
        """The next frame, or None after ``timeout`` s."""

    def send(self, op: int, seq: int, payload: Any) -> None:
        """Send one frame."""


class Transport(Link, Protocol):
    """What request tracking needs from a link to one actor."""

    closed: bool  # set when the link became unusable (peer gone, or a frame was cut half-way)

    def send(self, op: int, seq: int, payload: Any, on_blocked: Callable[[], bool] | None = None,
             plain: bool = False) -> None:
        """Send one request.  Raises PeerClosed, or the pickling error for an unpicklable payload.
        ``on_blocked`` is called while the link is full; it returns whether it made room (read replies).
        ``plain``: the caller knows the payload is made of plain values (see serialization.is_plain)."""

    def poll(self) -> list[Frame]:
        """The replies that have arrived, without blocking.  Raises PeerClosed."""

    def fileno(self) -> int:
        """A descriptor that is readable when a reply may be waiting (-1 if there is none)."""

    def close(self) -> None: ...
