"""Where actors' output goes when it is kept off the terminal: ``connect(log_to_driver="file")``.

Each driver writes its actors' output to one folder, ``<root>/<YYYYmmdd-HHMMSS>-<driver pid>``, one file
per actor, ``<Class>-<pid>.log`` (``<Class>-<host>-<pid>.log`` for an actor on a worker host: the driver
writes those too, from the output the worker forwards).  The root is ``FASTPARL_LOG_DIR``, else
``~/.fastparl/logs``; ``connect(log_dir=...)`` names the folder itself.  ``fastparl logs`` reads them.
The root keeps the newest ``KEEP_SESSIONS`` (``FASTPARL_KEEP_SESSIONS``, default 50) session folders:
older ones are removed when a new one is made (:func:`make_session_dir`).
"""

from __future__ import annotations

import datetime
import os
import re

__all__ = ["log_mode", "log_root", "new_session_dir", "make_session_dir", "prune_sessions", "log_file_name"]

KEEP_SESSIONS = 50
_SESSION = re.compile(r"^\d{8}-\d{6}-\d+$")

MODES = {True: "terminal", False: "off", "terminal": "terminal", "file": "file", "both": "both", "off": "off"}
_PREFIX = re.compile(r"\((\w+) pid=(\d+)(?: host=([^)\s]+))?\)")


def log_mode(log_to_driver: object) -> str:
    """``connect(log_to_driver=...)`` as one of ``"terminal"``, ``"file"``, ``"both"``, ``"off"``."""
    try:
        return MODES[log_to_driver]  # type: ignore[index]
    except (KeyError, TypeError):
        raise ValueError(f"log_to_driver={log_to_driver!r}: use True (the terminal), 'file' (per-actor log files, "
                         "read with `fastparl logs`), 'both', or False (no forwarding)") from None


def log_root() -> str:
    """Where session folders of actor logs go: ``FASTPARL_LOG_DIR``, else ``~/.fastparl/logs``."""
    return os.environ.get("FASTPARL_LOG_DIR") or os.path.join(os.path.expanduser("~"), ".fastparl", "logs")


def new_session_dir() -> str:
    """A folder name for this driver's actor logs: ``<log root>/<YYYYmmdd-HHMMSS>-<driver pid>``."""
    return os.path.join(log_root(), f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}")


def make_session_dir(folder: str) -> None:
    """Create a session folder; if it is new and under the log root, prune the oldest sessions there."""
    new = not os.path.isdir(folder)
    os.makedirs(folder, exist_ok=True)
    if new and os.path.dirname(os.path.abspath(folder)) == os.path.abspath(log_root()):
        prune_sessions()


def prune_sessions(keep: int | None = None) -> list[str]:
    """Remove all but the newest ``keep`` session folders (``<date>-<time>-<pid>``) under the log root, skipping
    those of drivers still running; returns the folders removed.  Other files and folders are left alone."""
    import shutil

    if keep is None:
        try:
            keep = int(os.environ.get("FASTPARL_KEEP_SESSIONS", KEEP_SESSIONS))
        except ValueError:
            keep = KEEP_SESSIONS
    root = log_root()
    try:
        sessions = sorted(d for d in os.listdir(root) if _SESSION.match(d) and os.path.isdir(os.path.join(root, d)))
    except OSError:
        return []
    removed = []
    for d in sessions[:max(0, len(sessions) - keep)]:
        pid = int(d.rsplit("-", 1)[1])
        if pid == os.getpid() or _running(pid):
            continue
        shutil.rmtree(os.path.join(root, d), ignore_errors=True)
        removed.append(d)
    return removed


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def log_file_name(prefix: str) -> str:
    """``Class-pid.log`` (``Class-host-pid.log`` for another host's actor) from the prefix ``(Class pid=N host=H)``."""
    m = _PREFIX.search(prefix)
    if m is None:
        return re.sub(r"[^\w.-]+", "-", prefix.strip("() ")) + ".log"
    cls, pid, host = m.groups()
    if host:
        cls = cls + "-" + re.sub(r"[^\w.-]+", "-", host)
    return f"{cls}-{pid}.log"
