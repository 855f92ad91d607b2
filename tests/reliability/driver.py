"""Driver programs for the fault suite: ``python driver.py MODE [ARGS]``.

Each prints one JSON line of the pids it made (driver, fork server, actors, actors' children), then
does what MODE says; the tests end it in various ways and check that nothing outlives it.
"""

import gc
import json
import os
import resource
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

import fastparl  # noqa: E402
from _actors import AsyncFaulty, RemoteFaulty  # noqa: E402

GREETING = "first"  # read by Greeter in the actor: a __main__ class ships with the globals of now


class Greeter:
    def hello(self):
        return GREETING


class Counter:
    """A light actor (a class of __main__ travels by value: the actor imports no test module)."""

    def __init__(self, n=0):
        self.n = n

    def add(self):
        self.n += 1
        return self.n

    def total(self, arr):
        return float(arr.sum())


def _server() -> int:
    return fastparl.remote.current_backend().server.pid


def _say(**info) -> None:
    print(json.dumps(info), flush=True)


def _wait_for_signal(actor) -> None:
    print("busy", flush=True)
    actor.sleep(120)  # blocked in a call when the signal comes


def children(end: str) -> None:
    """An actor with a child of each kind; the driver then ends as ``end`` says."""
    actors = [RemoteFaulty() for _ in range(2)]
    kids = [actors[0].child(kind) for kind in ("mp", "fork", "popen", "daemon")]
    shared = fastparl.shared_array(1 << 16, fill=1.0)
    actors[1].fill(shared, 2.0)
    _say(driver=os.getpid(), server=_server(), actors=[a.pid() for a in actors], children=kids)
    if end == "exception":
        raise RuntimeError("the driver fails")
    if end in ("sigint", "sigkill"):
        _wait_for_signal(actors[0])  # the actor with children is busy: it cannot notice the driver's end


def eight(end: str) -> None:
    """8 actors busy with shared arrays and put() objects alive, until a signal ends the driver."""
    actors = [AsyncFaulty() for _ in range(8)]
    arrays = [fastparl.shared_array(1 << 18, fill=float(i)) for i in range(8)]
    ref = fastparl.put({"w": np.ones(1 << 18)})
    assert [a.mean_of(ref).get() for a in actors] == [1.0] * 8
    assert [a.total(s).get() for a, s in zip(actors, arrays)] == [float(i << 18) for i in range(8)]
    pids = [a.pid().get() for a in actors]
    futs = [a.sleep(120) for a in actors]
    _say(driver=os.getpid(), server=_server(), actors=pids, children=[])
    print("busy", flush=True)
    fastparl.wait(futs, num_returns=8)


def fd_limit(n_actors: str) -> None:
    """Under a descriptor limit of 1024 (soft and hard): ``n_actors`` actors work, each passed a large
    array (its arena); then shared arrays until the limit, then actors: clear ResourceErrors, and
    the driver goes on."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))
    RemoteCounter = fastparl.remote_class(Counter)
    t0 = time.monotonic()
    actors = [RemoteCounter(i) for i in range(int(n_actors))]
    big = np.ones(1 << 14)  # 128 KB: goes through each actor's arena
    ok = [a.total(big) for a in actors] == [float(1 << 14)] * len(actors)
    _say(driver=os.getpid(), server=_server(), actors=[a._fp_actor.pid for a in actors], children=[], ok=ok,
         fds=len(os.listdir("/proc/self/fd")), seconds=round(time.monotonic() - t0, 2))
    arrays = []
    try:
        for _ in range(2000):
            arrays.append(fastparl.shared_array(16))
        print("no error", flush=True)
    except fastparl.errors.ResourceError as e:
        print("ResourceError after", len(arrays), "arrays:", str(e).replace("\n", " "), flush=True)
    del arrays[:]
    gc.collect()
    print("still works:", actors[-1].add(), flush=True)
    used = len(os.listdir("/proc/self/fd"))
    resource.setrlimit(resource.RLIMIT_NOFILE, (used + 20, 1024))  # the next actors reach it soon
    more = []
    try:
        for _ in range(100):
            more.append(RemoteCounter())
        print("no error", len(more), flush=True)
    except fastparl.errors.ResourceError as e:
        print("ResourceError for actors after", len(more), ":", str(e).replace("\n", " "), flush=True)
    print("still works:", actors[0].add(), more[0].add(), flush=True)


def low_memory() -> None:
    """Shared memory runs out (a 600 MB address-space limit): clear ResourceErrors, and the driver goes on."""
    import psutil

    actor = RemoteFaulty()
    big = np.ones(1 << 17)  # 1 MB: its message needs an arena segment
    assert actor.total(big) == float(1 << 17)
    big5 = np.ones((5 << 20) // 8)  # made now: later, no memory is left to make it
    vms = psutil.Process().memory_info().vms
    resource.setrlimit(resource.RLIMIT_AS, (vms + (600 << 20), resource.RLIM_INFINITY))
    arrays = []
    for size in (64 << 20, 1 << 20):  # fill the address space up to the last MB
        try:
            for _ in range(1000):
                arrays.append(fastparl.shared_array(size, np.uint8))
            print("no error", flush=True)
        except fastparl.errors.ResourceError as e:
            print("ResourceError after", len(arrays), "arrays:", str(e).replace("\n", " "), flush=True)
    try:
        actor.total(big5)  # 5 MB: a new arena segment cannot be mapped now
        print("sent", flush=True)
    except fastparl.errors.ResourceError as e:
        print("ResourceError for a message:", str(e).replace("\n", " "), flush=True)
    del arrays[:]
    gc.collect()
    print("still works:", actor.total(big), actor.total(big5), flush=True)


def main_globals() -> None:
    """A class of __main__ reads a global; actors created after it changed see the new value."""
    global GREETING
    Remote = fastparl.remote_class(Greeter)
    first = Remote()
    GREETING = "second"
    second = Remote()
    print("greetings:", first.hello(), second.hello(), flush=True)


def progress(n: str, hold: str) -> None:
    """An actor writes ``n`` progress-bar updates and holds its call open ``hold`` s."""
    a = RemoteFaulty()
    _say(driver=os.getpid(), server=_server(), actors=[a.pid()], children=[])
    t0 = time.process_time()
    a.progress(int(n), 100, float(hold))
    print(f"\ndriver cpu {time.process_time() - t0:.3f}", flush=True)


if __name__ == "__main__":
    mode, args = sys.argv[1], sys.argv[2:]
    signal.signal(signal.SIGINT, signal.default_int_handler)
    {"children": children, "eight": eight, "fd-limit": fd_limit,
     "main-globals": main_globals, "low-memory": low_memory, "progress": progress}[mode](*args)
    print("end", flush=True)
