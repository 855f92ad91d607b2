import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/_actors.py and friends, for drivers and actors

# Backends the contract suite runs on.  A backend that only some machines can run (e.g. one that
# needs an optional package) adds itself here when it is importable.
CONTRACT_BACKENDS = ["local", "serial"]


def pytest_configure(config):
    config.addinivalue_line("markers", "requires(*capabilities): run only on backends that declare these "
                                       "Capabilities (see fastparl.remote.backend.Capabilities)")


@pytest.fixture(params=CONTRACT_BACKENDS)
def backend(request):
    """Run the test on each backend; actors of a test are gone after it.  Tests marked
    ``@pytest.mark.requires("shared_memory", ...)`` are skipped where the backend lacks one."""
    from _backends import connected

    yield from connected(request, request.param)


@pytest.fixture
def local():
    import fastparl

    fastparl.disconnect()
    fastparl.connect("local")
    yield "local"
    fastparl.disconnect()
