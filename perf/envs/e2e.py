"""End to end (issue 18 deliverable 5): the same training with fastparl's vector env and with the vector env
its framework ships, wall-clock and final return side by side.  Two parts, each in the interpreter that has
its framework:

    /tmp/sb3venv/bin/python -m perf.envs.e2e sb3 [--rounds 3] [--out perf/results]   # Stable-Baselines3 + torch
    python -m perf.envs.e2e cleanrl [--rounds 3] [--out perf/results]                # paddle (the project's venv)
    python -m perf.envs.e2e render [--out perf/results]                              # e2e.md from e2e.json

* ``sb3``: ``PPO("MlpPolicy", env, seed=seed)`` with SB3's defaults (n_steps 2048 per env, batch 64, 10
  epochs; no VecNormalize) on ``SubprocVecEnv`` (fork), ``DummyVecEnv`` and fastparl's adapter
  (``make_sb3_vec_env``: over actors, and in-process), then 10 deterministic evaluation episodes on a
  separate env.  SB3 needs ``pip install "fastparl[sb3]"`` (torch, several GB: a venv of its own is fine, with
  ``pip install -e <this checkout>[sb3]``).
* ``cleanrl``: ``examples/cleanrl_ppo_continuous_action.py`` (CleanRL's PPO on paddle, its hyper-parameters
  and per-env normalising wrappers) with ``--vector-env sync``, ``async`` (gymnasium's ``AsyncVectorEnv``,
  one process per env) and ``fastparl`` (``RemoteVectorEnv`` over as many actors as usable CPUs); the final
  return is CleanRL's: the mean training return of the episodes that ended in the last iteration.

Every run is a child interpreter of its own (``--one PART SYSTEM``), one math-library thread (torch's or
paddle's, and ``OMP/MKL/OPENBLAS_NUM_THREADS=1``), the systems in turn and their order rotated each round;
the table gives the median wall time.  Each run splits its wall time into stepping the envs (the vector
env's ``step``, timed around it), acting (the policy's forward pass while collecting: the rest of SB3's
``collect_rollouts``) and learning (SB3's ``train``; CleanRL's GAE and updates).  The learner's share
bounds what any vector env can bring: "ceiling" is the baseline's wall time over its wall time without
env stepping.  Each part writes its rows into ``<out>/e2e.json`` and keeps the other part's.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from typing import Any

import numpy as np

from perf.common.harness import REPO, SCRATCH, children_left, log, machine_info, md_table

ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
RESULT_TAG = "E2E_RESULT "
ACTORS = max(1, len(os.sched_getaffinity(0)))
# per part: the systems in the order of the table, and the baseline the ratios are to
SYSTEMS = {
    "sb3": ["SubprocVecEnv", "DummyVecEnv", "fastparl actors", "fastparl in-process"],
    "cleanrl": ["AsyncVectorEnv", "SyncVectorEnv", "fastparl actors"],
}
BASELINE = {"sb3": "SubprocVecEnv", "cleanrl": "AsyncVectorEnv"}


# ---------------------------------------------------------------- one run (in a child interpreter)
def _sb3_run(system: str, env_id: str, n: int, steps: int, seed: int) -> dict[str, Any]:
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecEnvWrapper

    from fastparl.env.sb3 import make_sb3_vec_env

    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)

    class Timed(VecEnvWrapper):
        """The vector env, with the seconds spent in its step (async + wait) added up."""

        def __init__(self, venv: Any):
            super().__init__(venv)
            self.env_s = 0.0

        def reset(self) -> Any:
            return self.venv.reset()

        def step_async(self, actions: Any) -> None:
            t = time.perf_counter()
            self.venv.step_async(actions)
            self.env_s += time.perf_counter() - t

        def step_wait(self) -> Any:
            t = time.perf_counter()
            out = self.venv.step_wait()
            self.env_s += time.perf_counter() - t
            return out

    class TimedPPO(PPO):
        collect_s = train_s = 0.0

        def collect_rollouts(self, *args: Any, **kwargs: Any) -> bool:
            t = time.perf_counter()
            try:
                return super().collect_rollouts(*args, **kwargs)
            finally:
                self.collect_s += time.perf_counter() - t

        def train(self) -> None:
            t = time.perf_counter()
            super().train()
            self.train_s += time.perf_counter() - t

    make = {
        "SubprocVecEnv": lambda: make_vec_env(env_id, n, seed=seed, vec_env_cls=SubprocVecEnv,
                                              vec_env_kwargs={"start_method": "fork"}),
        "DummyVecEnv": lambda: make_vec_env(env_id, n, seed=seed, vec_env_cls=DummyVecEnv),
        "fastparl actors": lambda: make_sb3_vec_env(env_id, n, num_actors=min(n, ACTORS), seed=seed),
        "fastparl in-process": lambda: make_sb3_vec_env(env_id, n, seed=seed),
    }[system]
    env = Timed(make())
    try:
        model = TimedPPO("MlpPolicy", env, seed=seed, verbose=0, device="cpu")
        t0 = time.perf_counter()
        model.learn(steps)
        wall = time.perf_counter() - t0
    finally:
        env.close()
    return {"wall_s": wall, "env_s": env.env_s, "act_s": model.collect_s - env.env_s, "learn_s": model.train_s,
            "env_steps": int(model.num_timesteps), "final_return": _evaluate(model, env_id, seed),
            "final_return_kind": "10 deterministic evaluation episodes"}


def _evaluate(model: Any, env_id: str, seed: int, episodes: int = 10) -> float:
    import gymnasium as gym

    env = gym.make(env_id)
    returns = []
    for k in range(episodes):
        obs, _ = env.reset(seed=seed + 10_000 + k)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, r, term, trunc, _ = env.step(action)
            total += float(r)
            done = term or trunc
        returns.append(total)
    env.close()
    return float(np.mean(returns))


def _cleanrl_run(system: str, env_id: str, n: int, steps: int, seed: int) -> dict[str, Any]:
    path = os.path.join(REPO, "examples", "cleanrl_ppo_continuous_action.py")
    spec = importlib.util.spec_from_file_location("cleanrl_ppo_continuous_action", path)
    example = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules[spec.name] = example  # type: ignore[union-attr]
    spec.loader.exec_module(example)  # type: ignore[union-attr]
    vector_env = {"AsyncVectorEnv": "async", "SyncVectorEnv": "sync", "fastparl actors": "fastparl"}[system]
    with tempfile.TemporaryDirectory(prefix="fastparl-e2e-") as logdir:
        args = example.Args(env_id=env_id, seed=seed, num_envs=n, total_timesteps=steps, vector_env=vector_env,
                            num_actors=min(n, ACTORS), logdir=logdir)
        out = example.train(args)
    return {"wall_s": out["wall_s"], "env_s": out["env_s"], "act_s": out["act_s"], "learn_s": out["learn_s"],
            "env_steps": out["global_step"], "final_return": out["final_return"],
            "final_return_kind": "mean training return of the episodes that ended in the last iteration",
            "episodes": len(out["episodes"])}


def _one(part: str, system: str, a: argparse.Namespace) -> None:
    run = {"sb3": _sb3_run, "cleanrl": _cleanrl_run}[part]
    row = run(system, a.env, a.num_envs, a.steps, a.seed)
    print(RESULT_TAG + json.dumps(row), flush=True)


# ---------------------------------------------------------------- the rounds (parent)
def _child(part: str, system: str, a: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "perf.envs.e2e", "--one", part, system, "--env", a.env, "--num-envs",
           str(a.num_envs), "--steps", str(a.steps), "--seed", str(a.seed)]
    load = [round(x, 2) for x in os.getloadavg()]
    ru0, busy0, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_s(), time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, **ONE_THREAD}, capture_output=True, text=True,
                          timeout=a.timeout)
    ru1, busy1, elapsed = resource.getrusage(resource.RUSAGE_CHILDREN), _busy_s(), time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(RESULT_TAG)]
    if proc.returncode or not lines:
        raise RuntimeError(f"{part} {system} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    cpu = ru1.ru_utime + ru1.ru_stime - ru0.ru_utime - ru0.ru_stime  # the run's whole process tree
    return {**json.loads(lines[-1][len(RESULT_TAG):]), "loadavg_start": load, "tree_cpu_s": cpu,
            "others_cores": max(0.0, (busy1[0] - busy0[0] - cpu) / elapsed),
            "niced_cores": (busy1[1] - busy0[1]) / elapsed}


def _busy_s() -> tuple[float, float]:
    """CPU seconds the machine's processes have used (/proc/stat): at nice <= 0 (user, system, irq, softirq),
    and niced (nice > 0: the background runs that yield to everything else)."""
    with open("/proc/stat") as f:
        ticks = [int(x) for x in f.readline().split()[1:8]]
    hz = os.sysconf("SC_CLK_TCK")
    return (ticks[0] + ticks[2] + ticks[5] + ticks[6]) / hz, ticks[1] / hz


def _measure(part: str, a: argparse.Namespace) -> dict[str, Any]:
    systems = [s for s in SYSTEMS[part] if not a.only or any(x in s for x in a.only.split(","))]
    runs: dict[str, list[dict[str, Any]]] = {s: [] for s in systems}
    for r in range(a.rounds):
        order = systems[r % len(systems):] + systems[:r % len(systems)]
        for system in order:
            log(f"e2e {part} round {r + 1}/{a.rounds}: {system} ...")
            row = _child(part, system, a)
            runs[system].append(row)
            log(f"e2e {part}: {system}: {row['wall_s']:.1f} s (envs {row['env_s']:.1f}, acting {row['act_s']:.1f}, "
                f"learning {row['learn_s']:.1f}), final return {row['final_return']:.1f}")
    left = children_left()
    return {"args": {k: v for k, v in vars(a).items() if k not in ("one", "out")}, "machine": machine_info(),
            "background": _background(), "runs": runs, "children_left": left}


def _background() -> list[str]:
    """Other busy processes when the part ended (the machine is shared: the report says with what)."""
    try:
        out = subprocess.run(["ps", "-eo", "ni,pcpu,args", "--sort=-pcpu"], capture_output=True, text=True,
                             timeout=10).stdout.splitlines()[1:]
    except (OSError, subprocess.SubprocessError):
        return []
    return [" ".join(ln.split()[:2] + [" ".join(ln.split()[2:])[:120]]) for ln in out
            if len(ln.split()) > 2 and float(ln.split()[1]) >= 10 and "perf.envs.e2e" not in ln][:6]


# ---------------------------------------------------------------- the report
TITLES = {
    "sb3": "Stable-Baselines3 PPO (`PPO(\"MlpPolicy\")`, SB3's defaults)",
    "cleanrl": "CleanRL-style PPO (`examples/cleanrl_ppo_continuous_action.py`, paddle)",
}


def render(data: dict[str, Any]) -> str:
    lines = ["# End to end: the same training on fastparl's vector env and on its framework's own",
             "", "`python -m perf.envs.e2e sb3|cleanrl` (see `perf/envs/e2e.py`).  Each run in its own interpreter "
             "with one math-library thread, the systems in turn, their order rotated each round.  wall: median "
             "over the rounds (min–max); × baseline: the median of the ratio within each round (the load drifts "
             "between minutes); env step / acting / learning: the run's wall time split as the module docstring "
             "says (medians); CPU: user + system seconds of the run's processes (driver, actors or workers); "
             "other load: the cores that other processes at normal priority used during the run (median; niced "
             "background runs not counted); ceiling: the baseline's wall time over its wall time without env "
             "stepping, what a free vector env would give.", ""]
    for part in ("sb3", "cleanrl"):
        if part not in data:
            lines += [f"## {TITLES[part]}", "", "not run yet", ""]
            continue
        d = data[part]
        args, runs, base = d["args"], d["runs"], BASELINE[part]
        keys = ("wall_s", "env_s", "act_s", "learn_s", "tree_cpu_s", "others_cores", "niced_cores")
        med = {s: {k: float(np.median([r.get(k, np.nan) for r in rs])) for k in keys} for s, rs in runs.items() if rs}
        b = med.get(base)
        lines += [f"## {TITLES[part]}: {args['env']}, {args['num_envs']} envs, {args['steps']:,} steps asked "
                  f"({runs[next(iter(runs))][0]['env_steps']:,} run: whole rollouts), seed {args['seed']}, "
                  f"{args['rounds']} rounds", ""]
        head = ["vector env", "wall (s)", f"× {base}", "env step (s, share)", "acting (s)", "learning (s, share)",
                "CPU (s)", "other load (cores)", "final return"]
        rows = []
        for s, rs in runs.items():
            if not rs:
                continue
            m, walls = med[s], [r["wall_s"] for r in rs]
            ratio = "—" if b is None else f"{np.median([x['wall_s'] / r['wall_s'] for x, r in zip(runs[base], rs)]):.2f}"
            rets = sorted({round(r["final_return"], 1) for r in rs})
            rows.append([s, f"{m['wall_s']:.1f} ({min(walls):.1f}–{max(walls):.1f})", ratio,
                         f"{m['env_s']:.1f} ({m['env_s'] / m['wall_s']:.0%})", f"{m['act_s']:.1f}",
                         f"{m['learn_s']:.1f} ({m['learn_s'] / m['wall_s']:.0%})", f"{m['tree_cpu_s']:.0f}",
                         f"{m['others_cores']:.2f}", " / ".join(f"{x:.1f}" for x in rets)])
        lines += md_table(head, rows)
        rs0 = next(iter(runs.values()))[0]
        lines += ["", f"Final return: {rs0['final_return_kind']}; one value per system when every round gave the "
                  "same (the same seed gives the same training on every vector env)."]
        if b is not None:
            lines += [f"Ceiling: {b['wall_s'] / (b['wall_s'] - b['env_s']):.2f}× {base} "
                      f"(its env stepping is {b['env_s'] / b['wall_s']:.0%} of its wall time)."]
        mi = d["machine"]
        every = [r for rs in runs.values() for r in rs]
        lines += ["", f"Machine: {mi['cpu']}, {mi['usable_cores']} usable cores, {mi['memory_gb']} GB, Python "
                  f"{mi['python']}, {mi['date']}; load average at each run's start "
                  f"{min(r['loadavg_start'][0] for r in every):.1f}–{max(r['loadavg_start'][0] for r in every):.1f}; "
                  f"niced background runs used {np.median([r.get('niced_cores', np.nan) for r in every]):.2f} cores "
                  f"(median over the runs); child processes left after the runs: {d['children_left']}."]
        others = float(np.median([r.get("others_cores", np.nan) for r in every]))
        if others > 0.25:
            lines += [f"Not a quiet machine: other processes at normal priority used {others:.2f} of its "
                      f"{mi['usable_cores']} cores (median over the runs), besides the niced runs.  A multi-process "
                      "vector env (actors or workers) needs a core for each of its processes at every lockstep step "
                      "and waits for one whenever others hold them; an in-process one runs whenever its single "
                      "process gets a core.  These ratios are this loaded machine's, not a quiet one's."]
        if d.get("background"):
            lines += ["Busiest other processes at the end (nice, %CPU over their lifetime, command): "
                      + "; ".join(f"`{p}`" for p in d["background"]) + "."]
        lines += [""]
    return "\n".join(lines)


def _write(out: str, part: str | None, result: dict[str, Any] | None) -> None:
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "e2e.json")
    data: dict[str, Any] = {}
    if os.path.exists(path):
        with open(path) as f:
            data = json.load(f)
    if part is not None:
        data[part] = result
        with open(path, "w") as f:
            json.dump(data, f, indent=1)
    text = render(data)
    with open(os.path.join(out, "e2e.md"), "w") as f:
        f.write(text)
    print(text)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m perf.envs.e2e", description=__doc__.split("\n")[0])
    ap.add_argument("part", nargs="?", choices=["sb3", "cleanrl", "render"], default="render")
    ap.add_argument("--env", default="HalfCheetah-v5")
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--only", default="", help="comma-separated system names (substrings)")
    ap.add_argument("--timeout", type=float, default=3600, help="seconds per run")
    ap.add_argument("--one", nargs=2, metavar=("PART", "SYSTEM"), help=argparse.SUPPRESS)
    ap.add_argument("--out", default=SCRATCH, help="folder for e2e.md / e2e.json (default: perf/scratch)")
    a = ap.parse_args(argv)
    if a.one:
        _one(a.one[0], a.one[1], a)
        return
    if a.part == "render":
        _write(a.out, None, None)
        return
    _write(a.out, a.part, _measure(a.part, a))


if __name__ == "__main__":
    main()
