"""What only the local backend promises, beyond the contract: a small shared-array handle, exclusive
GPUs, unforwarded output, a fork server that cannot start, and put() memory reused once free."""

import os
import pickle

import numpy as np
import pytest

import fastparl
from fastparl.errors import FastparlError

from _actors import Plain, RemotePlain
from _procs import segment_inode


def test_shared_array_handle_is_small(local):
    from fastparl.remote import serialization

    seen = []
    small = serialization.dumps(fastparl.shared_array(10), on_shared=lambda seg: seen.append(seg) or True)
    large = serialization.dumps(fastparl.shared_array(10_000_000), on_shared=lambda seg: seen.append(seg) or True)
    assert len(large) < 400 and abs(len(large) - len(small)) < 16 and len(seen) == 2
    # pickled outside a transport (e.g. to a file) it is an ordinary array with its data
    plain = pickle.loads(pickle.dumps(fastparl.shared_array(1000, fill=2.0)))
    assert type(plain) is np.ndarray and plain.sum() == 2000


def test_gpus_are_handed_out_exclusively(monkeypatch):
    fastparl.disconnect()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    fastparl.connect("local")
    try:
        GpuPlain = fastparl.remote_class(n_gpu=1)(Plain)
        a, b = GpuPlain(), GpuPlain()
        assert sorted([a.env("CUDA_VISIBLE_DEVICES"), b.env("CUDA_VISIBLE_DEVICES")]) == ["3", "5"]
        assert RemotePlain().env("CUDA_VISIBLE_DEVICES") == ""  # n_gpu=0 hides GPUs
        with pytest.raises(fastparl.errors.ResourceError, match="n_gpu=1.*0 of the 2"):
            GpuPlain()
        fastparl.kill(a)
        c = GpuPlain()  # a's GPU came back
        assert c.env("CUDA_VISIBLE_DEVICES") in ("3", "5")
        with pytest.raises(fastparl.errors.ResourceError):
            fastparl.remote_class(n_gpu=3)(Plain)()
    finally:
        fastparl.disconnect()


def test_output_can_stay_unforwarded(capfd):
    fastparl.disconnect()
    fastparl.connect("local", log_to_driver=False)
    try:
        p = RemotePlain()
        p.say("quiet")
        assert p.add() == 1
    finally:
        fastparl.disconnect()
    out, err = capfd.readouterr()
    assert "quiet" in out and "(Plain pid=" not in out  # written straight to our stdout, without a prefix


def test_a_fork_server_that_cannot_start_is_reported(monkeypatch):
    import sys

    from fastparl.remote.local.backend import LocalBackend

    monkeypatch.setattr(sys, "executable", "/bin/false")  # the server exits at once
    with pytest.raises(FastparlError, match="fork server did not start"):
        LocalBackend([])


def test_put_memory_is_reused_once_every_reader_let_go(local):
    import gc

    actors = [RemotePlain() for _ in range(2)]
    ref = fastparl.put({"w": np.full(1 << 20, 1.0)})
    assert [a.mean_of(ref) for a in actors] == [1.0, 1.0]
    first = segment_inode(ref)
    del ref
    gc.collect()
    for a in actors:  # the next call carries "forget"; its reply carries the actor's "unmapped"
        a.add()
    ref2 = fastparl.put({"w": np.full(1 << 20, 2.0)})
    assert segment_inode(ref2) == first  # the same memory, no fresh pages
    assert [a.mean_of(ref2) for a in actors] == [2.0, 2.0]


def test_the_fork_server_finds_this_fastparl_without_shadowing_user_modules(local):
    """The fork server's PYTHONPATH starts with the directory that holds the fastparl package (so a checkout
    works uninstalled), never the package directory itself, whose env/, data/, utils/ ... would shadow the
    user's modules of the same names."""
    RemotePlain().add()  # the fork server is up
    pkg_dir = os.path.dirname(os.path.abspath(fastparl.__file__))
    with open(f"/proc/{fastparl.remote.current_backend().server.pid}/environ", "rb") as f:
        environ = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0") if b"=" in kv)
    entries = environ[b"PYTHONPATH"].decode().split(os.pathsep)
    assert entries[0] == os.path.dirname(pkg_dir)
    assert pkg_dir not in entries
