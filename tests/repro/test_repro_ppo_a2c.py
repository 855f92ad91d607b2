"""Reproduce PPO and A2C results with fastparl (slow; run with ``pytest -m repro``).

* PPO, CartPole-v1, 100k env steps, 8 envs, seeds 0-2: median of 10 deterministic evaluation
  episodes >= 475.
* A2C, CartPole-v1, 200k env steps, seeds 0-2: median of 10 greedy evaluation episodes >= 195.
* PPO, InvertedPendulum-v5 (MuJoCo), 100k env steps, seeds 0-2: median >= 950 (skipped without
  ``gymnasium[mujoco]``).

Each run writes ``progress.csv`` to ``$FASTPARL_REPRO_DIR`` (default: a pytest tmp dir); results
and wall times are printed (``-s``) and recorded in the examples' READMEs.
"""

from __future__ import annotations

import os
import sys

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _examples import load_example, repro_logroot, run_seeds  # noqa: E402





@pytest.mark.repro
def test_repro_ppo_cartpole(tmp_path_factory):
    mod = load_example("PPO")
    results = run_seeds(mod, "ppo_cartpole", repro_logroot(tmp_path_factory, "ppo_CartPole-v1"), env="CartPole-v1",
                   total_steps=100_000, num_envs=8)
    assert np.median([r["eval_return"] for r in results]) >= 475, results


@pytest.mark.repro
def test_repro_a2c_cartpole(tmp_path_factory):
    mod = load_example("A2C")
    results = run_seeds(mod, "a2c_cartpole", repro_logroot(tmp_path_factory, "a2c_CartPole-v1"), env="CartPole-v1",
                   total_steps=200_000)
    assert np.median([r["eval_return"] for r in results]) >= 195, results


@pytest.mark.repro
def test_repro_ppo_inverted_pendulum(tmp_path_factory):
    gym = pytest.importorskip("gymnasium")
    try:
        gym.make("InvertedPendulum-v5").close()
    except Exception as exc:  # noqa: BLE001 - mujoco missing or broken
        pytest.skip(f"InvertedPendulum-v5 unavailable ({exc}); pip install 'gymnasium[mujoco]'")
    mod = load_example("PPO")
    results = run_seeds(mod, "ppo_inverted_pendulum", repro_logroot(tmp_path_factory, "ppo_InvertedPendulum-v5"),
                   env="InvertedPendulum-v5", total_steps=100_000)
    assert np.median([r["eval_return"] for r in results]) >= 950, results
