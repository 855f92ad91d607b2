"""Learning with data-parallel learners (``--learners 2``, two gloo learners on CPU).

The fast test trains the PPO example with 2 learners on CartPole-v1 (seed 1, whose untrained greedy
policy scores 12.0) and holds it to the single-learner test's bar: 10 deterministic episodes
>= 195 and 50 above the untrained policy.  The budget is 50k steps (196 updates of 20 epochs: every
epoch is an all-reduced step, the cost that grows with k on CPU): at 20k, seeds 0, 3, 7 and 8 ended
at 116-127 (with or without the clip-range decay); at 50k seeds 0-9 all pass (500 on nine, 396 on
seed 4).  The learners must be gone when training returns.  The equivalence of a
synchronous step with one learner's step on the whole batch is tested in tests/unit/rl/test_learners.py.
The reproduction runs (``pytest -m repro``) repeat PPO's and IMPALA's published budgets with 2 learners.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

from _examples import RANDOM_RETURN, load_example, repro_logroot, run_seeds  # noqa: E402
from _procs import forked_actors, still_alive  # noqa: E402


@pytest.mark.slow
@pytest.mark.seed(1)
def test_ppo_with_two_learners_learns_cartpole(tmp_path, seed):
    mod = load_example("PPO")
    before = forked_actors()
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=50_000, learners=2, logdir=str(tmp_path),
                                tensorboard=False))
    assert still_alive(forked_actors() - before, timeout=10) == [], "learner processes outlived training"
    assert result["eval_return"] >= 195, result
    assert result["eval_return"] > max(result["initial_eval_return"], RANDOM_RETURN) + 50, result
    rows = open(os.path.join(tmp_path, "progress.csv")).read().splitlines()
    assert rows[0].startswith("env_steps") and len(rows) > 5
    assert os.path.exists(tmp_path / "model.ckpt")  # the driver's agent holds the learners' weights


def test_examples_reject_learner_counts_that_cannot_split_the_batch(tmp_path):
    ppo, impala = load_example("PPO"), load_example("IMPALA")
    with pytest.raises(ValueError, match="--learners 3 must divide --num-steps 32"):
        ppo.train(ppo.Args(learners=3, total_steps=256, eval_episodes=1, logdir=str(tmp_path), tensorboard=False))
    with pytest.raises(ValueError, match="--learners 0"):
        impala.train(impala.Args(learners=0, logdir=str(tmp_path), tensorboard=False))


@pytest.mark.repro
def test_repro_ppo_cartpole_two_learners(tmp_path_factory):
    """PPO's reproduction budget and bar (100k steps, median >= 475 over seeds 0-2) with 2 learners."""
    mod = load_example("PPO")
    results = run_seeds(mod, "ppo_cartpole_learners2", repro_logroot(tmp_path_factory, "ppo_CartPole-v1_learners2"),
                        env="CartPole-v1", total_steps=100_000, learners=2)
    assert np.median([r["eval_return"] for r in results]) >= 475, results


@pytest.mark.repro
def test_repro_impala_cartpole_two_learners(tmp_path_factory):
    """IMPALA's reproduction budget (300k steps, 2 asynchronous actors) with 2 learners: median >= 195."""
    mod = load_example("IMPALA")
    results = run_seeds(mod, "impala_cartpole_learners2",
                        repro_logroot(tmp_path_factory, "impala_CartPole-v1_learners2"), env="CartPole-v1",
                        total_steps=300_000, actors=2, learners=2)
    assert np.median([r["eval_return"] for r in results]) >= 195, results
