"""Where a vector env's time goes, for the ``ecosystem`` section of ``perf.envs``: what stands between a system
and the ceiling.

Per system and timed block (a few ``perf_counter`` calls per batch step, CPU counters read outside the timed
region):

- the driver's wall split into the **policy** call (timed around it) and **step** (the rest of the block:
  the env's ``step`` / ``step_async`` + ``step_wait`` / ``recv`` + ``send``); for fastparl's
  ``RemoteVectorEnv`` step splits again at ``_collect`` (the driver waiting for its actors' futex or call
  replies) into **waiting** and the driver's **own** work (actions into shared memory, posting, views of the
  results, the infos batched);
- **CPU**: the driver process's CPU seconds (threads it started for the system excluded) and the
  **workers'** (the processes and threads the system's constructor started: actors, subprocesses, EnvPool's
  threads), from psutil / /proc around the block, in cores (÷ wall) and in µs per env step; workers
  **busy**: their cores ÷ min(workers, cores);
- the time the driver and the workers were runnable but **queued** for a CPU (the scheduler's run queue,
  ``/proc/.../schedstat``): a worker's wall is busy + queued + asleep (waiting for work);
- the **others'** CPU during the block (/proc/stat less this process tree): at normal priority, and niced;
  and the cores left idle.

Bounds that include the policy (``p``: the policy alone, seconds per env step on a batch of the cell's size,
timed in this process in the same run; ``s``: the serial env loop's steps/s, ``C = cores x s`` the ceiling):

- lockstep ``1 / (1/C + p)``: every core steps envs while the driver waits, then the driver runs the policy
  while the envs wait (what a lockstep vector env can reach with free stepping and no batch handling);
- overlap ``min(cores / (1/s + p), 1/p)``: envs and policy share the cores and nothing waits (double-
  buffered, EnvPool async); the driver's one thread caps it at ``1/p``.

Neither counts the batch's own handling (copies, infos, signals): that shows in the efficiency below.
The rate factors exactly (the CPU identity ``rate = cores used / CPU s per env step``)::

    rate / C = U x P x E,   U = (driver + workers cores) / cores     (the cores the system kept busy)
                            P = (1/s) / (1/s + p)                    (the env's share of the serial work)
                            E = (1/s + p) / (driver + workers CPU s per env step)   (work vs CPU spent)

``1 - U`` is the cores taken by other processes or left idle (both measured beside it).
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Callable

import numpy as np
import psutil

from perf.common.harness import median

__all__ = ["QUIET", "OtherCPU", "tree_cpu", "Workers", "Profile", "snapshot", "policy_seconds",
           "bounds", "summarize", "factors"]

QUIET = 0.15  # cores: rounds in which other processes used more are dropped (if enough remain)


def _stat_s() -> tuple[float, float, float] | None:
    """CPU seconds of the machine (/proc/stat): used (all but idle and iowait; steal included), of that the
    niced part, and idle (with iowait)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (sum(v) - v[3] - v[4]) / hz, v[1] / hz, (v[3] + v[4]) / hz


def tree_cpu() -> float:
    """CPU seconds (user + system) of this process and all its descendants alive now."""
    me = psutil.Process()
    total = 0.0
    for proc in [me, *me.children(recursive=True)]:
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


class OtherCPU:
    """CPU that processes outside this process tree used during a ``with`` block (Linux), in cores:
    ``cores`` all of it (the hypervisor's steal included), ``niced`` the part at nice > 0 (background runs
    that yield to everything else; this tree runs at nice 0); ``idle``: cores nobody used.

    The machine is shared: a round in which other work held a core says nothing about these systems, so
    the reports keep only rounds where others used < ``QUIET`` of a core (when enough are quiet).
    """

    cores: float | None = None
    niced: float | None = None
    idle: float | None = None  # cores nobody used

    def __enter__(self) -> "OtherCPU":
        self.t0, self.busy0, self.ours0 = time.perf_counter(), _stat_s(), tree_cpu()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self.t0
        busy, ours = _stat_s(), tree_cpu()
        if busy is not None and self.busy0 is not None:
            self.cores = max(0.0, (busy[0] - self.busy0[0]) - (ours - self.ours0)) / wall
            self.niced = (busy[1] - self.busy0[1]) / wall
            self.idle = (busy[2] - self.busy0[2]) / wall


