"""Fast learning tests: ES and IMPALA must really improve on CartPole-v1 with 2 remote actors.

Each trains the example script's ``train()`` for a small fixed-seed budget with ``--actors 2`` and
compares 10 evaluation episodes with the untrained policy (``initial_eval_return``, same
evaluation seeds) and with a random policy (~22).  The seeds are ones whose untrained policy is
poor (ES seed 0: 10.2, IMPALA seed 1: 12.0).  ES with remote actors is deterministic (synchronous
iterations, per-actor seeds); IMPALA's asynchronous batches depend on timing, so its bar leaves a
margin below the ~500 it usually reaches.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

from _examples import RANDOM_RETURN, load_example  # noqa: E402


def _check_learned(result: dict[str, float], logdir, bar: float) -> None:
    assert result["eval_return"] >= bar, result
    assert result["eval_return"] > max(result["initial_eval_return"], RANDOM_RETURN) + 100, result
    assert np.isfinite(result["wall_time"]) and result["steps_per_s"] > 0
    rows = open(os.path.join(logdir, "progress.csv")).read().splitlines()
    assert rows[0].startswith("env_steps") and len(rows) > 5


@pytest.mark.slow
@pytest.mark.seed(0)
def test_es_learns_cartpole_with_remote_actors(tmp_path, seed):
    mod = load_example("ES")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=300_000, actors=2, noise_size=2_000_000,
                                logdir=str(tmp_path), tensorboard=False))
    _check_learned(result, tmp_path, bar=195)
    assert os.path.exists(tmp_path / "model.ckpt")


@pytest.mark.slow
@pytest.mark.seed(1)
def test_impala_learns_cartpole_with_async_actors(tmp_path, seed):
    mod = load_example("IMPALA")
    result = mod.train(mod.Args(env="CartPole-v1", seed=seed, total_steps=200_000, actors=2, logdir=str(tmp_path),
                                tensorboard=False))
    _check_learned(result, tmp_path, bar=150)
