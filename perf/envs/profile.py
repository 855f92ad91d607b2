"""Where a vector env's time goes, for the ``ecosystem`` section of ``perf.envs``: what stands between a system
and the ceiling.

Per system and timed block (a few ``perf_counter`` calls per batch step, CPU counters read outside the timed
region):

- the driver's wall split into the **policy** call (timed around it) and **step** (the rest of the block:
  the env's ``step`` / ``step_async`` + ``step_wait`` / ``recv`` + ``send``); for fastparl's
  ``RemoteVectorEnv`` step splits again at ``_collect`` (the driver waiting for its actors' futex or call
  replies) into **waiting** and the driver's **own** work (actions into shared memory, posting, views of the
  results, the infos batched);
- **CPU**: the driver process's CPU seconds (its other threads, e.g. OpenBLAS's, included and also given
  apart; threads it started for the system excluded) and the **workers'** (the processes and threads the
  system's constructor started: actors, subprocesses, EnvPool's threads), per thread from the scheduler
  (``/proc/.../schedstat``, ns: psutil's clock ticks are too coarse for short blocks), in cores (÷ wall) and
  in µs per env step; workers **busy**: their cores ÷ min(workers, cores);
- the time the driver and the workers were runnable but **queued** for a CPU (the scheduler's run queue,
  same file): a worker's wall is busy + queued + asleep (waiting for work);
- the **others'** CPU during the block (every process outside this tree, from its own counters): at normal
  priority, and niced; and the cores left idle (/proc/stat).

Bounds that include the policy (``p`` / ``p_cpu``: the policy alone, wall / CPU seconds per env step on a
batch of the cell's size, timed in this process in the same run — OpenBLAS may run it on two threads, so
``p_cpu`` can exceed ``p``; ``s``: the serial env loop's steps/s, ``C = cores x s`` the ceiling):

- lockstep ``1 / (1/C + p)``: every core steps envs while the driver waits, then the driver runs the policy
  while the envs wait (what a lockstep vector env can reach with free stepping and no batch handling);
- overlap ``min(cores / (1/s + p_cpu), 1/p)``: envs and policy share the cores and nothing waits (double-
  buffered, EnvPool async); the driver's one thread caps it at ``1/p``.

Neither counts the batch's own handling (copies, infos, signals): that shows in the efficiency below.
The rate factors exactly (the CPU identity ``rate = cores used / CPU s per env step``) against the *CPU
ceiling* ``cores x s_cpu`` (``1/s_cpu``: the serial loop's CPU seconds a step; on a loaded machine the loop
is off its core part of its wall, so ``C``, from its wall, is lower)::

    rate / (cores x s_cpu) = U x P x E,   U = (driver + workers cores) / cores     (the cores the system kept busy)
                            P = (1/s_cpu) / (1/s_cpu + p_cpu)        (the env's share of the serial work)
                            E = (1/s_cpu + p_cpu) / (driver + workers CPU s per env step)   (work vs CPU spent)

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

__all__ = ["QUIET", "OtherCPU", "Workers", "Profile", "snapshot", "blas_threads", "policy_seconds",
           "bounds", "summarize", "factors"]

QUIET = 0.15  # cores: rounds in which other processes used more are dropped (if enough remain)


def _stat_s() -> tuple[float, float] | None:
    """The machine's idle (with iowait) and steal seconds so far (/proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
    except OSError:
        return None
    hz = os.sysconf("SC_CLK_TCK")
    return (v[3] + v[4]) / hz, v[7] / hz


def _others() -> dict[int, tuple[float, bool]]:
    """Every process outside this process tree: its CPU seconds so far (user + system) and whether it is niced.

    Per process, not /proc/stat's per-tick samples: those miss threads that run between ticks (ours, which
    wake for a step and sleep again), which made the niced share look larger than all others' together."""
    ours = {os.getpid(), *(p.pid for p in psutil.Process().children(recursive=True))}
    out = {}
    for p in psutil.process_iter(["cpu_times", "nice"]):
        t = p.info["cpu_times"]
        if p.pid not in ours and t is not None:
            out[p.pid] = (t.user + t.system, (p.info["nice"] or 0) > 0)
    return out


