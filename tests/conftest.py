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


def pytest_configure(config):
    """Drivers write session folders (actors' log files, a zmq driver's hosts.json) under FASTPARL_LOG_DIR:
    a temporary one for the test run, removed at its end, unless the caller chose one."""
    if "FASTPARL_LOG_DIR" not in os.environ:
        import tempfile

        config._fastparl_log_dir = os.environ["FASTPARL_LOG_DIR"] = tempfile.mkdtemp(prefix="fastparl-test-logs-")


def pytest_unconfigure(config):
    folder = getattr(config, "_fastparl_log_dir", None)
    if folder:
        import shutil

        shutil.rmtree(folder, ignore_errors=True)
