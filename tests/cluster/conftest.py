"""Loopback worker daemons for the cluster tests, and the contract suite's ``backend`` fixture on them."""

import os

import pytest
from _cluster import WorkerProc  # noqa: F401  (tests/cluster is on sys.path: rootdir-relative imports)
from _procs import still_alive

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="session")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text("a-test-token-" + os.urandom(8).hex() + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def use_token(token_file, monkeypatch):
    monkeypatch.setenv("FASTPARL_TOKEN_FILE", token_file)
    monkeypatch.delenv("FASTPARL_TOKEN", raising=False)
    monkeypatch.delenv("FASTPARL_HOSTS", raising=False)
    return token_file


@pytest.fixture(scope="session")
def cluster(token_file, tmp_path_factory):
    """Two workers that look like two other hosts (their actors are reached over TCP)."""
    logs = str(tmp_path_factory.mktemp("logs"))
    workers = [WorkerProc(token_file, cpus=16, host_id=f"test-host-{i}", log_dir=logs) for i in range(2)]
    yield workers
    pids = [p for w in workers for p in w.pids()]
    codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.output()[-2000:] for w in workers]
    assert still_alive(pids) == [], "worker processes outlived their daemon"


@pytest.fixture(params=["zmq"])
def backend(request, cluster, use_token):
    from _backends import connected

    yield from connected(request, ",".join(w.address for w in cluster), "zmq (other hosts)")
