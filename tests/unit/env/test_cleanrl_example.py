"""A CleanRL script takes fastparl's vector env by changing one line and gets SyncVectorEnv's trajectories.

``examples/cleanrl_ppo_continuous_action.py`` (CleanRL's continuous-action PPO on paddle, its per-env
normalising wrappers included) runs a short training on Pendulum-v1 with ``--vector-env sync`` and
``--vector-env fastparl`` (2 actors) on the same seed: the first rollout (observations, actions,
rewards, episode ends, across an autoreset) is the same to the bit, and so is the rest of the run.
"""

import importlib.util
import os
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


def _example():
    path = os.path.join(ROOT, "examples", "cleanrl_ppo_continuous_action.py")
    spec = importlib.util.spec_from_file_location("fastparl_example_cleanrl_ppo", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclass looks its module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    pytest.importorskip("paddle")
    import fastparl

    example = _example()
    out = {}
    fastparl.disconnect()
    fastparl.connect("local")
    try:
        for vector_env in ("sync", "fastparl"):
            # Pendulum's episodes last 200 steps: the first rollout of 256 steps crosses an autoreset
            args = example.Args(env_id="Pendulum-v1", seed=3, vector_env=vector_env, num_actors=2, num_envs=4,
                                num_steps=256, total_timesteps=2 * 4 * 256, num_minibatches=4, update_epochs=2,
                                logdir=str(tmp_path_factory.mktemp(vector_env)))
            out[vector_env] = example.train(args)
    finally:
        fastparl.disconnect()
    return out


def test_the_first_rollout_is_sync_vector_envs(runs):
    ours, ref = runs["fastparl"]["first_rollout"], runs["sync"]["first_rollout"]
    assert ref["dones"].sum() == 4  # every env's episode ended once, and went on in a new one
    for key in ("obs", "actions", "rewards", "dones"):
        assert ours[key].shape == ref[key].shape == ref["obs"].shape[:2] + ours[key].shape[2:]
        assert np.array_equal(ours[key], ref[key]), f"{key} differ from step {np.argwhere(ours[key] != ref[key])[0]}"


def test_the_whole_run_is_the_same(runs):
    ours, ref = runs["fastparl"], runs["sync"]
    assert ours["global_step"] == ref["global_step"] == 2048
    assert ours["episodes"] == ref["episodes"] and len(ref["episodes"]) == 8
    assert ours["last_losses"] == ref["last_losses"]
