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
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

from perf.common.harness import REPO

ROOT = os.path.join(REPO, "perf", "results", "mujoco")
CHECKPOINT_EVERY_S = 300


@dataclass(frozen=True)
class Run:
    algo: str  # examples/<algo>/train.py
    env: str
    steps: int
    seed: int

    @property
    def name(self) -> str:
        return f"{self.algo.lower()}-{self.env.split('-')[0].lower()}-s{self.seed}"

    @property
    def group(self) -> str:
        return self.name.rsplit("-s", 1)[0]

    @property
    def folder(self) -> str:
        return os.path.join(ROOT, self.name)

    def command(self) -> list[str]:
        script = os.path.join("examples", self.algo, "train.py")
        cmd = [sys.executable, script, "--env", self.env, "--total-steps", str(self.steps), "--seed", str(self.seed),
               "--logdir", os.path.relpath(self.folder, REPO), "--no-tensorboard"]
        if self.algo in ("SAC", "TD3", "DDPG", "PPO"):
            cmd += ["--checkpoint-every", str(CHECKPOINT_EVERY_S), "--resume"]
        return cmd


SEEDS = (0, 1, 2)
# Seed-major order: a partial list (runs span several work periods) holds one seed of every row first.
RUNS = [r for s in SEEDS for r in
        [Run(algo, env, 300_000, s) for algo in ("TD3", "SAC") for env in ("HalfCheetah-v5", "Hopper-v5")]
        + [Run("PPO", "Hopper-v5", 1_000_000, s)]]
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
                   "command": " ".join(run.command()[1:])}, f, indent=1)


def status(runs: list[Run]) -> int:
    print(f"{'run':28} {'state':8} {'steps':>9} {'of':>9} {'last eval':>10} {'hours':>6}")
    for r in runs:
        p = _progress(r)
        state = "done" if _done(r) else ("started" if p["steps"] else "pending")
        ev = "" if p["eval_return"] is None else f"{p['eval_return']:.1f}"
        print(f"{r.name:28} {state:8} {p['steps']:>9,} {r.steps:>9,} {ev:>10} {p['time_s'] / 3600:>6.2f}")
    return 0


def run_all(runs: list[Run], parallel: int) -> int:
    pending = [r for r in runs if not _done(r)]
    active: dict[subprocess.Popen, Run] = {}
    stopping = {"now": False}

    def stop(*_: object) -> None:
        stopping["now"] = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    try:
        while (pending or active) and not stopping["now"]:
            while pending and len(active) < parallel:
                r = pending.pop(0)
                os.makedirs(r.folder, exist_ok=True)
                log = open(os.path.join(r.folder, "stdout.log"), "a")  # noqa: SIM115 - closed below
                print(f"[{time.strftime('%H:%M:%S')}] start {r.name}: {' '.join(r.command()[1:])}", flush=True)
                active[subprocess.Popen(r.command(), cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                        env={**os.environ, **ONE_THREAD})] = r
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
        for proc in active:  # they resume from their last checkpoint next time
            proc.send_signal(signal.SIGTERM)
        for proc in active:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m perf.mujoco", description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("status", "run", "command", "report"):
        p = sub.add_parser(name)
        p.add_argument("--only", default="", help="comma-separated run names or groups (e.g. sac-hopper)")
        if name == "run":
            p.add_argument("--parallel", type=int, default=2, help="runs at once (default 2)")
        if name == "command":
            p.add_argument("run")
    a = ap.parse_args(argv)
    only = {x for x in a.only.split(",") if x}
    runs = [r for r in RUNS if not only or r.name in only or r.group in only]
    if a.cmd == "status":
        return status(runs)
    if a.cmd == "run":
        return run_all(runs, a.parallel)
    if a.cmd == "command":
        match = [r for r in RUNS if r.name == a.run]
        if not match:
            print(f"no run {a.run!r}; the runs: {', '.join(r.name for r in RUNS)}")
            return 2
        print(" ".join(["python", *match[0].command()[1:]]))
        return 0
    from perf.mujoco.report import report

    return report(runs)
