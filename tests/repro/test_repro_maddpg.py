"""MADDPG on MPE simple_spread (mpe2), seed 0 (slow; run with ``pytest -m repro``).

3000 episodes of 25 steps, batch 256, an update of every agent every 10 env steps (PARL:
25000 episodes, batch 1024, every 100 steps).  An untrained team scores about -80 to -95 per
episode (rewards summed over the 3 agents); the run must reach a mean of the last 500
training episodes >= -65.  Results and wall time are printed (``-s``) and recorded in
examples/MADDPG/README.md.
"""

from __future__ import annotations

import json
import os
import sys

import pytest

pytest.importorskip("paddle")
pytest.importorskip("mpe2")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _examples import load_example  # noqa: E402


@pytest.mark.repro
def test_repro_simple_spread(tmp_path):
    mod = load_example("MADDPG")
    root = os.environ.get("FASTPARL_REPRO_DIR")
    logdir = os.path.join(root, "maddpg_simple_spread", "seed0") if root else str(tmp_path)
    result = mod.train(mod.Args(env="simple_spread", seed=0, max_episodes=3000, batch_size=256, learn_every=10,
                                min_memory_size=1000, stat_rate=500, tensorboard=False, logdir=logdir))
    print("REPRO MADDPG simple_spread", json.dumps(result))
    assert result["mean_episode_reward"] >= -65.0, result
