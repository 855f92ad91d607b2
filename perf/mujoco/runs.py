"""The mid-scale MuJoCo runs of issue 19: a run list that resumes where it stopped.

    python -m perf.mujoco status                  # what is done, running or pending (steps, last evaluation)
    python -m perf.mujoco run --parallel 2        # run what is left, two at a time; Ctrl-C / SIGTERM stop cleanly
    python -m perf.mujoco run --only sac-halfcheetah
    python -m perf.mujoco report                  # the table and curves: perf/results/mujoco.{md,json,png}
    python -m perf.mujoco command sac-halfcheetah-s0   # the single command that reproduces one run

Each run is one example script (``examples/<ALGO>/train.py``) with ``--checkpoint-every 300 --resume``: it saves
its whole training state every 5 minutes (between episodes) and, started again, continues exactly where the
checkpoint was (examples/_checkpoint.py), so the list spans work periods and survives interruptions.  A run is
done when its folder holds ``result.json``.  Folders: ``perf/results/mujoco/<run>/`` (progress.csv, model,
checkpoint; the checkpoints are git-ignored).

Beside each row, one Stable-Baselines3 run at the same budget (``sb3-<row>-s0``): ``perf/mujoco/sb3_run.py`` in
SB3's interpreter (``--sb3-python``, else ``$SB3_PYTHON``, else /tmp/sb3venv/bin/python), with the examples'
settings (``perf/training/sb3_models.py``), the same evaluations, progress.csv columns and checkpoints.  Without
an interpreter that imports stable_baselines3 those runs are skipped (status says so); the others run.
"""

from __future__ import annotations

import argparse
import csv
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import Any
from dataclasses import dataclass

from perf.common.harness import REPO
from perf.training.report import DEFAULT_SB3

ROOT = os.path.join(REPO, "perf", "results", "mujoco")
CHECKPOINT_EVERY_S = 300
LOCK = ".run.lock"  # in ROOT: one `run` at a time


@dataclass(frozen=True)
class Run:
    algo: str  # examples/<algo>/train.py, or sb3_run.py --algo <algo>
    env: str
    steps: int
    seed: int
    system: str = "fastparl"  # or "sb3": Stable-Baselines3 with the same settings (sb3_run.py, SB3's interpreter)
    extra: tuple[str, ...] = ()  # more arguments for the script (the tests' short runs)

    @property
    def row(self) -> str:
        """The table row (and fastparl's group) this run belongs to, e.g. ``sac-hopper``."""
        return f"{self.algo.lower()}-{self.env.split('-')[0].lower()}"

    @property
    def name(self) -> str:
        return f"{'sb3-' if self.system == 'sb3' else ''}{self.row}-s{self.seed}"

    @property
    def group(self) -> str:
        return self.name.rsplit("-s", 1)[0]

    @property
    def folder(self) -> str:
        return os.path.join(ROOT, self.name)

    def command(self, sb3_python: str | None = None) -> list[str]:
        """The run's command line, run from the repository's root (SB3's runs: with ``sb3_python``)."""
        common = ["--env", self.env, "--total-steps", str(self.steps), "--seed", str(self.seed),
                  "--logdir", os.path.relpath(self.folder, REPO)]
        if self.system == "sb3":
            return [sb3_python or "python", SB3_SCRIPT, "--algo", self.algo, *common,
                    "--checkpoint-every", str(CHECKPOINT_EVERY_S), "--resume", *self.extra]
        cmd = [sys.executable, os.path.join("examples", self.algo, "train.py"), *common, "--no-tensorboard"]
        if self.algo in ("SAC", "TD3", "DDPG", "PPO"):
            cmd += ["--checkpoint-every", str(CHECKPOINT_EVERY_S), "--resume"]
        return cmd + list(self.extra)


SB3_SCRIPT = os.path.join("perf", "mujoco", "sb3_run.py")
ROWS = [("TD3", "HalfCheetah-v5", 300_000), ("TD3", "Hopper-v5", 300_000), ("SAC", "HalfCheetah-v5", 300_000),
        ("SAC", "Hopper-v5", 300_000), ("PPO", "Hopper-v5", 1_000_000)]
SEEDS = (0, 1, 2)
SB3_SEEDS = (0,)


def _seed(seed: int, system: str = "fastparl") -> list[Run]:
    return [Run(algo, env, steps, seed, system) for algo, env, steps in ROWS]


