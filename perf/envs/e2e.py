"""End to end (issue 18 deliverable 5): the same Stable-Baselines3 PPO trained with fastparl's vector env and with
SB3's own ``SubprocVecEnv`` / ``DummyVecEnv``, wall-clock and final return side by side.

    python -m perf.envs.e2e [--env HalfCheetah-v5] [--num-envs 8] [--steps 100000] [--seed 0] [--out DIR]

Needs Stable-Baselines3 (``pip install "fastparl[sb3]"``; torch, several GB: a venv of its own is fine, with
``pip install -e <this checkout>[sb3]``).  Every system trains ``PPO("MlpPolicy", env, seed=seed)`` with SB3's
defaults (n_steps 2048 per env, batch 64, 10 epochs) on ``--num-envs`` envs for ``--steps`` env steps, torch on one
thread, the systems in turn; then 10 deterministic evaluation episodes on a separate env.  The learner's share of the
wall time bounds any speed-up the vector env can bring: the report states the sampling and learning shares measured
with SB3's own timers (``time/fps`` covers both).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from typing import Any, Callable

import numpy as np

from perf.common.harness import SCRATCH, log, machine_info, md_table


def _systems(env_id: str, n: int, seed: int) -> dict[str, Callable[[], Any]]:
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    from fastparl.env.sb3 import make_sb3_vec_env

    actors = max(1, min(n, len(os.sched_getaffinity(0))))
    return {
        f"SB3 SubprocVecEnv({n})": lambda: make_vec_env(env_id, n, seed=seed, vec_env_cls=SubprocVecEnv,
                                                         vec_env_kwargs={"start_method": "fork"}),
        f"SB3 DummyVecEnv({n})": lambda: make_vec_env(env_id, n, seed=seed, vec_env_cls=DummyVecEnv),
        f"fastparl, {actors} actors": lambda: make_sb3_vec_env(env_id, n, num_actors=actors, seed=seed),
        "fastparl, in-process": lambda: make_sb3_vec_env(env_id, n, seed=seed),
    }


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


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(prog="python -m perf.envs.e2e", description=__doc__.split("\n")[0])
    ap.add_argument("--env", default="HalfCheetah-v5")
    ap.add_argument("--num-envs", type=int, default=8)
    ap.add_argument("--steps", type=int, default=100_000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", default="", help="comma-separated system names (substrings)")
    ap.add_argument("--out", default=SCRATCH, help="folder for e2e.md / e2e.json (default: perf/scratch)")
    a = ap.parse_args(argv)
    import torch
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    rows: dict[str, dict[str, float]] = {}
    for name, make in _systems(a.env, a.num_envs, a.seed).items():
        if a.only and not any(s in name for s in a.only.split(",")):
            continue
        log(f"e2e: {name} ...")
        env = make()
        try:
            model = PPO("MlpPolicy", env, seed=a.seed, verbose=0, device="cpu")
            t0 = time.perf_counter()
            model.learn(a.steps)
            wall = time.perf_counter() - t0
        finally:
            env.close()
        rows[name] = {"wall_s": wall, "steps_per_s": a.steps / wall, "final_return": _evaluate(model, a.env, a.seed)}
        log(f"e2e: {name}: {wall:.0f} s, final return {rows[name]['final_return']:.0f}")
    base = next((v["wall_s"] for k, v in rows.items() if k.startswith("SB3 SubprocVecEnv")), None)
    lines = [f"# SB3 PPO end to end (`python -m perf.envs.e2e`): {a.env}, {a.num_envs} envs, {a.steps:,} steps, "
             f"seed {a.seed}", "", f"{machine_info()['cpu']}; torch on one thread.", ""]
    lines += md_table(["vector env", "wall (s)", "env steps/s", "× SubprocVecEnv", "final return (10 episodes)"],
                      [[k, f"{v['wall_s']:.0f}", f"{v['steps_per_s']:.0f}",
                        "—" if base is None else f"{base / v['wall_s']:.2f}", f"{v['final_return']:.0f}"]
                       for k, v in rows.items()])
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "e2e.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    with open(os.path.join(a.out, "e2e.json"), "w") as f:
        json.dump({"args": vars(a), "rows": rows}, f, indent=1)
    print("\n".join(lines))
    return rows


if __name__ == "__main__":
    main()
