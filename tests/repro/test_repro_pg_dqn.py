"""Reproduce PARL's CartPole results with fastparl (slow; run with ``pytest -m repro``).

* PolicyGradient (PARL QuickStart), CartPole-v1, 100k env steps, seeds 0-2: the median of
  10 greedy evaluation episodes >= 195, and the sampled policy's median return >= 195.
* DQN, Double DQN and dueling DQN (PARL examples/DQN), CartPole-v1, 50k env steps, seeds 0-2:
  median of 10 greedy evaluation episodes >= 195.

Each run writes ``progress.csv`` to ``$FASTPARL_REPRO_DIR`` (default: a pytest tmp dir);
results and wall times are printed (``-s``) and recorded in the examples' READMEs.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _examples import load_example, repro_logroot  # noqa: E402

SEEDS = (0, 1, 2)



@pytest.mark.repro
def test_repro_policy_gradient_cartpole(tmp_path_factory):
    mod = load_example("PolicyGradient")
    root = repro_logroot(tmp_path_factory, "pg_CartPole-v1")
    results = [
        mod.train(mod.Args(seed=s, total_steps=100_000, logdir=f"{root}/seed{s}", tensorboard=False)) for s in SEEDS
    ]
    print("REPRO pg", json.dumps(results))
    assert np.median([r["eval_return"] for r in results]) >= 195, results
    assert np.median([r["sample_return"] for r in results]) >= 195, results


@pytest.mark.repro
@pytest.mark.parametrize("variant", ["dqn", "ddqn", "dueling"])
def test_repro_dqn_cartpole(tmp_path_factory, variant):
    mod = load_example("DQN")
    algo, dueling = ("dqn", True) if variant == "dueling" else (variant, False)
    root = repro_logroot(tmp_path_factory, f"{variant}_CartPole-v1")
    results = [
        mod.train(mod.Args(seed=s, algo=algo, dueling=dueling, total_steps=50_000, logdir=f"{root}/seed{s}",
                           tensorboard=False))
        for s in SEEDS
    ]
    print(f"REPRO {variant}", json.dumps(results))
    assert np.median([r["eval_return"] for r in results]) >= 195, results