def snapshot() -> tuple[set[int], set[int]]:
    """This process's descendants and threads now: what a system's constructor adds is its workers."""
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True)}, {t.id for t in me.threads()}


class Workers:
    """The processes and threads started since ``before`` (a :func:`snapshot`): a system's workers."""

    def __init__(self, before: tuple[set[int], set[int]]):
        pids, tids = snapshot()
        self.procs = [psutil.Process(p) for p in sorted(pids - before[0])]
        self.tids = tids - before[1]

    def __len__(self) -> int:
        return len(self.procs) + len(self.tids)

    def cpu(self) -> tuple[float, float]:
        """(workers', driver's) CPU seconds so far; the driver: this process less the workers' threads."""
        me = psutil.Process()
        t = me.cpu_times()
        threads = sum(th.user_time + th.system_time for th in me.threads() if th.id in self.tids) if self.tids else 0.0
        procs = 0.0
        for p in self.procs:
            try:
                c = p.cpu_times()
                procs += c.user + c.system
            except psutil.Error:
                pass
        return procs + threads, t.user + t.system - threads

    def queued(self) -> tuple[float, float] | None:
        """(workers', the calling thread's) seconds so far runnable but waiting for a CPU (the scheduler's run
        queue, /proc/.../schedstat: every thread of a worker process); None where the kernel does not say."""
        try:
            own = _sched_wait_s(f"/proc/self/task/{threading.get_native_id()}/schedstat")
            total = sum(_sched_wait_s(f"/proc/self/task/{t}/schedstat") for t in self.tids)
            for p in self.procs:
                try:
                    total += sum(_sched_wait_s(f"/proc/{p.pid}/task/{t}/schedstat") for t in os.listdir(f"/proc/{p.pid}/task"))
                except FileNotFoundError:  # the worker ended
                    pass
        except (OSError, ValueError, IndexError):
            return None
        return total, own


def _sched_wait_s(path: str) -> float:
    with open(path) as f:
        return int(f.read().split()[1]) / 1e9  # on-CPU ns, run-queue wait ns, timeslices


class Profile:
    """One system's profile: wraps its policy (and fastparl's ``_collect``), times its blocks."""

    def __init__(self, workers: Workers | None = None):
        self.workers = workers  # set once the system runs (some start their threads on the first step)
        self.policy_s = self.wait_s = 0.0
        self.seam = False  # whether waiting is timed apart from the driver's own work in step (fastparl's envs)

    def timed(self, policy: Callable[[Any], np.ndarray]) -> Callable[[Any], np.ndarray]:
        clock = time.perf_counter

        def call(obs: Any) -> np.ndarray:
            t = clock()
            actions = policy(obs)
            self.policy_s += clock() - t
            return actions
        return call

    def hook(self, env: Any) -> None:
        """fastparl's ``RemoteVectorEnv``: time ``_collect`` (the driver waiting for its actors) in step_wait."""
        from fastparl.env.vector import RemoteVectorEnv

        if not isinstance(env, RemoteVectorEnv):
            return
        collect = env._collect  # the seam: step_wait = _collect (waiting) + _result (the driver's own work)
        clock = time.perf_counter
        self.seam = True

        def timed_collect(started: list[Any]) -> int:
            t = clock()
            n = collect(started)
            self.wait_s += clock() - t
            return n
        env._collect = timed_collect  # type: ignore[method-assign]

    def run(self, block: Callable[[], None]) -> dict[str, Any]:
        """Run one block; its wall, the policy's and the waiting's seconds, CPU seconds and the others' cores."""
        if self.workers is None:
            raise RuntimeError("Profile.run: set .workers (Workers(snapshot before the system was made)) first")
        self.policy_s = self.wait_s = 0.0
        w0, d0 = self.workers.cpu()
        q0 = self.workers.queued()
        with OtherCPU() as other:
            t0 = time.perf_counter()
            block()
            wall = time.perf_counter() - t0
        q1 = self.workers.queued()
        w1, d1 = self.workers.cpu()
        return {"wall": wall, "policy": self.policy_s, "wait": self.wait_s if self.seam else None, "driver_cpu": d1 - d0,
                "workers_cpu": w1 - w0, "others": other.cores, "niced": other.niced, "idle": other.idle,
                "workers_queued": None if q0 is None or q1 is None else q1[0] - q0[0],
                "driver_queued": None if q0 is None or q1 is None else q1[1] - q0[1]}


