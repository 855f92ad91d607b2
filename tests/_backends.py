"""The backends the tests run on, and the one ``backend`` fixture (a pytest plugin: tests/conftest.py loads it).

A test that takes the ``backend`` fixture runs once on every entry of ``BACKENDS``: that is how the
contract suite (tests/backends/test_contract.py) runs on every backend.  A backend joins it with an
entry here, and only here: its name (the test id), how to connect for one test (``open``: a
generator that sets up what the backend needs, connects and yields the label for skip messages),
the module it needs (without it, its tests are skipped with ``reason``), and the contract tests it
replaces with a test of its own.  A module that should run on some backends only narrows the list:
``pytestmark = pytest.mark.backends("local", "serial")``.

Tests marked ``@pytest.mark.requires("shared_memory", ...)`` are skipped on a backend whose
Capabilities lack one; the connection is closed after each test either way.
"""

from __future__ import annotations

import importlib.util
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Mapping

import pytest
from _procs import descendants, still_alive


def connected(request: Any, target: str, label: str | None = None, **connect_kwargs: Any) -> Iterator[str]:
    """Connect to ``target`` for one test (a generator for ``yield from``), skip what it cannot promise."""
    import fastparl

    label = label or target
    fastparl.disconnect()
    fastparl.connect(target, **connect_kwargs)
    marker = request.node.get_closest_marker("requires")
    if marker is not None:
        caps = fastparl.remote.current_backend().capabilities
        missing = [c for c in marker.args if not caps.has(c)]
        if missing:
            fastparl.disconnect()
            pytest.skip(f"the {label} backend lacks {missing}")
    try:
        yield label
    finally:
        fastparl.disconnect()


@dataclass(frozen=True)
class BackendEntry:
    """One backend the ``backend`` fixture runs tests on."""

    name: str
    open: Callable[[Any], Iterator[str]]
    needs: str | None = None
    reason: str = ""
    replaced: Mapping[str, str] = field(default_factory=dict)  # contract test -> the test that checks it instead

    def missing(self) -> str | None:
        """Why this backend cannot run here (``None`` when it can)."""
        if self.needs is not None and importlib.util.find_spec(self.needs) is None:
            return self.reason
        return None


def _local(request: Any) -> Iterator[str]:
    yield from connected(request, "local")


def _serial(request: Any) -> Iterator[str]:
    yield from connected(request, "serial")


def _local_posix(request: Any) -> Iterator[str]:
    """The local backend on POSIX shared memory instead of memfd (FASTPARL_SHM=posix): the path fastparl
    takes where memfd_create is missing (macOS)."""
    from fastparl.remote.system import portable

    monkeypatch = request.getfixturevalue("monkeypatch")
    monkeypatch.setenv("FASTPARL_SHM", "posix")
    try:
        for label in connected(request, "local", "local-posix"):
            assert portable.shm_kind() == "posix"
            yield label
    finally:
        monkeypatch.delenv("FASTPARL_SHM")
        portable.configure()  # back to the default for the tests that follow


def _zmq(request: Any) -> Iterator[str]:
    """The ZeroMQ backend, with actors on two loopback workers that stand in for other hosts."""
    cluster = request.getfixturevalue("cluster")
    request.getfixturevalue("use_token")
    yield from connected(request, ",".join(w.address for w in cluster), "zmq (other hosts)")


def _ray(request: Any) -> Iterator[str]:
    """Ray actors of the session's local Ray instance (fixture ``ray_cluster``)."""
    request.getfixturevalue("ray_cluster")
    yield from connected(request, "ray")


BACKENDS = [
    BackendEntry("local", _local),
    BackendEntry("serial", _serial),
    BackendEntry("local-posix", _local_posix),
    BackendEntry("zmq", _zmq, needs="zmq", reason="the zmq backend needs pyzmq: pip install pyzmq"),
    BackendEntry("ray", _ray, needs="ray", reason="the Ray backend needs Ray: pip install 'fastparl[ray]'",
                 replaced={  # Ray reports a killed actor's death without the signal that killed it
                     "test_pending_futures_fail_promptly_when_the_actor_dies":
                         "backends/ray/test_ray.py::test_pending_futures_fail_promptly_when_a_ray_actor_dies"}),
]
BY_NAME = {entry.name: entry for entry in BACKENDS}


def pytest_configure(config: Any) -> None:
    config.addinivalue_line("markers", "requires(*capabilities): run only on backends that declare these "
                                       "Capabilities (see fastparl.remote.backend.Capabilities)")
    config.addinivalue_line("markers", "backends(*names): run the tests that take the backend fixture on these "
                                       "entries of tests/_backends.py's BACKENDS only (default: all of them)")


def pytest_generate_tests(metafunc: Any) -> None:
    """Every test that takes ``backend``: once per entry (of its ``backends`` marker, else of BACKENDS)."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("backends")
    names = marker.args if marker is not None else [entry.name for entry in BACKENDS]
    entries = [BY_NAME[name] for name in names if metafunc.function.__name__ not in BY_NAME[name].replaced]
    metafunc.parametrize("backend", entries, indirect=True, ids=[entry.name for entry in entries])


@pytest.fixture
def backend(request: Any) -> Iterator[str]:
    """Connected to one backend of BACKENDS for the test (its label); actors of a test are gone after it."""
    entry = request.param
    why = entry.missing()
    if why:
        pytest.skip(why)
    yield from entry.open(request)


@pytest.fixture
def local() -> Iterator[str]:
    import fastparl

    fastparl.disconnect()
    fastparl.connect("local")
    yield "local"
    fastparl.disconnect()


# ---------------------------------------------------------------- what the zmq backend's tests need
@pytest.fixture(scope="session")
def token_file(tmp_path_factory: Any) -> str:
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text("a-test-token-" + os.urandom(8).hex() + "\n")
    path.chmod(0o600)
    return str(path)


@pytest.fixture
def use_token(token_file: str, monkeypatch: Any) -> str:
    monkeypatch.setenv("FASTPARL_TOKEN_FILE", token_file)
    monkeypatch.delenv("FASTPARL_TOKEN", raising=False)
    monkeypatch.delenv("FASTPARL_HOSTS", raising=False)
    return token_file


@pytest.fixture(scope="session")
def cluster(token_file: str, tmp_path_factory: Any) -> Iterator[list]:
    """Two loopback worker daemons that look like two other hosts (their actors are reached over TCP)."""
    from _cluster import WorkerProc

    logs = str(tmp_path_factory.mktemp("logs"))
    workers = [WorkerProc(token_file, cpus=16, host_id=f"test-host-{i}", log_dir=logs) for i in range(2)]
    yield workers
    pids = [p for w in workers for p in w.pids()]
    codes = [w.stop() for w in workers]
    assert codes == [0, 0], [w.output()[-2000:] for w in workers]
    assert still_alive(pids) == [], "worker processes outlived their daemon"


# ---------------------------------------------------------------- what the Ray backend's tests need
@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[set]:
    """One local Ray instance for the session: yields the pids of its processes.

    Started once (``ray.init`` takes several seconds), small (2 CPUs, a 100 MB object store, two
    declared GPUs so that ``n_gpu`` placement can be checked on any machine), in its own temp dir
    under /tmp, and stopped at the end of the session; every process it started must be gone then
    (checked by pid).
    """
    ray = pytest.importorskip("ray", reason=BY_NAME["ray"].reason)
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