# Seed-major order: a partial list (runs span several work periods) holds one seed of every row first.  SB3's
# runs (one seed) come right after fastparl's seed 0, before its seeds 1 and 2: the table is then whole for one
# seed early (fastparl, SB3 here, published), and the later seeds only narrow a spread already shown.
RUNS = _seed(0) + [r for s in SB3_SEEDS for r in _seed(s, "sb3")] + [r for s in SEEDS[1:] for r in _seed(s)]
# Two runs share a 2-core machine: each keeps to one math-library thread.
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


def _progress(run: Run) -> dict:
    """Steps reached, last evaluation and wall time so far, from the run's progress.csv."""
    path = os.path.join(run.folder, "progress.csv")
    out = {"steps": 0, "eval_return": None, "time_s": 0.0}
    if not os.path.isfile(path):
        return out
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out["steps"] = max(out["steps"], int(float(row.get("env_steps") or 0)))
            out["time_s"] = float(row.get("time_elapsed") or out["time_s"])
            if row.get("eval_return"):
                out["eval_return"] = float(row["eval_return"])
    return out


def _done(run: Run) -> bool:
    return os.path.isfile(os.path.join(run.folder, "result.json"))


def _finish(run: Run) -> None:
    p = _progress(run)
    with open(os.path.join(run.folder, "result.json"), "w") as f:
        json.dump({"run": run.name, "algo": run.algo, "env": run.env, "seed": run.seed, "steps": p["steps"],
                   "final_eval_return": p["eval_return"], "wall_s": p["time_s"],
                   "steps_per_s": p["steps"] / p["time_s"] if p["time_s"] else None,
                   "command": " ".join(run.command()[1:]), **({"system": run.system} if run.system != "fastparl"
                                                              else {})}, f, indent=1)


NO_SB3 = "skipped: no SB3 interpreter"


def sb3_python(given: str = "") -> str | None:
    """SB3's interpreter: ``given`` (``--sb3-python``), else ``$SB3_PYTHON``, else ``DEFAULT_SB3``; None when it is
    missing or cannot import stable_baselines3 (checked without importing it, in a few ms)."""
    path = shutil.which(given or os.environ.get("SB3_PYTHON") or DEFAULT_SB3)
    if path is None:
        return None
    probe = [path, "-c", "import importlib.util, sys; sys.exit(importlib.util.find_spec('stable_baselines3') is None)"]
    try:
        return path if subprocess.run(probe, capture_output=True, timeout=60).returncode == 0 else None
    except (OSError, subprocess.TimeoutExpired):
        return None


def _skipped(run: Run, sb3: str | None) -> bool:
    return run.system == "sb3" and sb3 is None and not _done(run)


def status(runs: list[Run], sb3: str | None = None) -> int:
    rows = []
    for r in runs:
        p = _progress(r)
        state = "done" if _done(r) else NO_SB3 if _skipped(r, sb3) else "started" if p["steps"] else "pending"
        rows.append((r, p, state))
    width = max([5] + [len(state) for _, _, state in rows])
    print(f"{'run':28} {'state':{width}} {'steps':>9} {'of':>9} {'last eval':>10} {'hours':>6}")
    for r, p, state in rows:
        ev = "" if p["eval_return"] is None else f"{p['eval_return']:.1f}"
        print(f"{r.name:28} {state:{width}} {p['steps']:>9,} {r.steps:>9,} {ev:>10} {p['time_s'] / 3600:>6.2f}")
    if any(state == NO_SB3 for _, _, state in rows):
        print(f"(SB3's runs need an interpreter that imports stable_baselines3: --sb3-python PATH or $SB3_PYTHON; "
              f"{DEFAULT_SB3} by default)")
    return 0


STOP_WAIT = 300.0  # s a run may take to reach its next checkpoint after SIGTERM (HalfCheetah: a 1000-step episode
# at a loaded machine's 10-40 steps/s, then the replay memory's save), before it is killed (it then resumes from its
# last periodic checkpoint)


def run_all(runs: list[Run], parallel: int, sb3: str | None = None) -> int:
    """Run what is not done, ``parallel`` at a time, in the list's order; SB3's runs are skipped without ``sb3``.
    SIGTERM or SIGINT: the runs are sent SIGTERM (they checkpoint) and this returns."""
    skipped = [r.name for r in runs if _skipped(r, sb3)]
    if skipped:
        print(f"{NO_SB3} (--sb3-python PATH or $SB3_PYTHON): {', '.join(skipped)}", flush=True)
    pending = [r for r in runs if not _done(r) and r.name not in skipped]
    lock = _take_lock()
    if lock is None:
        print(f"another `python -m perf.mujoco run` is running (it holds {LOCK}): two would run the same runs "
              "in the same folders; stop it first (SIGTERM: its runs checkpoint)", flush=True)
        return 1
    try:
        return _run_pending(pending, parallel, sb3)
    finally:
        lock.close()


