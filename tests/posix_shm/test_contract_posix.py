"""The contract suite (tests/contract) with POSIX shared memory: every test of it that takes the
``backend`` fixture runs here too, on FASTPARL_SHM=posix."""

import inspect
import os

import numpy as np
import pytest

import fastparl
from contract import test_contract as _contract

for _name, _fn in vars(_contract).items():
    if _name.startswith("test_") and callable(_fn) and "backend" in inspect.signature(_fn).parameters:
        globals()[_name] = _fn


def _fastparl_names_in_dev_shm() -> list[str]:
    try:
        return [n for n in os.listdir("/dev/shm") if n.startswith("fastparl-")]
    except FileNotFoundError:
        return []


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
    from fastparl.remote.local import portable

    monkeypatch.setenv("FASTPARL_SHM", "bogus")
    with pytest.raises(ValueError, match="FASTPARL_SHM='bogus'"):
        portable.configure()
    monkeypatch.delenv("FASTPARL_SHM")
    assert portable.configure() == ("memfd" if portable.HAVE_MEMFD else "posix")
