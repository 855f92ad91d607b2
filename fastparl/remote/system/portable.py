"""Shared memory and pipes, with a portable fallback for each.

On Linux the local backend uses ``memfd_create`` (anonymous shared memory: nothing in ``/dev/shm``,
freed by the kernel with its last holder), ``pipe2``, ``SOCK_SEQPACKET`` socket pairs, and
``prctl`` (see :mod:`.processes`).  Where ``memfd_create`` is missing (macOS) —
or on Linux with ``FASTPARL_SHM=posix`` (read by :func:`configure`, at connect time) — segments are
POSIX shared memory (``shm_open``) unlinked at once: the descriptor still maps and travels over the
Unix socket, and a name exists in ``/dev/shm`` only for the microseconds between open and unlink.
"""

from __future__ import annotations

import itertools
import os
import secrets
import socket
import sys

__all__ = ["configure", "shm_kind", "new_shm_fd", "pipe", "SEQ_SOCKET"]

HAVE_MEMFD = hasattr(os, "memfd_create")
# Socket type for descriptor passing: record boundaries (SEQPACKET on Linux; macOS lacks it for AF_UNIX).
SEQ_SOCKET = socket.SOCK_SEQPACKET if sys.platform.startswith("linux") else socket.SOCK_DGRAM
_posix = not HAVE_MEMFD
_names = itertools.count()


def configure(environ: dict[str, str] | None = None) -> str:
    """Choose how segments are made from ``FASTPARL_SHM`` (``memfd``, ``posix``; unset: memfd where the
    OS has it).  Called when a backend connects and when a fork server starts (its actors inherit it)."""
    global _posix
    want = (os.environ if environ is None else environ).get("FASTPARL_SHM", "").strip().lower()
    if want not in ("", "memfd", "posix"):
        raise ValueError(f"FASTPARL_SHM={want!r}: use 'memfd' (Linux) or 'posix'")
    if want == "memfd" and not HAVE_MEMFD:
        raise ValueError("FASTPARL_SHM=memfd: this platform has no memfd_create; unset it (POSIX shared memory "
                         "is used instead)")
    _posix = want == "posix" or not HAVE_MEMFD
    return shm_kind()


def shm_kind() -> str:
    return "posix" if _posix else "memfd"


def new_shm_fd(tag: str) -> int:
    """A descriptor of a new, empty shared-memory object (the caller sizes it with ``ftruncate``)."""
    if not _posix:
        return os.memfd_create(f"fastparl-{tag}", os.MFD_CLOEXEC)
    import _posixshmem  # multiprocessing.shared_memory's own binding of shm_open/shm_unlink

    name = f"/fastparl-{os.getpid()}-{next(_names)}-{secrets.token_hex(4)}"
    fd = _posixshmem.shm_open(name, os.O_CREAT | os.O_EXCL | os.O_RDWR, mode=0o600)
    try:
        _posixshmem.shm_unlink(name)  # unlink at once: only the descriptor and mappings keep it alive
    except OSError:
        os.close(fd)
        raise
    os.set_inheritable(fd, False)
    return fd


def pipe(nonblocking: bool = False) -> tuple[int, int]:
    """A pipe whose ends close on exec (and are non-blocking if asked)."""
    if hasattr(os, "pipe2"):
        return os.pipe2(os.O_CLOEXEC | (os.O_NONBLOCK if nonblocking else 0))
    r, w = os.pipe()  # non-inheritable by default (PEP 446)
    if nonblocking:
        os.set_blocking(r, False)
        os.set_blocking(w, False)
    return r, w
