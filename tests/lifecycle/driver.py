"""A driver program for the lifecycle tests: starts actors, reports pids, then ends as told."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import fastparl  # noqa: E402
from _actors import RemotePlain  # noqa: E402

mode = sys.argv[1]
actors = [RemotePlain(i) for i in range(3)]
server = fastparl.remote.backend().server.pid
info = {"driver": os.getpid(), "server": server, "actors": [a.pid() for a in actors]}
shared = fastparl.shared_array(1 << 20)
actors[0].fill(shared, 1.0)
actors[1].identity(fastparl.put({"w": shared.copy()}))
print(json.dumps(info), flush=True)

if mode == "normal":
    assert [a.add() for a in actors] == [1, 2, 3]
elif mode == "exception":
    raise RuntimeError("the driver fails")
elif mode in ("sigint", "sigkill-driver"):
    fut = [fastparl.remote_class(wait=False)(type(a)._fp_cls)() for a in actors[:1]]
    print("busy", flush=True)
    actors[2].sleep(60)  # blocked here when the signal comes
elif mode == "kill-actor":
    os.kill(info["actors"][0], signal.SIGKILL)
    try:
        actors[0].add()
    except fastparl.errors.ActorDiedError as e:
        print("DIED:", e.exitcode, str(e).splitlines()[0], flush=True)
    print("others:", actors[1].add(), actors[2].add(), flush=True)
elif mode == "actor-exit":
    try:
        actors[0].die(7)
    except fastparl.errors.ActorDiedError as e:
        print("DIED:", e.exitcode, "|", e.stderr_tail, flush=True)
    print("others:", actors[1].add(), flush=True)
elif mode == "output":
    actors[1].say("hello from the actor")
    time.sleep(0.2)
elif mode == "max-memory":
    Hog = fastparl.remote_class(max_memory=150)(type(actors[0])._fp_cls)
    hog = Hog()
    try:
        hog.allocate(400)
        time.sleep(1.0)
        hog.add()
        print("NOT STOPPED", flush=True)
    except fastparl.errors.ResourceError as e:
        print("RESOURCE:", str(e).splitlines()[0], flush=True)
    print("others:", actors[1].add(), flush=True)
print("end", flush=True)
