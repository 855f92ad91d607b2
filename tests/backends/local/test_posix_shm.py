"""The local backend on POSIX shared memory instead of memfd (FASTPARL_SHM=posix, the path fastparl takes
where memfd_create is missing): segments leave no names behind, FASTPARL_SHM is checked.  (The
contract suite runs on it too: the ``local-posix`` entry of tests/_backends.py.)"""

import os

import numpy as np
import pytest

import fastparl
from _procs import descendants


def _our_names_in_dev_shm() -> list[str]:
    """fastparl's POSIX segment names (``fastparl-<pid>-<n>-<hex>``) made by this process or its children
    (fork server, actors): another fastparl run on the machine may have names there of its own."""
    ours = {os.getpid(), *descendants()}
    try:
        names = os.listdir("/dev/shm")
    except FileNotFoundError:
        return []
    return [n for n in names if n.startswith("fastparl-") and n.split("-")[1].isdigit() and int(n.split("-")[1]) in ours]


@pytest.mark.backends("local-posix")
def test_posix_segments_leave_no_names_behind(backend, tmp_path):
    from _actors import RemotePlain

    foreign = "/dev/shm/fastparl-1-0-0000beef"  # as if another run (here pid 1) held a segment: not ours to judge
    have_foreign = os.path.isdir("/dev/shm") and not os.path.exists(foreign)
    if have_foreign:
        open(foreign, "wb").close()
    try:
        p = RemotePlain()
        s = fastparl.shared_array(1 << 16)
        p.fill(s, 3.0)
        assert (s == 3).all() and p.identity(np.ones(1 << 20)).sum() == 1 << 20
        ref = fastparl.put({"w": np.ones(1 << 18)})
        assert p.mean_of(ref) == 1.0
        assert _our_names_in_dev_shm() == []  # unlinked as soon as opened: descriptors keep them alive
        with open("/proc/self/maps") as f:
            assert "/dev/shm/fastparl-" in f.read()  # and they are POSIX segments, not memfds
    finally:
        if have_foreign:
            os.unlink(foreign)


def test_fastparl_shm_is_checked(monkeypatch):
    from fastparl.remote.system import portable

    monkeypatch.setenv("FASTPARL_SHM", "bogus")
    with pytest.raises(ValueError, match="FASTPARL_SHM='bogus'"):
        portable.configure()
    monkeypatch.delenv("FASTPARL_SHM")
    assert portable.configure() == ("memfd" if portable.HAVE_MEMFD else "posix")
