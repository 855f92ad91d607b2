"""The contract suite on the local backend with POSIX shared memory instead of memfd (FASTPARL_SHM=posix),
the path fastparl takes where memfd_create is missing (macOS)."""

import pytest


@pytest.fixture(params=["local-posix"])
def backend(request, monkeypatch):
    import fastparl

    fastparl.disconnect()
    monkeypatch.setenv("FASTPARL_SHM", "posix")
    fastparl.connect("local")
    from fastparl.remote.local import portable

    assert portable.shm_kind() == "posix"
    marker = request.node.get_closest_marker("requires")
    if marker is not None:
        caps = fastparl.remote.backend().capabilities
        if any(not caps.has(c) for c in marker.args):
            fastparl.disconnect()
            pytest.skip("capability missing")
    yield request.param
    fastparl.disconnect()
    monkeypatch.delenv("FASTPARL_SHM")
    portable.configure()  # back to the default for the tests that follow
