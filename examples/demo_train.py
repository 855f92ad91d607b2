"""The demo's second part: PPO on CartPole-v1 for two seeds, then the training curve as a PNG.

Uses ``examples/PPO/train.py`` (PARL's PPO with ``import fastparl as parl``): the environments
step in actor processes (``RemoteVectorEnv``) when ``actors`` > 0.  The training logger writes to
``<logdir>/log.log`` instead of the terminal, so the result table prints whole.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

HERE = os.path.dirname(os.path.abspath(__file__))


@contextmanager
def log_to_file(path: str) -> Iterator[None]:
    """Send fastparl's logger to ``path`` only (not the terminal) inside the block."""
    log = logging.getLogger("fastparl")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    handler = logging.FileHandler(path, mode="w", encoding="utf-8")
    handler.setFormatter(logging.Formatter("[%(asctime)s %(filename)s:%(lineno)d] %(message)s", "%m-%d %H:%M:%S"))
    terminal = [h for h in log.handlers if not isinstance(h, logging.FileHandler)]
    for h in terminal:
        log.removeHandler(h)
    log.addHandler(handler)
    try:
        yield
    finally:
        log.removeHandler(handler)
        handler.close()
        for h in terminal:
            log.addHandler(h)


# A policy that balances the pole to the end of (nearly) every evaluation episode: 475 of 500, gymnasium's
# reward_threshold for CartPole-v1.  The PPO preset (rl-baselines3-zoo's) reached 500 for seeds 0-19
# at 100k steps, also with other BLAS code paths (examples/PPO/README.md).
BAR = 475.0
STEPS = 100_000


def train_and_plot(seconds: float, logdir: str, actors: int = 0, seeds: tuple[int, ...] = (0, 1),
                   steps: int | None = None) -> str:
    """Train PPO on CartPole-v1 for each seed; print each seed's result against :data:`BAR`; return the PNG path.

    Args:
        seconds: time budget: :data:`STEPS` env steps per seed from 30 s on (about 25 s a seed on a
            2-core machine), else a 20k-step glimpse that does not reach the bar.
        logdir: the runs (``seed<k>/progress.csv``), the training log (``log.log``) and ``curve.png`` go here.
        actors: 0 steps the envs in this process; k > 0 in k actor processes.
        seeds: one run per seed.
        steps: env steps per seed, overriding ``seconds``.
    """
    from fastparl.core import import_paddle

    import_paddle()  # first import of paddle, without its "No ccache found" warning (a C++ build tool)
    sys.path.insert(0, os.path.join(HERE, "PPO"))
    from train import Args, train  # examples/PPO/train.py

    from fastparl.utils import plot_curves

    steps = steps or (STEPS if seconds >= 30 else 20_000)
    log_path = os.path.join(logdir, "log.log")
    where = "envs in-process" if actors == 0 else f"envs in {actors} actor processes"
    print(f"\nTraining PPO on CartPole-v1: {len(seeds)} seed{'s' if len(seeds) != 1 else ''} x {steps:,} env steps "
          f"({where}); log: {log_path}",
          flush=True)
    rows, missed = [], []
    with log_to_file(log_path):
        for seed in seeds:
            t0 = time.perf_counter()
            result = train(Args(env="CartPole-v1", seed=seed, total_steps=steps, actors=actors,
                                logdir=os.path.join(logdir, f"seed{seed}"), tensorboard=False))
            wall = time.perf_counter() - t0
            print(f"  seed {seed}: done in {wall:.1f} s", flush=True)
            reached = result["eval_return"] >= BAR
            if not reached:
                missed.append(seed)
            rows.append(f"| {seed} | {result['initial_eval_return']:.1f} | {result['eval_return']:.1f} "
                        f"| {'yes' if reached else '**no**'} | {wall:.1f} | {steps / wall:,.0f} |")
    print(f"\n| seed | eval return before | eval return after | reached {BAR:.0f}? | wall time (s) | env steps/s |")
    print("|---:|---:|---:|:---:|---:|---:|")
    print("\n".join(rows))
    if missed:
        short = f" ({steps:,} steps is below the {STEPS:,} the preset needs)" if steps < STEPS else ""
        print(f"\nSeed{'s' if len(missed) > 1 else ''} {', '.join(map(str, missed))} did NOT reach {BAR:.0f}{short}: "
              f"the greedy policy still drops the pole within 500 steps.")
    else:
        print(f"\nEvery seed reached {BAR:.0f} (10 deterministic evaluation episodes, max 500).")
    out = plot_curves([logdir], out=os.path.join(logdir, "curve.png"), labels=["PPO CartPole-v1"])
    print(f"\nTraining curve (mean ± std over seeds): {out}")
    print(f"Redraw it with: {fastparl_command()} plot {logdir} -o curve.png")
    return out


def fastparl_command() -> str:
    """How to run the ``fastparl`` CLI from here: this interpreter's own script (a venv need not be active)."""
    script = os.path.join(os.path.dirname(sys.executable), "fastparl")
    if not os.path.exists(script):
        return f"{sys.executable} -m fastparl"
    rel = os.path.relpath(script)
    return rel if not rel.startswith("..") else script
