"""One local Ray instance for the tests of this folder, and the contract suite's ``backend`` fixture on it.

The instance is started once (``ray.init`` takes several seconds), small (2 CPUs, a 100 MB object
store, two declared GPUs so that ``n_gpu`` placement can be checked on any machine), in its own
temp dir under /tmp, and stopped when this folder's tests are done; every process it started
must be gone then (checked by pid).
"""

import logging
import os
import shutil
import tempfile

import pytest
from _procs import descendants, still_alive

pytestmark = pytest.mark.timeout(300)

ray = pytest.importorskip("ray", reason="the Ray backend needs Ray: pip install 'fastparl[ray]'")


@pytest.fixture(scope="package")
def ray_cluster():
    """A local Ray instance: yields the pids of its processes."""
    import fastparl

    fastparl.disconnect()
    breakpoint_env = os.environ.get("PYTHONBREAKPOINT")  # ray.init points breakpoint() at Ray's debugger
    before = descendants()
    temp = tempfile.mkdtemp(prefix="fp-ray-", dir="/tmp")
    ray.init(address="local", num_cpus=2, num_gpus=2, object_store_memory=100 * 2**20, include_dashboard=False,
             log_to_driver=True, logging_level=logging.ERROR, _temp_dir=temp)
    pids = descendants() - before
    yield pids
    fastparl.disconnect()
    pids |= descendants() - before  # workers started since
    ray.shutdown()
    if breakpoint_env is None:
        os.environ.pop("PYTHONBREAKPOINT", None)
    else:
        os.environ["PYTHONBREAKPOINT"] = breakpoint_env
    left = still_alive(pids, timeout=20)
    shutil.rmtree(temp, ignore_errors=True)
    assert left == [], f"Ray processes outlived ray.shutdown(): {left}"


@pytest.fixture(params=["ray"])
def backend(request, ray_cluster):
    from _backends import connected

    yield from connected(request, "ray")
