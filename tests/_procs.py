"""Polling for processes to end (with a deadline, never a bare sleep)."""

import time

import psutil


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie, already dead but not reaped, counts as gone)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def still_alive(pids, timeout: float = 10.0) -> list:
    """The pids still running after waiting up to ``timeout`` s for all of them to end."""
    deadline = time.monotonic() + timeout
    while True:
        left = [p for p in pids if alive(p)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)