class OtherCPU:
    """CPU that processes outside this process tree used during a ``with`` block (Linux), in cores:
    ``cores`` all of it (with the hypervisor's steal), ``niced`` the part of processes at nice > 0 (background
    runs that yield to everything else; this tree runs at nice 0); ``idle``: cores nobody used (/proc/stat).
    Processes that start and end within the block are missed.

    The machine is shared: a round in which other work held a core says nothing about these systems, so
    the reports keep only rounds where others used < ``QUIET`` of a core (when enough are quiet).
    """

    cores: float | None = None
    niced: float | None = None
    idle: float | None = None

    def __enter__(self) -> "OtherCPU":
        self.before, self.stat0, self.t0 = _others(), _stat_s(), time.perf_counter()
        return self

    def __exit__(self, *exc: Any) -> None:
        wall = time.perf_counter() - self.t0
        after, stat = _others(), _stat_s()
        used = niced = 0.0
        for pid, (cpu, nice) in after.items():
            d = cpu - self.before.get(pid, (0.0, nice))[0]
            used += d
            niced += d if nice else 0.0
        self.niced = niced / wall
        self.cores = used / wall
        if stat is not None and self.stat0 is not None:
            self.cores += (stat[1] - self.stat0[1]) / wall
            self.idle = (stat[0] - self.stat0[0]) / wall


def snapshot() -> tuple[set[int], set[int]]:
    """This process's descendants and threads now: what a system's constructor adds is its workers."""
    me = psutil.Process()
    return {p.pid for p in me.children(recursive=True)}, {t.id for t in me.threads()}


class Workers:
    """The processes and threads started since ``before`` (a :func:`snapshot`): a system's workers."""

    def __init__(self, before: tuple[set[int], set[int]]):
        pids, tids = snapshot()
        self.pids = sorted(pids - before[0])
        self.tids = tids - before[1]

    def __len__(self) -> int:
        return len(self.pids) + len(self.tids)

    def counters(self) -> dict[str, float]:
        """Seconds so far, per thread from the scheduler (/proc/.../schedstat, ns): on a CPU and runnable but
        queued for one, of the calling thread (``driver``), of this process's other threads that are not the
        system's (``helpers``: OpenBLAS's, ...) and of the workers (every thread of a worker process).  Where
        the kernel keeps no schedstat: CPU from psutil (clock ticks), queued NaN."""
        me = threading.get_native_id()
        c = dict.fromkeys(("driver_cpu", "driver_queued", "helpers_cpu", "workers_cpu", "workers_queued"), 0.0)
        try:
            for t in os.listdir("/proc/self/task"):
                run, queued = _sched(f"/proc/self/task/{t}/schedstat")
                who = "driver" if int(t) == me else "workers" if int(t) in self.tids else "helpers"
                c[f"{who}_cpu"] += run
                if who != "helpers":
                    c[f"{who}_queued"] += queued
            for pid in self.pids:
                for t in _tasks(pid):
                    run, queued = _sched(f"/proc/{pid}/task/{t}/schedstat")
                    c["workers_cpu"] += run
                    c["workers_queued"] += queued
            return c
        except (OSError, ValueError, IndexError):
            pass
        mine = psutil.Process()
        threads = sum(th.user_time + th.system_time for th in mine.threads() if th.id in self.tids)
        procs = 0.0
        for pid in self.pids:
            try:
                t = psutil.Process(pid).cpu_times()
                procs += t.user + t.system
            except psutil.Error:
                pass
        t = mine.cpu_times()
        return {"driver_cpu": t.user + t.system - threads, "driver_queued": float("nan"), "helpers_cpu": 0.0,
                "workers_cpu": procs + threads, "workers_queued": float("nan")}


def _tasks(pid: int) -> list[str]:
    try:
        return os.listdir(f"/proc/{pid}/task")
    except FileNotFoundError:  # the worker ended
        return []


