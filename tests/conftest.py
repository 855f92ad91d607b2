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
    import fastparl

    fastparl.disconnect()
    fastparl.connect(request.param)
    marker = request.node.get_closest_marker("requires")
    if marker is not None:
        caps = fastparl.remote.backend().capabilities
        missing = [c for c in marker.args if not caps.has(c)]
        if missing:
            fastparl.disconnect()
            pytest.skip(f"the {request.param} backend lacks {missing}")
    yield request.param
    fastparl.disconnect()


@pytest.fixture
def local():
    import fastparl

    fastparl.disconnect()
    fastparl.connect("local")
    yield "local"
    fastparl.disconnect()
