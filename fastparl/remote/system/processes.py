"""Process control on this machine: ``prctl`` (parent-death signal, child subreaper), process-group
kill, and the limit on open descriptors.  Each call is a no-op where the OS lacks it."""

from __future__ import annotations

import ctypes
import os
import resource
import signal

__all__ = ["PR_SET_PDEATHSIG", "PR_SET_CHILD_SUBREAPER", "prctl", "set_pdeathsig", "killpg", "raise_fd_limit"]

PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36


def prctl(option: int, arg: int) -> None:
    """Linux's ``prctl(option, arg)``; does nothing where there is no ``prctl``."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, arg, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def set_pdeathsig(sig: int = signal.SIGKILL) -> None:
    """Ask the kernel to send ``sig`` to this process when its parent thread exits (Linux)."""
    prctl(PR_SET_PDEATHSIG, int(sig))


def killpg(pgid: int, sig: int = signal.SIGKILL) -> None:
    """Signal process group ``pgid`` (an actor and everything it started); gone already is fine."""
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def raise_fd_limit() -> tuple[int, int]:
    """Raise this process's soft limit on open descriptors to the hard limit (as Ray does).

    Each actor costs the driver two descriptors and each shared array one; the common default
    soft limit of 1024 would stop a many-core machine at a few hundred actors.  Returns the
    (soft, hard) limits now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or hard > soft:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass
    return soft, hard
