"""Reproduce ES and IMPALA results on CartPole-v1 with fastparl (slow; run with ``pytest -m repro``).

* ES, CartPole-v1, 300k env steps (of perturbed episodes), 20 mirrored pairs per iteration,
  2 remote actors sharing one noise table, seeds 0-2: median of 10 evaluation episodes >= 195.
* IMPALA, CartPole-v1, 300k env steps, 2 asynchronous remote actors x 4 envs x 20 steps,
  seeds 0-2: median of 10 greedy evaluation episodes >= 195.

PARL publishes ES (MuJoCo) and IMPALA (Atari) learning curves only, no CartPole numbers.  Each run
writes ``progress.csv`` to ``$FASTPARL_REPRO_DIR`` (default: a pytest tmp dir); results and wall
times are printed (``-s``) and recorded in the examples' READMEs.
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
def test_repro_es_cartpole(tmp_path_factory):
    mod = load_example("ES")
    results = run_seeds(mod, "es_cartpole", repro_logroot(tmp_path_factory, "es_CartPole-v1"), env="CartPole-v1",
                   total_steps=300_000, actors=2)
    assert np.median([r["eval_return"] for r in results]) >= 195, results


@pytest.mark.repro
def test_repro_impala_cartpole(tmp_path_factory):
    mod = load_example("IMPALA")
    results = run_seeds(mod, "impala_cartpole", repro_logroot(tmp_path_factory, "impala_CartPole-v1"), env="CartPole-v1",
                   total_steps=300_000, actors=2)
    assert np.median([r["eval_return"] for r in results]) >= 195, results
