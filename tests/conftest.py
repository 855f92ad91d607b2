import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))  # tests/_actors.py and friends, for drivers and actors


@pytest.fixture(params=["local", "serial"])
def backend(request):
    """Run the test on each backend; actors of a test are gone after it."""
    import fastparl

    fastparl.disconnect()
    fastparl.connect(request.param)
    yield request.param
    fastparl.disconnect()


@pytest.fixture
def local():
    import fastparl

    fastparl.disconnect()
    fastparl.connect("local")
    yield "local"
    fastparl.disconnect()
