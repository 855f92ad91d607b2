"""Fast learning tests: DDPG, TD3, SAC and OAC must really improve on Pendulum-v1.

Each trains the example script's ``train()`` for a small, fixed-seed budget (small networks,
1k random warm-up steps), then compares 10 deterministic evaluation episodes with the
untrained actor (about -1200 to -1500; a solved Pendulum scores about -150).  Budgets hold for
seeds 0-9 (``FASTPARL_TEST_SEEDS=0-9``): DDPG's was 6k, where seed 8 ended at -424 (bar -400); at 8k
seed 3 ended at -464; at 10k all ten pass.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
gym = pytest.importorskip("gymnasium")

from _examples import load_example  # noqa: E402

FAST = dict(env="Pendulum-v1", hidden=64, batch_size=128, warmup_steps=1_000, actor_lr=1e-3, critic_lr=1e-3,
            eval_every=100_000, tensorboard=False)
BUDGET = {"DDPG": 10_000, "TD3": 6_000, "SAC": 5_000, "OAC": 4_000}


def untrained_return(mod, seed: int = 0) -> float:
    from fastparl.utils import set_seed

    set_seed(seed, paddle=True)
    env = gym.make("Pendulum-v1")
    env.reset(seed=seed + 10_000)
    agent = mod.make_agent(3, 1, mod.Args(**FAST))
    return mod.evaluate(agent, env, 10)


@pytest.mark.slow
@pytest.mark.parametrize("algo", ["DDPG", "TD3", "SAC", "OAC"])
@pytest.mark.seed(0)
def test_offpolicy_learns_pendulum(tmp_path, algo, seed):
    mod = load_example(algo)
    before = untrained_return(mod, seed)
    assert before < -700, before
    result = mod.train(mod.Args(seed=seed, total_steps=BUDGET[algo], logdir=str(tmp_path), **FAST))
    print(f"{algo}: untrained {before:.1f} -> {result}")
    assert result["eval_return"] > -400, (before, result)
    assert result["eval_return"] > before + 500, (before, result)
    with open(tmp_path / "progress.csv") as f:
        rows = f.read().splitlines()
    assert rows[0].startswith("env_steps") and len(rows) > 10
    assert os.path.exists(tmp_path / "model.ckpt") and np.isfinite(result["wall_time"])
