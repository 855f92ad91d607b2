"""The test tree (tests/README.md says which folder tests what).

tests/ goes on sys.path so that tests, drivers and actors import the helpers beside this file
(``from _actors import RemotePlain``); tests/_backends.py, loaded as a plugin, holds the backends
that the ``backend`` fixture runs tests on, the fixtures they need and the ``requires`` and
``backends`` markers.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(__file__))  # tests/_actors.py and friends, for drivers and actors

pytest_plugins = ["_backends"]
