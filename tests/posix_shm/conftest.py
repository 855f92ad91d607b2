"""The contract suite on the local backend with POSIX shared memory instead of memfd (FASTPARL_SHM=posix),
the path fastparl takes where memfd_create is missing (macOS)."""

import pytest


@pytest.fixture(params=["local-posix"])
def backend(request, monkeypatch):
    from _backends import connected

    from fastparl.remote.local import portable

    monkeypatch.setenv("FASTPARL_SHM", "posix")
    try:
        for label in connected(request, "local", "local-posix"):
            assert portable.shm_kind() == "posix"
            yield label
    finally:
        monkeypatch.delenv("FASTPARL_SHM")
        portable.configure()  # back to the default for the tests that follow