def _sched(path: str) -> tuple[float, float]:
    """A thread's seconds on a CPU and queued for one (0, 0 once it has ended)."""
    try:
        with open(path) as f:
            run, queued = f.read().split()[:2]
    except FileNotFoundError:
        return 0.0, 0.0
    return int(run) / 1e9, int(queued) / 1e9


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
        c0 = self.workers.counters()
        with OtherCPU() as other:
            t0 = time.perf_counter()
            block()
            wall = time.perf_counter() - t0
        c1 = self.workers.counters()
        d = {k: c1[k] - c0[k] for k in c0}
        return {"wall": wall, "policy": self.policy_s, "wait": self.wait_s if self.seam else None,
                "driver_cpu": d["driver_cpu"] + d["helpers_cpu"], "helpers_cpu": d["helpers_cpu"],
                "workers_cpu": d["workers_cpu"], "driver_queued": d["driver_queued"],
                "workers_queued": d["workers_queued"], "others": other.cores, "niced": other.niced, "idle": other.idle}


def blas_threads(n: int = 0) -> int | None:
    """This process's OpenBLAS threads (numpy's scipy-openblas and any other OpenBLAS loaded, through ctypes
    as threadpoolctl does): set to ``n`` when ``n`` > 0; returns the count before (None: no OpenBLAS found).

    Why it matters here: on a wide input (Atari's 1,764 features) OpenBLAS runs the policy's matmuls on two
    threads; on two cores shared with env actors and other work those threads wait for each other and for
    a CPU (measured: the policy alone 9x slower on 2 threads than on 1 on the loaded 2-core VM).
    """
    import ctypes

    with open("/proc/self/maps") as f:
        paths = sorted({line.split()[-1] for line in f if "openblas" in line.lower() and ".so" in line})
    before = None
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for prefix, suffix in (("scipy_openblas", "64_"), ("scipy_openblas", ""), ("openblas", "64_"), ("openblas", "")):
            get = getattr(lib, f"{prefix}_get_num_threads{suffix}", None)
            put = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if get is not None and put is not None:
                k = int(get())
                before = k if before is None else before
                if n > 0:
                    put(n)
                break
    return before


def policy_seconds(policy: Callable[[Any], np.ndarray], obs: np.ndarray, seconds: float) -> tuple[float, float]:
    """The policy alone on the batch ``obs``: wall and CPU seconds (this process: OpenBLAS's threads too) per env
    step, means over ``seconds`` of calls."""
    policy(obs)
    calls, t0, c0 = 0, time.perf_counter(), time.process_time()
    while calls < 3 or time.perf_counter() - t0 < seconds:
        policy(obs)
        calls += 1
    return (time.perf_counter() - t0) / calls / len(obs), (time.process_time() - c0) / calls / len(obs)


def bounds(cores: int, serial: float, policy_s: float, policy_cpu_s: float) -> dict[str, float]:
    """The ceiling and the two bounds with the policy (the module's docstring), env steps/s."""
    return {"ceiling": cores * serial, "lockstep": 1 / (1 / (cores * serial) + policy_s),
            "overlap": min(cores / (1 / serial + policy_cpu_s), 1 / policy_s)}


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
        "driver_queued": med(lambda r: r["driver_queued"] / r["wall"]),
        "workers_queued": med(lambda r: r["workers_queued"] / r["wall"]),
        "helpers_cores": med(lambda r: r["helpers_cpu"] / r["wall"])}  # of driver_cores: its other threads
    if records and records[0]["wait"] is not None:
        out["wait"] = med(lambda r: r["wait"] / r["wall"])
        out["own"] = med(lambda r: 1 - (r["policy"] + r["wait"]) / r["wall"])
    if workers:
        out["busy"] = out["workers_cores"] / min(workers, cores)
    return out


def factors(rate: float, prof: dict[str, Any], cores: int, env_cpu_s: float, policy_cpu_s: float) -> dict[str, float]:
    """rate / CPU ceiling = U x P x E (the module's docstring), from a system's :func:`summarize`; ``env_cpu_s``: the
    serial loop's CPU seconds per step (``1/s`` in the docstring, measured on CPU time: the CPU ceiling is
    ``cores / env_cpu_s``, the wall-clock one lower by the share of its wall the loop had a core)."""
    cpu_s = (prof["driver_us"] + prof["workers_us"]) / 1e6
    return {"U": (prof["driver_cores"] + prof["workers_cores"]) / cores,
            "P": env_cpu_s / (env_cpu_s + policy_cpu_s),
            "E": (env_cpu_s + policy_cpu_s) / cpu_s if cpu_s > 0 else float("nan"),
            "of_ceiling": rate * env_cpu_s / cores}