def policy_seconds(policy: Callable[[Any], np.ndarray], obs: np.ndarray, seconds: float) -> float:
    """The policy alone on the batch ``obs``, seconds per env step (mean over ``seconds`` of calls)."""
    policy(obs)
    calls, t0 = 0, time.perf_counter()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        policy(obs)
        calls += 1
    return (time.perf_counter() - t0) / calls / len(obs)


def bounds(cores: int, serial: float, policy_s: float) -> dict[str, float]:
    """The ceiling and the two bounds with the policy (the module's docstring), env steps/s."""
    return {"ceiling": cores * serial, "lockstep": 1 / (1 / (cores * serial) + policy_s),
            "overlap": min(cores / (1 / serial + policy_s), 1 / policy_s)}


def summarize(records: list[dict[str, Any]], env_steps: int, cores: int, workers: int) -> dict[str, Any]:
    """Medians over the blocks ``records`` (each of ``env_steps`` env steps): shares of the driver's wall,
    cores, µs per env step."""
    def med(f: Callable[[dict], float]) -> float:
        return median([f(r) for r in records])

    out: dict[str, Any] = {
        "policy": med(lambda r: r["policy"] / r["wall"]), "step": med(lambda r: 1 - r["policy"] / r["wall"]),
        "wait": None, "own": None, "driver_cores": med(lambda r: r["driver_cpu"] / r["wall"]),
        "workers_cores": med(lambda r: r["workers_cpu"] / r["wall"]), "workers": workers, "busy": None,
        "driver_us": med(lambda r: 1e6 * r["driver_cpu"] / env_steps),
        "workers_us": med(lambda r: 1e6 * r["workers_cpu"] / env_steps),
        "others": med(lambda r: r["others"] - r["niced"] if r["others"] is not None else np.nan),  # normal priority
        "niced": med(lambda r: r["niced"] if r["niced"] is not None else np.nan),
        "idle": med(lambda r: r["idle"] if r["idle"] is not None else np.nan),
        # runnable but waiting for a CPU: the driver's share of its wall; the workers' in cores (summed)
        "driver_queued": med(lambda r: r["driver_queued"] / r["wall"] if r.get("driver_queued") is not None else np.nan),
        "workers_queued": med(lambda r: r["workers_queued"] / r["wall"] if r.get("workers_queued") is not None
                              else np.nan)}
    if records and records[0]["wait"] is not None:
        out["wait"] = med(lambda r: r["wait"] / r["wall"])
        out["own"] = med(lambda r: 1 - (r["policy"] + r["wait"]) / r["wall"])
    if workers:
        out["busy"] = out["workers_cores"] / min(workers, cores)
    return out


def factors(rate: float, prof: dict[str, Any], cores: int, serial: float, policy_s: float) -> dict[str, float]:
    """rate / ceiling = U x P x E (the module's docstring), from a system's :func:`summarize`."""
    cpu_s = (prof["driver_us"] + prof["workers_us"]) / 1e6
    return {"U": (prof["driver_cores"] + prof["workers_cores"]) / cores, "P": (1 / serial) / (1 / serial + policy_s),
            "E": (1 / serial + policy_s) / cpu_s if cpu_s > 0 else float("nan"), "of_ceiling": rate / (cores * serial)}
