"""A driver program for the lifecycle tests: starts actors, reports every pid, then ends as told."""

import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

import fastparl  # noqa: E402
from _actors import Plain, RemotePlain  # noqa: E402

mode = sys.argv[1]
signal.signal(signal.SIGINT, signal.default_int_handler)
actors = [RemotePlain(i) for i in range(3)]
if mode in ("sigint", "sigkill-driver"):
    actors.append(fastparl.remote_class(wait=False)(Plain)())  # an actor with a call in flight
elif mode == "max-memory":
    actors.append(fastparl.remote_class(max_memory=150)(Plain)())
pids = [fastparl.get(a.pid()) for a in actors]  # the processes' own word, futures or not
server = fastparl.remote.current_backend().server.pid
shared = fastparl.shared_array(1 << 20)
actors[0].fill(shared, 1.0)
actors[1].identity(fastparl.put({"w": shared.copy()}))
print(json.dumps({"driver": os.getpid(), "server": server, "actors": pids}), flush=True)  # every actor made

if mode == "normal":
    assert [a.add() for a in actors] == [1, 2, 3]
elif mode == "exception":
    raise RuntimeError("the driver fails")
elif mode in ("sigint", "sigkill-driver"):
    pending = actors[3].sleep(60)
    print("busy", flush=True)
    actors[2].sleep(60)  # blocked here when the signal comes
elif mode == "ctrl-c-then-call":
    print("busy", flush=True)
    try:
        actors[0].sleep(3)  # blocked here when Ctrl-C comes (the actor finishes this call all the same)
    except KeyboardInterrupt:
        print("interrupted", flush=True)
    # the same actors go on: the interrupted call's late reply must not be taken for these
    print("after:", actors[0].add(), actors[1].add(), actors[0].pid() == pids[0], flush=True)
elif mode == "kill-actor":
    os.kill(pids[0], signal.SIGKILL)
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
    hog = actors[3]
    try:
        hog.allocate(400)
        time.sleep(1.0)
        hog.add()
        print("NOT STOPPED", flush=True)
    except fastparl.errors.ResourceError as e:
        print("RESOURCE:", str(e).splitlines()[0], flush=True)
    print("others:", actors[1].add(), flush=True)
print("end", flush=True)
