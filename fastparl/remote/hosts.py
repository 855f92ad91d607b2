"""Host lists (``"host:port[,host:port...]"``, as ``FASTPARL_HOSTS`` and ``connect()`` take them): parsing and checking, once."""

from __future__ import annotations

import socket

from fastparl.errors import ConnectionError

__all__ = ["is_host_list", "parse_hosts", "check_hosts", "all_loopback", "anyone_listens"]


def is_host_list(target: str) -> bool:
    """Whether a connect target names worker daemons (``host:port`` entries) rather than a backend."""
    return ":" in target and "://" not in target


def parse_hosts(target: str) -> list[str]:
    """The ``host:port`` entries of a host list, in order (empty entries dropped)."""
    return [part.strip() for part in target.split(",") if part.strip()]


def check_hosts(target: str) -> None:
    """Raise ConnectionError naming the first malformed entry of ``target``, and the expected form."""
    for part in target.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ConnectionError(
                f"bad host address {part.strip()!r} in {target!r}: expected 'host:port' entries separated by "
                "commas, e.g. FASTPARL_HOSTS='10.0.0.2:8037,10.0.0.3:8037'")


def all_loopback(target: str) -> bool:
    """Whether every entry of ``target`` is a loopback address of this machine."""
    hosts = [part.strip().rpartition(":")[0].strip("[]") for part in target.split(",")]
    return all(h == "localhost" or h.startswith("127.") or h == "::1" for h in hosts)


def anyone_listens(target: str, timeout: float = 0.5) -> bool:
    """Whether a TCP connection to any entry of ``target`` succeeds within ``timeout`` s."""
    for part in target.split(","):
        host, _, port = part.strip().rpartition(":")
        try:
            socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
            return True
        except OSError:
            continue
    return False
