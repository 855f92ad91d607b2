"""The backend contract: what user code may rely on, whatever runs the actors.

Every test here takes the ``backend`` fixture and so runs on every backend of tests/_backends.py's
BACKENDS (a backend joins by an entry there); what a backend cannot promise is skipped by its
Capabilities (``@pytest.mark.requires``).
"""

import inspect
import os
import pickle

import numpy as np
import pytest

import fastparl
from fastparl.errors import (ActorDiedError, FastparlError, FutureTimeoutError, RemoteAttributeError, RemoteError,
                             SerializationError)

from _procs import own_memfds, segment_inode, still_alive
from _actors import AsyncWorker, Base, CustomError, Plain, RemotePlain


def test_calls_args_and_attributes(backend):
    p = RemotePlain(5, name="x")
    assert p.add() == 6
    assert p.add(k=4) == 10
    assert p.echo(1, 2, a=3) == ((1, 2), {"a": 3})
    assert p.kwonly(1, 2) == (1, 2, 3, {})
    assert p.kwonly(1, b=2, c=5, z=9) == (1, 2, 5, {"z": 9})
    assert p.n == 10 and p.name == "x" and p.double == 20
    p.n = 1
    assert p.add() == 2
    p.new_attr = [1, 2]
    assert p.new_attr == [1, 2]


def test_calls_run_in_order(backend):
    p = RemotePlain()
    assert [p.add() for _ in range(50)] == list(range(1, 51))


def test_argument_errors_raise_in_the_caller(backend):
    p = RemotePlain()
    with pytest.raises(TypeError, match="positional"):
        p.add(1, 2)
    with pytest.raises(TypeError):
        p.kwonly(a=1, b=2)  # a is positional-only
    with pytest.raises(TypeError, match="Plain"):
        RemotePlain(1, 2, 3)
    assert p.add() == 1  # the actor is unharmed


def test_class_looks_like_the_original(backend):
    assert RemotePlain.__name__ == "Plain"
    assert RemotePlain.__doc__ == Plain.__doc__
    assert str(inspect.signature(RemotePlain.add)) == str(inspect.signature(Plain.add))
    assert str(inspect.signature(RemotePlain)) == str(inspect.signature(Plain))
    p = RemotePlain()
    assert isinstance(p, RemotePlain)
    assert "add" in dir(p)


def test_remote_exception_carries_type_and_traceback(backend):
    p = RemotePlain()
    with pytest.raises(ValueError) as info:
        p.fail("broken widget")
    err = info.value
    assert isinstance(err, RemoteError) and isinstance(err, FastparlError)
    assert "broken widget" in str(err) and "ValueError" in str(err) and "Plain.fail()" in str(err)
    assert "raise ValueError(msg)" in err.remote_traceback
    assert "Remote traceback" in str(err) and "raise ValueError(msg)" in str(err)  # shown where users look
    assert isinstance(err.__cause__, ValueError)
    with pytest.raises(RemoteError) as info:
        p.fail_custom()
    assert isinstance(info.value, CustomError) and info.value.__cause__.code == 42
    assert p.add() == 1  # still alive


def test_an_exception_whose_message_cannot_be_rendered_reaches_the_caller(backend):
    p = RemotePlain()
    with pytest.raises(RemoteError, match="could not be rendered: its __str__ raised RuntimeError: no text for you") as info:
        p.fail_unrenderable()
    assert type(info.value.__cause__).__name__ == "UnrenderableError"  # the original, and its type, still travel
    assert "fail_unrenderable" in info.value.remote_traceback
    assert p.add() == 1  # the actor lives on


def test_an_exception_that_does_not_pickle_keeps_its_type(backend):
    p = RemotePlain()
    with pytest.raises(ValueError, match="holds a lock") as info:  # except ValueError still catches it
        p.fail_unpicklable()
    assert isinstance(info.value, RemoteError) and info.value.__cause__ is None  # the lock could not travel
    assert p.add() == 1


