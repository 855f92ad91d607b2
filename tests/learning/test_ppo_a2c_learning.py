"""Fast learning tests: PPO and A2C must really improve on CartPole-v1.

Each trains the example script's ``train()`` for a small budget with its own seed (any seeds with
``FASTPARL_TEST_SEEDS``, tests/learning/conftest.py) and compares 10
deterministic evaluation episodes with the untrained agent (``initial_eval_return``, same
evaluation env seed) and with a random policy (~22).  Seed 1 is used because its untrained
greedy policy is poor (12.0); the greedy action of an untrained network can balance the pole
for a while by luck (seed 0: 169.3).  Budgets are ~1.5x the steps these seeds need, and the
remote runs must learn as well as the in-process ones (PPO's are step-for-step identical).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

from _examples import RANDOM_RETURN, ROOT, load_example  # noqa: E402,F401


# gymnasium's reward_threshold for CartPole-v1: the demo's bar, which the PPO preset reaches for every
# seed at its budget (seeds 0-19, also with other BLAS code paths; examples/PPO/README.md)
PPO_BAR = 475


def _check_learned(result: dict[str, float], logdir, bar: float = 195) -> None:
    assert result["eval_return"] >= bar, result
    assert result["eval_return"] > max(result["initial_eval_return"], RANDOM_RETURN) + 50, result
    assert np.isfinite(result["wall_time"]) and result["steps_per_s"] > 0
    rows = open(os.path.join(logdir, "progress.csv")).read().splitlines()
    assert rows[0].startswith("env_steps") and len(rows) > 5


@pytest.mark.slow
@pytest.mark.seed(1)
def test_ppo_learns_cartpole(tmp_path, seed):
    mod = load_example("PPO")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=100_000, logdir=str(tmp_path),
                                tensorboard=False))
    _check_learned(result, tmp_path, PPO_BAR)
    assert os.path.exists(tmp_path / "model.ckpt")


@pytest.mark.slow
@pytest.mark.seed(1)
def test_ppo_learns_cartpole_with_remote_envs(tmp_path, seed):
    mod = load_example("PPO")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=100_000, actors=2, logdir=str(tmp_path),
                                tensorboard=False))
    _check_learned(result, tmp_path, PPO_BAR)


@pytest.mark.slow
@pytest.mark.seed(1)
def test_a2c_learns_cartpole(tmp_path, seed):
    mod = load_example("A2C")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=80_000, logdir=str(tmp_path),
                                tensorboard=False))
    _check_learned(result, tmp_path)


@pytest.mark.slow
@pytest.mark.seed(1)
def test_a2c_remote_actors_sample_and_learn(tmp_path, seed):
    mod = load_example("A2C")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=80_000, actors=2, logdir=str(tmp_path),
                                tensorboard=False))
    _check_learned(result, tmp_path)
