"""OAC, CQL and QMIX reproduction runs (slow; run with ``pytest -m repro``).

* OAC, Pendulum-v1, 20k env steps (the SAC row's settings: 1k warm-up, 128-128, batch 128),
  seeds 0-2: median of 10 deterministic evaluation episodes >= -250 (untrained: about -1200 to
  -1500; solved: about -150).
* CQL, Pendulum-v1, offline: one dataset of 50k steps recorded from a SAC policy trained for 10k
  steps (seed 0), then CQL for 10k gradient steps (64-64-64, batch 128) with seeds 0-2 on it:
  median eval >= -300, and the conservative penalty matters: the same run with
  ``min_q_weight=0`` (naive offline actor-critic, seed 0) scores below -500.
* QMIX, mpe2 simple_spread (3 agents), 30k env steps, seeds 0-2: median of 20 greedy episodes'
  team return >= -70 (uniformly random agents: about -83; the untrained greedy team: about -120).

Each run writes ``progress.csv`` to ``$FASTPARL_REPRO_DIR`` (default: a pytest tmp dir); results
and wall times are printed (``-s``) and recorded in the examples' READMEs.
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
from _examples import SEEDS, load_example, repro_logroot, run_seeds  # noqa: E402


@pytest.mark.repro
def test_repro_oac_pendulum(tmp_path_factory):
    mod = load_example("OAC")
    root = repro_logroot(tmp_path_factory, "oac_Pendulum-v1")
    results = run_seeds(mod, "OAC Pendulum-v1", root, env="Pendulum-v1", total_steps=20_000, warmup_steps=1_000,
                        hidden=128, batch_size=128)
    assert np.median([r["eval_return"] for r in results]) >= -250, results


@pytest.mark.repro
def test_repro_cql_pendulum_offline(tmp_path_factory):
    mod = load_example("CQL")
    root = repro_logroot(tmp_path_factory, "cql_Pendulum-v1")
    common = dict(env="Pendulum-v1", total_steps=10_000, hidden=64, batch_size=128, tensorboard=False)
    first = mod.train(mod.Args(seed=0, dataset="sac", sac_steps=10_000, dataset_steps=50_000,
                               logdir=f"{root}/seed0", **common))
    dataset = f"{root}/seed0/dataset.npz"  # one dataset, as D4RL: the other seeds learn from the same data
    results = [first] + [mod.train(mod.Args(seed=s, dataset=dataset, logdir=f"{root}/seed{s}", **common))
                         for s in SEEDS[1:]]
    naive = mod.train(mod.Args(seed=0, dataset=dataset, min_q_weight=0.0, logdir=f"{root}/naive_seed0", **common))
    print("REPRO CQL Pendulum-v1", json.dumps({"cql": results, "naive": naive}))
    assert np.median([r["eval_return"] for r in results]) >= -300, results
    assert naive["eval_return"] < -500, naive


@pytest.mark.repro
def test_repro_qmix_simple_spread(tmp_path_factory):
    pytest.importorskip("mpe2")
    mod = load_example("QMIX")
    root = repro_logroot(tmp_path_factory, "qmix_simple_spread")
    results = run_seeds(mod, "QMIX simple_spread", root, env="simple_spread", total_steps=30_000)
    assert np.median([r["eval_return"] for r in results]) >= -70, results