def test_missing_method_or_attribute(backend):
    p = RemotePlain()
    with pytest.raises(AttributeError, match="no_such_thing"):
        p.no_such_thing()
    with pytest.raises(RemoteAttributeError):
        p.missing_attr
    assert not hasattr(p, "nope")
    assert p.add() == 1


def test_unpicklable_argument_names_the_culprit(backend):
    import threading

    p = RemotePlain()
    with pytest.raises(SerializationError, match="positional argument 0 \\(lock\\)"):
        p.identity(threading.Lock())
    with pytest.raises(SerializationError, match="keyword argument 'x'"):
        p.echo(1, x=threading.Lock())
    assert p.add() == 1


def test_unpicklable_result(backend):
    p = RemotePlain()
    with pytest.raises(SerializationError, match="unpicklable|pickle"):
        p.unpicklable()
    assert p.add() == 1


def test_lambdas_and_local_classes_travel(backend):
    p = RemotePlain()
    f = p.identity(lambda x: x + 1)
    assert f(1) == 2

    class Local:
        v = 3

    assert p.identity(Local()).v == 3


def test_futures(backend):
    w = AsyncWorker()
    futs = [w.work(i) for i in range(20)]
    assert all(isinstance(f, fastparl.Future) for f in futs)
    assert futs[3].get() == 9
    assert fastparl.get(futs) == [i * i for i in range(20)]
    assert futs[0].done()
    assert w.history().result(timeout=10) == list(range(20))


def test_futures_cannot_be_sent_to_actors(backend):
    w = AsyncWorker()
    f = w.work(2)
    with pytest.raises(SerializationError, match="future.get"):
        RemotePlain().identity(f)
    assert f.get() == 4


def test_future_timeout_and_wait(backend):
    w = AsyncWorker()
    slow = w.sleep(0.5)
    if fastparl.remote.current_backend().capabilities.interrupt_timeouts:
        with pytest.raises(FutureTimeoutError):
            slow.result(timeout=0.05)
        assert not slow.done()
    fast = w.work(3)
    done, pending = fastparl.wait([slow, fast], num_returns=2, timeout=10)
    assert len(done) == 2 and not pending
    assert slow.result() == 0.5 and fast.result() == 9


def test_wait_for_some_of_the_futures(backend):
    import time

    a, b = AsyncWorker(), AsyncWorker()
    quick = [a.work(2), b.work(3)]
    slow = b.sleep(3 if fastparl.remote.current_backend().capabilities.interrupt_timeouts else 0)
    t0 = time.monotonic()
    done, pending = fastparl.wait([slow, *quick], num_returns=2, timeout=10)
    assert set(done) <= {slow, *quick} and len(done) >= 2 and len(done) + len(pending) == 3
    assert [f for f in [slow, *quick] if f in done] == done  # in the order given
    if fastparl.remote.current_backend().capabilities.interrupt_timeouts:
        assert done == quick and pending == [slow] and time.monotonic() - t0 < 2.7  # not waiting for slow
    assert fastparl.get(quick) == [4, 9]
    assert fastparl.wait([slow, *quick], num_returns=3, timeout=10) == ([slow, *quick], [])


@pytest.mark.requires("interrupt_timeouts")
def test_wait_returns_when_its_timeout_runs_out(backend):
    import time

    w = AsyncWorker()
    slow = [w.sleep(5), w.sleep(5)]
    t0 = time.monotonic()
    done, pending = fastparl.wait(slow, num_returns=1, timeout=0.3)
    assert (done, pending) == ([], slow)
    assert 0.3 <= time.monotonic() - t0 < 3  # its timeout, not the 5 s calls
    done, pending = fastparl.wait(slow, num_returns=2, timeout=0)
    assert (done, pending) == ([], slow)
    fastparl.kill(w)


def test_many_pipelined_futures_do_not_deadlock(backend):
    w = AsyncWorker()
    big = np.ones(1000)
    futs = [w.work(i) for i in range(3000)]
    futs += [w.sleep(0) for _ in range(10)]
    assert fastparl.get(futs[:3000]) == [i * i for i in range(3000)]
    del big


