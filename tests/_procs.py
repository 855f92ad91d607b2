"""Process and shared-memory probes for the runtime tests: polling for processes to end (with a
deadline, never a bare sleep), descendants, killing what a test started, and fastparl's memfd segments seen
through /proc."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import psutil

MEMFD = "memfd:fastparl"  # how the kernel names fastparl's segments in /proc/<pid>/fd and /proc/<pid>/maps
POSIX_SHM = "/dev/shm/fastparl-"  # ... and its POSIX shared-memory segments (FASTPARL_SHM=posix; unlinked at once)


def _is_segment(name: str) -> bool:
    return MEMFD in name or POSIX_SHM in name


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


def session_pids(sid: int) -> list[int]:
    """Running processes of session ``sid``: whatever a driver started (drivers lead their session), unless it
    left the session."""
    out = []
    for p in psutil.process_iter():
        try:
            if os.getsid(p.pid) == sid and p.status() != psutil.STATUS_ZOMBIE:
                out.append(p.pid)
        except (OSError, psutil.Error):
            pass
    return out


def kill_session(proc: subprocess.Popen) -> None:
    """SIGKILL ``proc`` (a program started with ``start_new_session=True``) and whatever still runs in its session,
    then reap it: how a test makes sure a program it started, and all that started, is gone however it ended."""
    for pid in [proc.pid, *session_pids(proc.pid)]:
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
    if proc.returncode is None:
        try:
            proc.communicate(timeout=10)
        except ValueError:  # the test closed its pipes
            proc.wait(timeout=10)


def descendants(pid: int | None = None) -> set[int]:
    """Pids of the running (not zombie) processes below ``pid`` (default: this process)."""
    try:
        procs = psutil.Process(pid or os.getpid()).children(recursive=True)
    except psutil.NoSuchProcess:
        return set()
    return {p.pid for p in procs if alive(p.pid)}


def forked_actors() -> set[int]:
    """Live processes forked by this driver's fork servers (actors and learners)."""
    pids = set()
    for server in psutil.Process().children():
        try:
            pids.update(p.pid for p in server.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:
            pass
    return pids


def memfd_fds(pid: int | str = "self") -> int:
    """How many descriptors of fastparl segments process ``pid`` holds."""
    n = 0
    try:
        names = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return 0
    for name in names:
        try:
            if _is_segment(os.readlink(f"/proc/{pid}/fd/{name}")):
                n += 1
        except OSError:
            pass
    return n


def memfd_segments(pids) -> dict[str, int]:
    """The fastparl segments that ``pids`` map or hold open: {inode: bytes}, each segment once.

    This is the shared memory those processes keep alive (the kernel frees a memfd's pages when
    its last descriptor and mapping are gone).
    """
    segs: dict[str, int] = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/maps") as f:
                for line in f:
                    if _is_segment(line):
                        parts = line.split()
                        lo, hi = (int(x, 16) for x in parts[0].split("-"))
                        segs[parts[4]] = max(segs.get(parts[4], 0), hi - lo)
        except OSError:
            continue
        try:
            names = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for name in names:
            path = f"/proc/{pid}/fd/{name}"
            try:
                if _is_segment(os.readlink(path)):
                    st = os.stat(path)
                    segs[str(st.st_ino)] = max(segs.get(str(st.st_ino), 0), st.st_size)
            except OSError:
                pass
    return segs


def pooled_memfds() -> int:
    """Descriptors this process keeps on purpose for reuse (memory of dead ``put()`` objects)."""
    try:
        from fastparl.remote.local.segments import recycler
    except ImportError:
        return 0
    with recycler.lock:
        return len(recycler.pool)


def own_memfds() -> int:
    """fastparl segment descriptors of this process, less those kept for reuse."""
    return memfd_fds() - pooled_memfds()


def rss_mb(pid: int | None = None) -> float:
    return psutil.Process(pid or os.getpid()).memory_info().rss / 2**20


def open_fds(pid: int | None = None) -> int:
    return psutil.Process(pid or os.getpid()).num_fds()


def in_shared_memory(arr) -> bool:
    """Whether the data of NumPy array ``arr`` lies in a fastparl segment mapped in this process."""
    addr = arr.__array_interface__["data"][0]
    with open("/proc/self/maps") as f:
        for line in f:
            if _is_segment(line):
                lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
                if lo <= addr < hi:
                    return True
    return False


_pinned_fds: list[int] = []


def segment_inode(ref) -> int:
    """The identity of a ``put()`` object's segment memory (its descriptor is duplicated, so that the
    inode number cannot be handed to a new file while the tests run)."""
    _pinned_fds.append(os.dup(ref._seg.fd))
    return os.fstat(ref._seg.fd).st_ino
