"""How long silence may last before a peer is given up: ``FASTPARL_HOST_TIMEOUT``, for both sides.

A peer whose process ended on a live host closes its TCP connection, and that is noticed at once
(the driver watches its control connections; the worker watches its actors' processes).  Silence is
different: a partition, a paused process or an unreachable host says nothing about the peer.  A
silent peer is *suspect* after ``SUSPECT_AFTER`` s — calls on it wait, because TCP keeps the
connection and resends what was in flight once the path is back — and *lost* only after the host
timeout.  The driver tells each worker its timeout in ``hello``, so both sides give up at the same time.

Default 20 s: a network blip, a garbage-collection or VM pause or a daemon restart lasts seconds,
and each costs nothing below the timeout; a host that is really gone costs its actors' share of
the run for that long before its work moves elsewhere (Ray waits ~30 s).  Tests use a few seconds.
"""

from __future__ import annotations

import os

__all__ = ["host_timeout", "DEFAULT_HOST_TIMEOUT", "SUSPECT_AFTER", "PING_INTERVAL", "MIN_TIMEOUT", "MAX_TIMEOUT"]

DEFAULT_HOST_TIMEOUT = 20.0
PING_INTERVAL = 0.3  # both ways: the driver pings, the worker answers (and any message counts)
SUSPECT_AFTER = 1.5  # silence after which a peer is shown as suspect
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 3600.0


def host_timeout() -> float:
    """``FASTPARL_HOST_TIMEOUT`` in seconds (default 20); a bad value raises ``ValueError`` saying so."""
    raw = os.environ.get("FASTPARL_HOST_TIMEOUT", "").strip()
    if not raw:
        return DEFAULT_HOST_TIMEOUT
    try:
        value = float(raw)
    except ValueError:
        value = float("nan")
    if not MIN_TIMEOUT <= value <= MAX_TIMEOUT:
        raise ValueError(f"FASTPARL_HOST_TIMEOUT={raw!r}: expected seconds between {MIN_TIMEOUT:g} and "
                         f"{MAX_TIMEOUT:g} (how long a silent host may stay silent before its actors are given up; "
                         f"default {DEFAULT_HOST_TIMEOUT:g})")
    return value