def test_numpy_roundtrip_and_read_only_views(backend):
    p = RemotePlain()
    for n in (3, 10_000, 1_000_000):
        a = np.random.default_rng(n).standard_normal(n)
        b = p.identity(a)
        assert np.array_equal(a, b) and b.dtype == a.dtype
    big = p.make(1 << 20)
    assert big.dtype == np.float32 and big[-1] == (1 << 20) - 1
    assert not big.flags.writeable  # a view of the sender's buffer: copy it to write
    assert not p.writable(np.zeros(1 << 18))
    nested = p.identity({"w": [np.ones((300, 300)), np.zeros(5)], "s": "x"})
    assert nested["w"][0].shape == (300, 300) and nested["s"] == "x"


def test_small_arrays_arrive_writable_on_every_backend(backend):
    """The rule (serialization.WRITABLE_BELOW): arrays under 64 KB are the receiver's own, writable, arrays
    on every backend, in results nested in tuples, lists and dicts as well."""
    from fastparl.remote.serialization import WRITABLE_BELOW

    p = RemotePlain()
    small = np.arange(WRITABLE_BELOW // 8 - 1, dtype=np.float64)
    out = p.identity({"a": small, "b": [small[:3], (small[:5], 1)], "c": "x"})
    for arr in (out["a"], out["b"][0], out["b"][1][0]):
        assert arr.flags.writeable
        arr[0] = 7.0  # and writing to it is allowed
    assert np.array_equal(out["a"][1:], small[1:]) and out["b"][1][1] == 1 and out["c"] == "x"
    assert p.identity(small).flags.writeable


def test_mid_size_arrays_pipelined_arrive_intact_and_writable(backend):
    """64-127 KB arrays travel in band on the local backend, as several buffers sent without being
    joined; many in flight fill the socket, so some frames go out in parts.  Each must arrive whole and
    in order, and where it travelled in band (local, serial: below 128 KB) as the receiver's own
    writable array, also from a read-only source array."""
    from fastparl.remote import current_backend as current

    in_band = current().name in ("local", "serial")
    p = fastparl.remote_class(wait=False)(Plain)()
    rng = np.random.default_rng(0)
    sent = [rng.standard_normal(rng.integers(8_000, 16_000)) for _ in range(200)]  # 64-128 KB of float64
    sent[7].flags.writeable = False
    futures = [p.identity(a) for a in sent]
    for k in range(0, 200, 50):  # the driver changes the arrays after sending: the actor's copies must not
        sent[k] = sent[k] + 0
    back = fastparl.get(futures)
    for a, b in zip(sent, back):
        assert np.array_equal(a, b) and (b.flags.writeable or not in_band)
    got = fastparl.get(p.identity(sent[7]))
    assert np.array_equal(got, sent[7]) and (got.flags.writeable or not in_band)


@pytest.mark.requires("shared_memory")
def test_shared_array_is_written_in_place(backend):
    p = RemotePlain()
    s = fastparl.shared_array((4, 1000), np.float32)
    p.fill(s, 7.0)
    assert (s == 7).all()
    p.fill(s[1], 3.0)  # a view travels as a handle too
    assert (s[1] == 3).all() and (s[0] == 7).all()
    assert p.total(s) == pytest.approx(7 * 3000 + 3 * 1000)
    back = p.identity(s)
    assert isinstance(back, fastparl.SharedArray)
    back[0, 0] = -1
    assert s[0, 0] == -1  # same memory
    assert p.writable(s)


def test_put_broadcasts_one_copy(backend):
    weights = {"w1": np.full((256, 256), 2.0), "w2": np.full(1000, 2.0)}
    ref = fastparl.put(weights)
    actors = [RemotePlain() for _ in range(3)]
    assert [a.mean_of(ref) for a in actors] == [2.0, 2.0, 2.0]
    assert actors[0].writable(fastparl.put(np.ones(100_000))) is False
    assert fastparl.get(ref) is weights


def test_kill_and_dead_actor_errors(backend):
    p, q = RemotePlain(), RemotePlain()
    assert p.add() == 1
    fastparl.kill(p)
    with pytest.raises(ActorDiedError, match="fastparl.kill"):
        p.add()
    with pytest.raises(ActorDiedError):
        p.add()
    assert q.add() == 1  # others are unharmed
    with pytest.raises(TypeError):
        fastparl.kill(object())
    if fastparl.remote.current_backend().capabilities.processes:  # a busy actor's process ends at once
        w = AsyncWorker()
        pid = w._fp_actor.pid
        busy = w.sleep(30)
        fastparl.kill(w)
        assert still_alive([pid], 1.0) == []
        with pytest.raises(ActorDiedError):
            busy.result(timeout=1)


def test_subclassing_a_remote_class(backend):
    class Child(Base):
        def who(self):
            return "child:" + super().who()

        def twice(self):
            return 2 * self.get()

    c = Child(21)
    assert c.twice() == 42 and c.who() == "child:base" and c.get() == 21
    assert isinstance(c, Base) and isinstance(c, Child)


def test_proxies_cannot_be_pickled(backend):
    p = RemotePlain()
    with pytest.raises(SerializationError):
        pickle.dumps(p)


class _FailsToStart:
    def __init__(self, x):
        raise KeyError(f"no config {x}")


def test_constructor_errors_reach_the_caller(backend):
    Remote = fastparl.remote_class(_FailsToStart)
    with pytest.raises(KeyError) as info:
        Remote("abc")
    assert isinstance(info.value, RemoteError) and "no config abc" in str(info.value)
    assert "_FailsToStart.__init__()" in str(info.value)
    assert RemotePlain().add() == 1  # the runtime is fine afterwards


def test_callable_attributes_set_in_init_are_callable(backend):
    p = RemotePlain()
    p.fn = len  # a builtin stored on the instance: reached through attribute access
    assert p.fn([1, 2, 3]) == 3


def test_class_from_a_module_loaded_by_path_travels_by_value(backend, tmp_path):
    import importlib.util

    src = tmp_path / "by_path_mod.py"
    src.write_text("class Thing:\n    def hello(self):\n        return 'hi from ' + __name__\n")
    spec = importlib.util.spec_from_file_location("made_up_name_xyz", src)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    import sys

    sys.modules["made_up_name_xyz"] = mod  # registered, as importlib-based loaders do, yet not importable
    try:
        Remote = fastparl.remote_class(mod.Thing)
        assert Remote().hello() == "hi from made_up_name_xyz"
    finally:
        del sys.modules["made_up_name_xyz"]


@pytest.mark.backends("local", "local-posix", "serial", "ray")  # an actor on another host keeps its own sys.path
def test_constructor_arguments_of_a_module_the_driver_made_importable_at_run_time(backend, tmp_path, monkeypatch):
    """A script that does ``sys.path.insert(0, its folder)`` (as PARL's examples do) may pass objects of its
    own modules to an actor's constructor: the actor has the driver's sys.path before it unpickles them."""
    import gc
    import sys

    (tmp_path / "run_time_path_mod.py").write_text(
        "import numpy as np\n\n"
        "class Config:\n"
        "    def __init__(self, scale):\n"
        "        self.scale = scale\n"
        "        self.weights = np.ones(1 << 18)  # 2 MiB: out of band, through shared memory where there is some\n")
    monkeypatch.syspath_prepend(str(tmp_path))  # sys.path.insert(0, ...) at run time, undone after the test
    from run_time_path_mod import Config

    class Holder:
        def __init__(self, config):
            self.config = config

        def total(self):
            return type(self.config).__module__, self.config.scale * float(self.config.weights.sum())

        def pid(self):
            return os.getpid()

    try:
        gc.collect()
        fds0 = own_memfds()
        holder = fastparl.remote_class(Holder)(Config(3.0))
        assert holder.total() == ("run_time_path_mod", 3.0 * (1 << 18))
        pid = holder.pid()
        del holder
        gc.collect()
        if fastparl.remote.current_backend().capabilities.processes:
            assert still_alive([pid]) == []
        assert own_memfds() == fds0, "shared memory of the constructor's arguments outlived the actor"
    finally:
        del sys.modules["run_time_path_mod"]


@pytest.mark.requires("zero_copy")
def test_large_arrays_arrive_as_views_of_shared_memory(backend):
    from _procs import in_shared_memory

    p = RemotePlain()
    big = p.make(1 << 20)  # 4 MB: out of band, in the actor's arena
    assert in_shared_memory(big) and not big.flags.writeable
    with pytest.raises(ValueError):
        big.flags.writeable = True  # read-only memory: NumPy must refuse (writing would crash)
    small = p.make(16)  # pickled in band: an ordinary private array
    assert not in_shared_memory(small)


@pytest.mark.requires("zero_copy", "shared_memory")
def test_actors_receive_views_of_shared_memory(backend):
    p = RemotePlain()
    assert p.view_info(np.ones(1 << 20)) == (True, False)  # large: a read-only view of the driver's arena
    assert p.view_info(np.ones(8)) == (False, True)  # small: pickled in band, a private copy
    ref = fastparl.put(np.arange(100_000, dtype=np.float64))
    assert [RemotePlain().view_info(ref) for _ in range(2)] == [(True, False)] * 2  # one shared copy, N views
    assert p.view_info(fastparl.shared_array(10)) == (True, True)  # shared arrays are writable


@pytest.mark.requires("processes")
def test_dropping_the_proxy_ends_the_actor(backend):
    import gc

    p = RemotePlain()
    pid = p.pid()
    del p
    gc.collect()
    assert still_alive([pid]) == []


@pytest.mark.requires("processes")
def test_pending_futures_fail_promptly_when_the_actor_dies(backend):
    import signal
    import time

    w = AsyncWorker()
    assert w.work(0).result() == 0  # a reply proves the actor is up
    slow = w.sleep(30)
    later = w.work(2)
    os.kill(w._fp_actor.pid, signal.SIGKILL)
    t0 = time.monotonic()
    with pytest.raises(ActorDiedError, match="SIGKILL"):
        slow.result(timeout=20)
    with pytest.raises(ActorDiedError):
        later.result(timeout=20)
    with pytest.raises(ActorDiedError):
        w.work(3).result()
    assert time.monotonic() - t0 < 5


def test_actors_can_create_actors(backend):
    """An actor may use remote classes itself (the proxy class travels with cloudpickle when it
    is defined in a function or in __main__)."""

    @fastparl.remote_class
    class Leaf:
        def pid(self):
            return os.getpid()

    @fastparl.remote_class
    class Parent:
        def __init__(self):
            self.kids = [Leaf() for _ in range(2)]

        def pids(self):
            return os.getpid(), [k.pid() for k in self.kids]

    me, kids = Parent().pids()
    processes = fastparl.remote.current_backend().capabilities.processes
    assert len(set(kids)) == (2 if processes else 1)
    assert (me not in kids) == processes


@pytest.mark.requires("shared_memory")
def test_put_memory_still_read_by_an_actor_is_never_reused(backend):
    import gc

    reader, other = RemotePlain(), RemotePlain()
    ref = fastparl.put({"w": np.full(1 << 20, 1.0)})
    assert reader.keep(ref) == 1.0  # the actor holds a view past the call
    assert other.mean_of(ref) == 1.0
    first = segment_inode(ref)
    del ref
    gc.collect()
    reader.add()
    other.add()
    ref2 = fastparl.put({"w": np.full(1 << 20, 7.0)})
    assert segment_inode(ref2) != first
    assert other.mean_of(ref2) == 7.0
    assert reader.kept_first() == 1.0  # unchanged
