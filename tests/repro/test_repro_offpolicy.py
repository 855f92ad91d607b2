"""Off-policy continuous control with fastparl's DDPG, TD3 and SAC (slow; run with ``pytest -m repro``).

* Pendulum-v1, 20k env steps (1k random warm-up steps, actor/critics 128-128, batch 128),
  seeds 0-2: the median of 10 deterministic evaluation episodes >= -250 for TD3 and SAC,
  >= -300 for DDPG (an untrained actor scores about -1200 to -1500; solved is about -150).
* HalfCheetah-v5 with PARL's settings (256-256, batch 256, 10k warm-up), 1M steps, seed 0:
  final return >= 3000.  This takes hours on a CPU; it is listed to document the command.

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
gym = pytest.importorskip("gymnasium")

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from _examples import load_example, repro_logroot  # noqa: E402

SEEDS = (0, 1, 2)
PENDULUM = dict(env="Pendulum-v1", total_steps=20_000, warmup_steps=1_000, hidden=128, batch_size=128, tensorboard=False)
THRESHOLD = {"DDPG": -300.0, "TD3": -250.0, "SAC": -250.0}



@pytest.mark.repro
@pytest.mark.parametrize("algo", ["DDPG", "TD3", "SAC"])
def test_repro_pendulum(tmp_path_factory, algo):
    mod = load_example(algo)
    root = repro_logroot(tmp_path_factory, f"{algo.lower()}_Pendulum-v1")
    results = [mod.train(mod.Args(seed=s, logdir=f"{root}/seed{s}", **PENDULUM)) for s in SEEDS]
    print(f"REPRO {algo} Pendulum-v1", json.dumps(results))
    assert np.median([r["eval_return"] for r in results]) >= THRESHOLD[algo], results


@pytest.mark.repro
@pytest.mark.parametrize("algo", ["TD3", "SAC"])
def test_repro_halfcheetah(tmp_path_factory, algo):
    pytest.importorskip("mujoco")
    mod = load_example(algo)
    root = repro_logroot(tmp_path_factory, f"{algo.lower()}_HalfCheetah-v5")
    result = mod.train(mod.Args(env="HalfCheetah-v5", seed=0, total_steps=1_000_000, logdir=f"{root}/seed0",
                                tensorboard=False))
    print(f"REPRO {algo} HalfCheetah-v5", json.dumps(result))
    assert result["eval_return"] >= 3000, result
