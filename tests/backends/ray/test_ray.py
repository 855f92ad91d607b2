"""What only the Ray backend does: Ray's deaths and kills as ActorDiedError, GPUs and memory as Ray
resources, shared arrays refused with the alternative, output prefixes, arguments an actor cannot
unpickle, and FASTPARL_BACKEND=ray starting (and stopping) a Ray instance of its own."""

import os
import signal
import subprocess
import sys
import tempfile
import textwrap
import time

import numpy as np
import pytest
from _actors import AsyncWorker, Plain, RemotePlain
from _procs import still_alive

import fastparl
from fastparl.errors import ActorDiedError, FastparlError, ResourceError, SerializationError

ray = pytest.importorskip("ray", reason="the Ray backend needs Ray: pip install 'fastparl[ray]'")
pytestmark = pytest.mark.backends("ray")  # the backend fixture: the session's Ray instance (tests/_backends.py)

TESTS = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROOT = os.path.dirname(TESTS)


def test_pending_futures_fail_promptly_when_a_ray_actor_dies(backend):
    w = AsyncWorker()
    assert w.work(0).result() == 0
    slow = w.sleep(30)
    later = w.work(2)
    pid = w._fp_actor.pid
    os.kill(pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(ActorDiedError, match=f"AsyncWorker \\(pid {pid}\\) died before AsyncWorker.sleep") as info:
        slow.result(timeout=20)
    assert isinstance(info.value.__cause__, ray.exceptions.RayActorError)  # Ray's report stays attached
    with pytest.raises(ActorDiedError):
        later.result(timeout=20)
    with pytest.raises(ActorDiedError):
        w.work(3).result()
    assert time.monotonic() - t0 < 5


def test_an_actor_killed_through_ray_raises_actor_died(backend):
    p = RemotePlain()
    pid = p.pid()
    ray.kill(p._fp_actor._handle)  # by Ray itself, not by fastparl.kill
    with pytest.raises(ActorDiedError, match="Plain") as info:
        for _ in range(200):  # ray.kill is asynchronous: a call may still slip through first
            p.add()
            time.sleep(0.01)
    assert isinstance(info.value.__cause__, ray.exceptions.RayActorError)
    assert still_alive([pid]) == []


def test_fastparl_kill_ends_the_ray_actor(backend):
    p = RemotePlain()
    pid = p.pid()
    fastparl.kill(p)
    assert still_alive([pid]) == []
    with pytest.raises(ActorDiedError, match="fastparl.kill"):
        p.add()


def test_gpus_are_ray_resources(backend):
    """conftest.py's Ray instance declares 2 GPUs: Ray hands them out exclusively, like the other backends."""
    GpuPlain = fastparl.remote_class(n_gpu=1)(Plain)
    a, b = GpuPlain(), GpuPlain()
    assert sorted([a.env("CUDA_VISIBLE_DEVICES"), b.env("CUDA_VISIBLE_DEVICES")]) == ["0", "1"]
    assert RemotePlain().env("CUDA_VISIBLE_DEVICES") == ""  # n_gpu=0 hides the GPUs
    with pytest.raises(ResourceError, match="n_gpu=3.*no node"):
        fastparl.remote_class(n_gpu=3)(Plain)()  # can never fit: at once, without waiting
    fastparl.remote.current_backend().start_timeout = 1.0  # connect("ray", start_timeout=...) sets it
    with pytest.raises(ResourceError, match="did not start actor Plain \\(it needs 1 GPU\\(s\\)\\) within 1.0 s"):
        GpuPlain()  # fits the cluster, but both GPUs are taken
    fastparl.remote.current_backend().start_timeout = 60.0
    fastparl.kill(a)
    assert GpuPlain().env("CUDA_VISIBLE_DEVICES") in ("0", "1")  # a's GPU came back


def test_autoscaling_clusters_wait_for_nodes(backend):
    fastparl.disconnect()
    fastparl.connect("ray", autoscaling=True, start_timeout=1.0)
    t0 = time.monotonic()
    with pytest.raises(ResourceError, match="did not start actor Plain \\(it needs 3 GPU\\(s\\)\\) within 1.0 s"):
        fastparl.remote_class(n_gpu=3)(Plain)()  # no node has 3 GPUs, but one may join: wait, then give up
    assert time.monotonic() - t0 >= 1.0


class _Resources:
    def assigned(self):
        import ray

        return ray.get_runtime_context().get_assigned_resources()


def test_max_memory_is_reserved_as_ray_memory(backend):
    reserved = fastparl.remote_class(max_memory=64)(_Resources)().assigned()
    assert reserved.get("memory") == 64 * 2**20
    assert "memory" not in fastparl.remote_class(_Resources)().assigned()
    with pytest.raises(ResourceError, match="max_memory=10000000 MB"):
        fastparl.remote_class(max_memory=10_000_000)(Plain)()


class _OddNames:
    def _actor_id(self):  # a name Ray's actor handles use themselves
        return "mine"

    def remote(self, x):
        return x + 1

    @staticmethod
    def twice(x):
        return 2 * x


def test_method_names_that_ray_uses_itself(backend):
    o = fastparl.remote_class(_OddNames)()
    assert o._actor_id() == "mine" and o.remote(1) == 2 and o.twice(4) == 8


def test_a_class_also_used_with_plain_ray(backend):
    """ray.remote(cls) adds a _ray_trace_ctx keyword to cls's own methods: a fastparl proxy of cls still works."""

    class Both:
        def add(self, x, y=1):
            return x + y

    ray.remote(Both)
    assert fastparl.remote_class(Both)().add(1, y=2) == 3


def test_shared_arrays_are_refused_with_the_alternative(backend):
    with pytest.raises(FastparlError, match="not possible on the 'ray' backend.*fastparl.put"):
        fastparl.shared_array(10)
    ref = fastparl.put(np.arange(10.0))  # the alternative works
    assert RemotePlain().total(ref) == 45.0


def test_arguments_the_actor_cannot_unpickle(backend, tmp_path):
    import importlib.util

    src = tmp_path / "driver_only_mod.py"
    src.write_text("class Thing:\n    pass\n")
    spec = importlib.util.spec_from_file_location("driver_only_xyz", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    sys.modules["driver_only_xyz"] = mod  # pickled by reference, yet no actor can import it
    try:
        p = RemotePlain()
        with pytest.raises(SerializationError, match="could not unpickle the arguments of Plain.identity\\(\\)"):
            p.identity(mod.Thing())
        assert p.add() == 1
    finally:
        del sys.modules["driver_only_xyz"]


def test_output_is_prefixed_with_the_class_and_pid(backend, capfd):
    p = RemotePlain()
    pid = p.pid()
    p.say("hello-from-ray")
    seen = ""
    deadline = time.monotonic() + 10
    while f"(Plain pid={pid})" not in seen and time.monotonic() < deadline:
        time.sleep(0.05)
        seen += "".join(capfd.readouterr())
    assert f"(Plain pid={pid})" in seen and "hello-from-ray" in seen


def test_actors_create_ray_actors_that_end_with_them(backend):
    @fastparl.remote_class
    class Leaf:
        def where(self):
            return os.getpid(), fastparl.remote.current_backend().name if fastparl.remote.is_connected() else None

    @fastparl.remote_class
    class Parent:
        def __init__(self):
            self.kid = Leaf()

        def kid_info(self):
            return fastparl.remote.current_backend().name, self.kid.where()

    p = Parent()
    backend_name, (kid_pid, _) = p.kid_info()
    assert backend_name == "ray"  # inside a Ray actor, remote classes are Ray actors of the same cluster
    fastparl.kill(p)
    assert still_alive([kid_pid]) == []  # Ray ends the actors an actor owned with it


def test_ray_targets_are_routed_to_this_backend():
    from fastparl.remote.backend import backend_for_target

    assert backend_for_target("ray") == "ray"
    assert backend_for_target("ray://10.0.0.2:10001") == "ray"
    assert backend_for_target("10.0.0.2:8037") == "zmq"


_OWN_INSTANCE = textwrap.dedent("""
    import os, sys
    import fastparl
    from fastparl.errors import ResourceError
    sys.path.insert(0, {tests!r})
    from _actors import Plain, RemotePlain
    import psutil

    p = RemotePlain(1)
    assert p.add() == 2 and fastparl.remote.current_backend().name == "ray"
    assert fastparl.remote.current_backend().owns_ray
    try:
        fastparl.remote_class(n_gpu=len(fastparl.remote.current_backend().gpus()) + 1)(Plain)()
        raise SystemExit("n_gpu beyond the cluster's GPUs did not raise")
    except ResourceError as e:
        print("resource-error:", str(e)[:60])
    print("pids", *[c.pid for c in psutil.Process().children(recursive=True)])
    fastparl.disconnect()
    import ray
    assert not ray.is_initialized()
    print("done")
""")


def test_fastparl_backend_env_starts_and_stops_its_own_ray(tmp_path):
    """FASTPARL_BACKEND=ray with no Ray running: connect() starts a quiet local instance and disconnect() stops it."""
    temp = tempfile.mkdtemp(prefix="fp-ray-own-", dir="/tmp")
    env = dict(os.environ, FASTPARL_BACKEND="ray", RAY_TMPDIR=temp)
    env.pop("RAY_ADDRESS", None)
    env.pop("FASTPARL_HOSTS", None)
    script = _OWN_INSTANCE.format(tests=TESTS)
    try:
        out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=180)
    finally:
        import shutil

        shutil.rmtree(temp, ignore_errors=True)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "done" in out.stdout and "resource-error:" in out.stdout
    pids = [int(x) for line in out.stdout.splitlines() if line.startswith("pids") for x in line.split()[1:]]
    assert len(pids) >= 2  # Ray's own processes (GCS, raylet, ...) and the actor's worker
    assert still_alive(pids, timeout=20) == []
    noise = [line for line in out.stderr.splitlines() if "INFO" in line or "WARNING" in line or "Started" in line]
    assert noise == [], noise


def test_perf_report_runs_quick(ray_cluster, tmp_path):
    """perf/ray_backend/ (quick) on the session's Ray instance: every section yields its numbers."""
    sys.path.insert(0, ROOT)
    from perf import ray_backend

    R = ray_backend.main(["--quick", "--out", str(tmp_path)])
    assert not [k for k, v in R.items() if isinstance(v, dict) and "error" in v]
    assert R["latency"]["ratio_p50"] > 0 and R["pipelined"]["ratio"] > 0 and len(R["arrays"]["rows"]) == 3
    text = (tmp_path / "ray_backend.md").read_text()
    assert "no-op call p50" in text and "1 MB array out" in text
    assert ray.is_initialized()  # the report used this instance and left it running


def _spy(monkeypatch, name):
    """Replace ray.<name> by a wrapper that records each call's (args, kwargs) and calls the real one."""
    real, calls = getattr(ray, name), []

    def spy(*args, **kwargs):
        calls.append((args, kwargs))
        return real(*args, **kwargs)

    monkeypatch.setattr(ray, name, spy)
    return calls


def test_put_goes_through_the_object_store_once(backend, monkeypatch):
    """fastparl.put is one ray.put; what travels to actors is the Ray reference, not the 2 MB value per call."""
    import pickle

    puts = _spy(monkeypatch, "put")
    weights = {"w": np.full(1 << 18, 3.0)}
    ref = fastparl.put(weights)
    assert len(puts) == 1 and puts[0][0][0] is weights
    blob = pickle.dumps(ref)
    assert len(blob) < 10_000, f"a put() reference pickles to {len(blob)} bytes: the value itself travels"
    assert pickle.loads(blob)["w"][0] == 3.0  # it resolves through ray.get
    actors = [RemotePlain() for _ in range(2)]
    assert [a.mean_of(ref) for a in actors for _ in range(2)] == [3.0] * 4
    assert len(puts) == 1  # the calls put nothing more
    assert fastparl.get(ref) is weights


def test_get_of_many_futures_is_one_ray_get(backend, monkeypatch):
    actors = [AsyncWorker() for _ in range(2)]
    futures = [a.sleep(0.05) for a in actors for _ in range(3)]
    gets = _spy(monkeypatch, "get")
    assert fastparl.get(futures) == [0.05] * 6
    many = [args[0] for args, _ in gets if isinstance(args[0], list)]
    assert len(many) == 1 and len(many[0]) == 6
    assert isinstance(gets[0][0][0], list)  # fetched together first, each one then decoded


def test_wait_blocks_in_ray_wait_instead_of_polling(backend, monkeypatch):
    a = AsyncWorker()
    fut = a.sleep(0.5)
    waits = _spy(monkeypatch, "wait")
    done, pending = fastparl.wait([fut], num_returns=1, timeout=30)
    assert done == [fut] and pending == []
    blocking = [kw for _, kw in waits if kw.get("timeout") != 0]
    assert len(blocking) >= 1 and all(kw["timeout"] is None or kw["timeout"] > 1 for kw in blocking)
    assert len(waits) < 10, f"{len(waits)} ray.wait calls for one future: polling"
    fut2 = a.sleep(0.3)
    waits.clear()
    assert fastparl.wait([fut2], num_returns=1)[0] == [fut2]  # no timeout: ray.wait(timeout=None)
    assert len(waits) < 10 and any(kw.get("timeout") is None for _, kw in waits)


def test_max_restarts_re_creates_a_dead_ray_actor(backend):
    class Counter:
        def __init__(self, start):
            self.n = start

        def incr(self):
            self.n += 1
            return self.n

        def pid(self):
            return os.getpid()

    Restartable = fastparl.remote_class(max_restarts=1, max_task_retries=1)(Counter)
    c = Restartable(10)
    assert c.incr() == 11
    first = c.pid()
    os.kill(first, signal.SIGKILL)
    time.sleep(0.5)
    assert c.incr() == 11  # restarted from Counter(10), through fastparl's wrapper (fastparl/remote/restarts.py)
    assert c.pid() != first
    os.kill(c.pid(), signal.SIGKILL)
    time.sleep(0.5)
    with pytest.raises(ActorDiedError, match="no more restarts"):
        for _ in range(50):  # the death may be noticed one call late
            c.incr()
            time.sleep(0.05)
