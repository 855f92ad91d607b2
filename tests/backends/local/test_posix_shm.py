"""The local backend on POSIX shared memory instead of memfd (FASTPARL_SHM=posix, the path fastparl takes
where memfd_create is missing): segments leave no names behind, FASTPARL_SHM is checked.  (The
contract suite runs on it too: the ``local-posix`` entry of tests/_backends.py.)"""

import os

import numpy as np
import pytest

import fastparl


def _fastparl_names_in_dev_shm() -> list[str]:
    try:
        return [n for n in os.listdir("/dev/shm") if n.startswith("fastparl-")]
    except FileNotFoundError:
        return []


@pytest.mark.backends("local-posix")
def test_posix_segments_leave_no_names_behind(backend):
    from _actors import RemotePlain

    p = RemotePlain()
    s = fastparl.shared_array(1 << 16)
    p.fill(s, 3.0)
    assert (s == 3).all() and p.identity(np.ones(1 << 20)).sum() == 1 << 20
    ref = fastparl.put({"w": np.ones(1 << 18)})
    assert p.mean_of(ref) == 1.0
    assert _fastparl_names_in_dev_shm() == []  # unlinked as soon as opened: descriptors keep them alive
    with open("/proc/self/maps") as f:
        assert "/dev/shm/fastparl-" in f.read()  # and they are POSIX segments, not memfds


def test_fastparl_shm_is_checked(monkeypatch):
    from fastparl.remote.system import portable

    monkeypatch.setenv("FASTPARL_SHM", "bogus")
    with pytest.raises(ValueError, match="FASTPARL_SHM='bogus'"):
        portable.configure()
    monkeypatch.delenv("FASTPARL_SHM")
    assert portable.configure() == ("memfd" if portable.HAVE_MEMFD else "posix")