def _take_lock() -> Any:
    """An exclusive lock on the run list's folder, held while this process lives (None: held elsewhere)."""
    os.makedirs(ROOT, exist_ok=True)
    f = open(os.path.join(ROOT, LOCK), "a+")  # noqa: SIM115 - held until closed by the caller
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f


def _lower_like_this_process(pid: int) -> None:
    """Give run ``pid``'s scheduler group this process's niceness (``nice -n 19 python -m perf.mujoco run``).

    Linux's autogroups (``/proc/sys/kernel/sched_autogroup_enabled``) share the CPU between sessions first and
    apply ``nice`` only within one: a run in its own session at nice 19 still took half of the 2 cores from the
    tests and benchmarks beside it.  Its session's group gets the niceness here (best effort: not Linux, or no
    autogroups, and nothing changes)."""
    niceness = os.nice(0)
    if niceness <= 0:
        return
    try:
        with open(f"/proc/{pid}/autogroup", "w") as f:
            f.write(str(min(niceness, 19)))
    except OSError:
        pass


def _run_pending(pending: list[Run], parallel: int, sb3: str | None) -> int:
    active: dict[subprocess.Popen, Run] = {}
    stopping = {"now": False}

    def stop(*_: object) -> None:
        stopping["now"] = True

    before = signal.signal(signal.SIGTERM, stop), signal.signal(signal.SIGINT, stop)
    try:
        while (pending or active) and not stopping["now"]:
            while pending and len(active) < parallel:
                r = pending.pop(0)
                os.makedirs(r.folder, exist_ok=True)
                log = open(os.path.join(r.folder, "stdout.log"), "a")  # noqa: SIM115 - closed below
                cmd = r.command(sb3)
                print(f"[{time.strftime('%H:%M:%S')}] start {r.name}: {' '.join(cmd[1:])}", flush=True)
                proc = subprocess.Popen(cmd, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                        env={**os.environ, **ONE_THREAD})  # (a terminal's Ctrl-C: relayed)
                _lower_like_this_process(proc.pid)
                active[proc] = r
                log.close()  # the child holds its own copy
            time.sleep(2.0)
            for proc, r in list(active.items()):
                if proc.poll() is not None:
                    del active[proc]
                    if proc.returncode == 0:
                        _finish(r)
                        print(f"[{time.strftime('%H:%M:%S')}] done {r.name}: eval {_progress(r)['eval_return']}",
                              flush=True)
                    else:
                        print(f"[{time.strftime('%H:%M:%S')}] {r.name} exited with {proc.returncode}: see "
                              f"{os.path.join(r.folder, 'stdout.log')}", flush=True)
    finally:
        for proc in active:  # they save a checkpoint at their next chance (an episode's end) and exit
            proc.send_signal(signal.SIGTERM)
        for proc in active:
            try:
                proc.wait(STOP_WAIT)
            except subprocess.TimeoutExpired:
                proc.kill()
        signal.signal(signal.SIGTERM, before[0])
        signal.signal(signal.SIGINT, before[1])
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf.mujoco", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("status", "run", "command", "report"):
        p = sub.add_parser(name)
        p.add_argument("--only", default="", help="comma-separated run names or groups (e.g. sac-hopper, sb3)")
        p.add_argument("--sb3-python", default="", help=f"SB3's interpreter (default $SB3_PYTHON or {DEFAULT_SB3})")
        if name == "run":
            p.add_argument("--parallel", type=int, default=2, help="runs at once (default 2)")
        if name == "command":
            p.add_argument("run")
    a = ap.parse_args(argv)
    only = {x for x in a.only.split(",") if x}
    runs = [r for r in RUNS if not only or r.name in only or r.group in only or r.system in only]
    sb3 = sb3_python(a.sb3_python) if any(r.system == "sb3" for r in runs) and a.cmd != "report" else None
    if a.cmd == "status":
        return status(runs, sb3)
    if a.cmd == "run":
        return run_all(runs, a.parallel, sb3)
    if a.cmd == "command":
        match = [r for r in RUNS if r.name == a.run]
        if not match:
            print(f"no run {a.run!r}; the runs: {', '.join(r.name for r in RUNS)}")
            return 2
        python = (sb3 or "<SB3's python>") if match[0].system == "sb3" else "python"
        print(" ".join([python, *match[0].command()[1:]]))
        return 0
    from perf.mujoco.report import report

    return report(runs)
