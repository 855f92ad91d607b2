"""Fast learning test: MADDPG must really improve on the MPE ``simple`` task (mpe2).

Trains the example script's ``train()`` for 400 episodes (fixed seed, batch 256, an update
every 5 steps instead of PARL's 100), then compares PARL's metric, the mean episode reward of
the last 100 training episodes, with 50 episodes of the untrained agent (about -30; a trained
agent reaches its landmark and scores about -7 to -8).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("mpe2")

from _examples import load_example  # noqa: E402

FAST = dict(env="simple", batch_size=256, learn_every=5, min_memory_size=1_000, stat_rate=100, tensorboard=False)


@pytest.mark.slow
@pytest.mark.seed(0)
def test_maddpg_learns_simple(tmp_path, seed):
    from fastparl.utils import set_seed

    mod = load_example("MADDPG")
    set_seed(seed, paddle=True)
    env = mod.make_env("simple")
    env.reset(seed=seed + 10_000)
    args = mod.Args(seed=seed, max_episodes=400, logdir=str(tmp_path), **FAST)
    before = mod.evaluate(env, mod.make_agents(env, args), args, 50)
    assert before < -20, before
    result = mod.train(args)
    print(f"MADDPG simple: untrained {before:.2f} -> {result}")
    assert result["mean_episode_reward"] > -13, (before, result)
    assert result["mean_episode_reward"] > before + 12, (before, result)
    assert os.path.exists(tmp_path / "agent_0.ckpt") and np.isfinite(result["wall_time"])
