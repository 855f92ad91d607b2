"""Fast learning test: CQL must learn a good policy from a fixed dataset, never touching the env while learning.

The dataset is 5000 steps of a noisy linear controller on InvertedPendulum-v5 (its episodes last
about 150 steps); CQL trains 600 gradient steps (small networks, no behaviour-cloning phase), then
10 deterministic episodes are compared with the untrained actor (about 20) and with the dataset's
own return.  (The same run with the conservative penalty off, ``min_q_weight=0``, scores about 4.)
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("mujoco")

from _examples import load_example  # noqa: E402

FAST = dict(env="InvertedPendulum-v5", dataset="scripted", dataset_steps=5000, total_steps=600, hidden=32,
            batch_size=64, actor_lr=1e-3, critic_lr=1e-3, eval_every=600, eval_episodes=10, tensorboard=False)


@pytest.mark.slow
@pytest.mark.seed(0)
def test_cql_learns_offline(tmp_path, seed):
    mod = load_example("CQL")
    result = mod.train(mod.Args(seed=seed, logdir=str(tmp_path), **FAST))
    print(f"CQL InvertedPendulum-v5 (offline): {result}")
    assert result["initial_eval_return"] < 100, result
    assert result["eval_return"] >= 500, result
    assert result["eval_return"] > result["behaviour_return"] + 200, result  # better than the data it learned from
    with open(tmp_path / "progress.csv") as f:
        assert f.readline().startswith("env_steps")
    assert os.path.exists(tmp_path / "model.ckpt") and np.isfinite(result["wall_time"])
