"""The demo's second part: PPO on CartPole-v1 for two seeds, then the training curve as a PNG.

Uses ``examples/PPO/train.py`` (PARL's PPO with ``import fastparl as parl``): the environments
step in actor processes (``RemoteVectorEnv``) when ``actors`` > 0.
"""

from __future__ import annotations

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))


def train_and_plot(seconds: float, logdir: str, actors: int = 0, seeds: tuple[int, ...] = (0, 1)) -> str:
    """Train PPO on CartPole-v1 for each seed within about ``seconds`` in total; return the PNG path."""
    sys.path.insert(0, os.path.join(HERE, "PPO"))
    from train import Args, train  # examples/PPO/train.py

    from fastparl.utils import plot_curves

    steps = 50_000 if seconds >= 30 else 20_000
    print(f"\nTraining PPO on CartPole-v1: {len(seeds)} seeds x {steps:,} env steps "
          f"({'envs in-process' if actors == 0 else f'envs in {actors} actor processes'})\n")
    print("| seed | eval return before | eval return after | wall time (s) | env steps/s |")
    print("|---:|---:|---:|---:|---:|")
    for seed in seeds:
        t0 = time.perf_counter()
        result = train(Args(env="CartPole-v1", seed=seed, total_steps=steps, actors=actors,
                            logdir=os.path.join(logdir, f"seed{seed}"), tensorboard=False))
        wall = time.perf_counter() - t0
        print(f"| {seed} | {result['initial_eval_return']:.1f} | {result['eval_return']:.1f} | {wall:.1f} "
              f"| {steps / wall:,.0f} |", flush=True)
    out = plot_curves([logdir], out=os.path.join(logdir, "curve.png"), labels=["PPO CartPole-v1"])
    print(f"\nTraining curve (mean ± std over seeds): {out}")
    print(f"Redraw it with: fastparl plot {logdir} -o curve.png")
    return out
