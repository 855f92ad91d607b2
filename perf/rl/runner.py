"""One system's turn in ``perf.rl``: start the system, run every task at N actors, print JSON, stop it.

    <python> perf/rl/runner.py --system {fastparl,parl,ray,serial} --tasks a2c-cartpole,... --actors 1,2
                             --seconds 3 --out result.json

Run by ``python -m perf.rl`` (:mod:`perf.rl.report`) with each system's own interpreter (PARL cannot be
installed beside fastparl's dependencies).  Every system runs the same :class:`workload.Sampler` through a four-method wrapper
(make an actor, call a method without waiting, get results, kill), and the same learner loops:

- A2C / ES (synchronous): every iteration sends the current weights to all N actors and waits for
  all N batches (ES then takes an ES step on the weights).
- IMPALA (asynchronous, as PARL's example): one driver thread per actor keeps it sampling and puts
  its batches on a queue (at most 8); the learner takes 1000-step batches from it; actors get new
  weights every 5th call.

Measured per (task, N): *first batch* = creating the N actors (and their envs) until the learner
holds its first batch; *env steps/s* = env steps the learner received over ``--seconds`` after that.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any

import numpy as np

import workload  # noqa: I001 - perf/rl/ is sys.path[0]: the same top-level name in every system's actors

HERE = os.path.dirname(os.path.abspath(__file__))
SETTLE_S = 3.0


# ------------------------------------------------------------------------------------------ systems
class Serial:
    """The serial loop: the sampler objects live in this process and run one after another."""

    name = "serial"

    def start(self, cpus: int) -> None: ...

    def actor(self, *args: Any) -> Any:
        return workload.Sampler(*args)

    def call(self, actor: Any, method: str, *args: Any) -> Any:
        return getattr(actor, method)(*args)

    def get(self, futures: list[Any]) -> list[Any]:
        return futures

    def kill(self, actor: Any) -> None:
        actor.close()

    def stop(self) -> None: ...


class Fastparl(Serial):
    name = "fastparl"

    def start(self, cpus: int) -> None:
        import fastparl

        self.fp = fastparl
        fastparl.connect()
        self.cls = fastparl.remote_class(wait=False)(workload.Sampler)

    def actor(self, *args: Any) -> Any:
        return self.cls(*args)

    def get(self, futures: list[Any]) -> list[Any]:
        return self.fp.get(futures)

    def kill(self, actor: Any) -> None:
        self.fp.kill(actor)

    def stop(self) -> None:
        self.fp.disconnect()


class Parl(Serial):
    """PARL 2.2.1 with its own cluster (``xparl start`` in a new session, stopped by process group)."""

    name = "parl"

    def start(self, cpus: int) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        xparl = os.path.join(os.path.dirname(sys.executable), "xparl")
        self.log = open(os.path.join(os.getcwd(), "xparl.log"), "w")
        proc = subprocess.Popen([xparl, "start", "--port", str(port), "--cpu_num", str(cpus)], stdout=self.log,
                                stderr=subprocess.STDOUT, process_group=0)
        self.pgid = proc.pid  # the cluster's processes stay in this group (PARL starts them without setsid)
        proc.wait(timeout=120)
        import parl

        self.parl = parl
        parl.connect(f"localhost:{port}")
        self.cls = parl.remote_class(wait=False)(workload.Sampler)

    def actor(self, *args: Any) -> Any:
        return self.cls(*args)

    def get(self, futures: list[Any]) -> list[Any]:
        return [f.get() for f in futures]

    def kill(self, actor: Any) -> None:
        actor.destroy()  # ends the proxy's thread; the job ends when the proxy is collected (run_task drops it)

    def stop(self) -> None:
        import psutil

        for child in psutil.Process().children(recursive=True):  # the client's heartbeat process
            child.kill()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(self.pgid, sig)
            except ProcessLookupError:
                break
            time.sleep(1.0)


class Ray(Serial):
    name = "ray"

    def start(self, cpus: int) -> None:
        os.environ["PYTHONPATH"] = HERE + os.pathsep + os.environ.get("PYTHONPATH", "")  # actors import workload
        import ray

        self.ray = ray
        ray_tmp = tempfile.mkdtemp(prefix="ray-")  # short: Ray's socket paths must fit in 107 bytes
        ray.init(num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                 _temp_dir=ray_tmp)
        self.tmp = ray_tmp
        self.cls = ray.remote(workload.Sampler)

    def actor(self, *args: Any) -> Any:
        return self.cls.remote(*args)

    def call(self, actor: Any, method: str, *args: Any) -> Any:
        return getattr(actor, method).remote(*args)

    def get(self, futures: list[Any]) -> list[Any]:
        return self.ray.get(futures)

    def kill(self, actor: Any) -> None:
        self.ray.kill(actor)

    def stop(self) -> None:
        self.ray.shutdown()
        shutil.rmtree(self.tmp, ignore_errors=True)


SYSTEMS = {c.name: c for c in (Serial, Fastparl, Parl, Ray)}


# ------------------------------------------------------------------------------------------ learners
def run_sync(sys_: Serial, actors: list[Any], task: str, seconds: float, t0: float) -> dict[str, float]:
    """A2C / ES: weights out to every actor, wait for all N batches, update, repeat."""
    es = workload.TASKS[task]["kind"] == "es"
    weights = workload.init_weights(task)
    seed = 0

    def iteration() -> int:
        nonlocal weights, seed
        if es:
            futures = [sys_.call(a, "es", weights, seed + i) for i, a in enumerate(actors)]
        else:
            futures = [sys_.call(a, "sample", weights) for a in actors]
        batches = sys_.get(futures)
        seed += len(actors)
        weights = workload.es_update(weights, batches) if es else weights * np.float32(0.9999)  # a new array each time
        return sum(workload.batch_steps(b) for b in batches)

    iteration()
    first = time.perf_counter() - t0
    steps, t1 = 0, time.perf_counter()
    while time.perf_counter() - t1 < seconds:
        steps += iteration()
    return {"first_batch_s": first, "steps_per_s": steps / (time.perf_counter() - t1)}


def run_impala(sys_: Serial, actors: list[Any], task: str, seconds: float, t0: float) -> dict[str, float]:
    """IMPALA: a thread per actor keeps it sampling; the learner takes 1000-step batches off a queue."""
    spec = workload.TASKS[task]
    latest = [workload.init_weights(task)]
    q: queue.Queue = queue.Queue(maxsize=8)
    stop = threading.Event()

    def loop(actor: Any) -> None:
        k = 0
        while not stop.is_set():
            w = latest[0] if k % spec["broadcast"] == 0 else None
            batch = sys_.get([sys_.call(actor, "sample", w)])[0]
            k += 1
            while not stop.is_set():
                try:
                    q.put(batch, timeout=0.1)
                    break
                except queue.Full:
                    pass

    def learner_batch() -> int:
        got = 0
        while got < spec["batch"]:
            got += workload.batch_steps(q.get())
        latest[0] = latest[0] * np.float32(0.9999)
        return got

    threads = [threading.Thread(target=loop, args=(a,), daemon=True) for a in actors]
    for t in threads:
        t.start()
    learner_batch()
    first = time.perf_counter() - t0
    steps, t1 = 0, time.perf_counter()
    while time.perf_counter() - t1 < seconds:
        steps += learner_batch()
    rate = steps / (time.perf_counter() - t1)
    stop.set()
    for t in threads:
        t.join(timeout=60)
    return {"first_batch_s": first, "steps_per_s": rate}


def run_task(sys_: Serial, task: str, n: int, seconds: float) -> dict[str, float]:
    t0 = time.perf_counter()
    actors = [sys_.actor(task, i) for i in range(n)]
    run = run_impala if workload.TASKS[task]["kind"] == "impala" else run_sync
    try:
        return run(sys_, actors, task, seconds, t0)
    finally:
        for a in actors:
            sys_.kill(a)
        del actors
        gc.collect()
        time.sleep(SETTLE_S)  # let every system wind down (PARL restarts the jobs of killed actors) before the next


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--system", choices=sorted(SYSTEMS), required=True)
    p.add_argument("--tasks", default=",".join(workload.TASKS))
    p.add_argument("--actors", default="1,2")
    p.add_argument("--seconds", type=float, default=3.0)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    ns = [int(x) for x in a.actors.split(",")]
    t0 = time.perf_counter()
    sys_ = SYSTEMS[a.system]()
    sys_.start(max(ns))
    res: dict[str, Any] = {"system": a.system, "start_s": time.perf_counter() - t0, "tasks": {}}
    try:
        for task in a.tasks.split(","):
            for n in ns:
                try:
                    res["tasks"][f"{task}/{n}"] = run_task(sys_, task, n, a.seconds)
                except Exception as e:  # noqa: BLE001 - one failing task must not lose the others
                    res["tasks"][f"{task}/{n}"] = {"error": f"{type(e).__name__}: {e}"}
                print(f"  {a.system} {task} N={n}: {res['tasks'][f'{task}/{n}']}", file=sys.stderr, flush=True)
    finally:
        with open(a.out, "w") as f:
            json.dump(res, f)
        sys_.stop()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # PARL's and Ray's client threads must not hold the exit


if __name__ == "__main__":
    main()
