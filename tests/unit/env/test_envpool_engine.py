"""``make_vector_env(id, n, engine="envpool")``: EnvPool behind gymnasium's VectorEnv interface, with fastparl's
autoreset semantics (fastparl/env/envpool_engine.py).  Skipped where EnvPool is not installed (not in the dev
install: ``pip install "fastparl[envpool]"``)."""

import gymnasium as gym
import numpy as np
import pytest

envpool = pytest.importorskip("envpool", reason="EnvPool is optional: pip install 'fastparl[envpool]'")

from fastparl.env.envpool_engine import EnvPoolVectorEnv  # noqa: E402


def _run_until_an_end(env, actions=1, limit=200):
    for t in range(limit):
        obs, rew, term, trunc, info = env.step(np.full(env.num_envs, actions))
        if (term | trunc).any():
            return t, obs, rew, term, trunc, info
    raise AssertionError("no episode ended")


def test_it_is_a_gymnasium_vector_env_with_batched_spaces():
    env = EnvPoolVectorEnv("CartPole-v1", 4)
    try:
        assert isinstance(env, gym.vector.VectorEnv) and env.num_envs == 4
        assert env.single_observation_space.shape == (4,) and env.observation_space.shape == (4, 4)
        assert env.metadata["autoreset_mode"] is gym.vector.AutoresetMode.SAME_STEP
        obs, _ = env.reset(seed=0)
        assert obs.shape == (4, 4) and obs.dtype == np.float32
    finally:
        env.close()


def test_same_step_returns_the_new_episode_and_the_last_observation_in_final_obs():
    env = EnvPoolVectorEnv("CartPole-v1", 3)
    try:
        env.reset(seed=0)
        _, obs, rew, term, trunc, info = _run_until_an_end(env)  # pushing right: the pole falls
        ended = np.flatnonzero(term | trunc)
        assert info["_final_obs"].tolist() == (term | trunc).tolist()
        for i in ended:
            assert abs(info["final_obs"][i][2]) > 0.2  # the pole past CartPole's 12-degree bound: the last obs
            assert np.all(np.abs(obs[i]) <= 0.05)  # the returned obs starts a new episode
        assert rew[ended].tolist() == [1.0] * len(ended)
        _, rew2, term2, _, _ = env.step(np.zeros(3, dtype=np.int64))
        assert rew2[ended].tolist() == [1.0] * len(ended) and not term2[ended].any()  # a normal step, not a reset
    finally:
        env.close()


def test_next_step_resets_on_the_following_step_as_gymnasium():
    env = EnvPoolVectorEnv("CartPole-v1", 3, autoreset_mode="next_step")
    try:
        env.reset(seed=0)
        _, _, _, term, trunc, info = _run_until_an_end(env)
        ended = np.flatnonzero(term | trunc)
        assert "final_obs" not in info
        obs, rew, term2, trunc2, _ = env.step(np.zeros(3, dtype=np.int64))
        assert rew[ended].tolist() == [0.0] * len(ended) and not (term2 | trunc2)[ended].any()
        assert np.all(np.abs(obs[ended]) <= 0.05)
    finally:
        env.close()


def test_seeds_reproduce_and_wrappers_work():
    env = gym.wrappers.vector.RecordEpisodeStatistics(EnvPoolVectorEnv("CartPole-v1", 2, autoreset_mode="next_step"))
    try:
        a = env.reset(seed=3)[0]
        b = env.reset(seed=3)[0]
        c = env.reset(seed=4)[0]
        assert np.array_equal(a, b) and not np.array_equal(a, c)
        env.reset(seed=3)
        lengths = []
        for _ in range(300):
            *_, info = env.step(np.ones(2, dtype=np.int64))
            if "episode" in info:
                lengths += [int(x) for x, m in zip(info["episode"]["l"], info["_episode"]) if m]
        assert lengths and all(5 <= x <= 30 for x in lengths), lengths  # always pushing right: short episodes
    finally:
        env.close()


def test_unknown_ids_and_modes_are_refused():
    with pytest.raises(ValueError, match="EnvPool has no env"):
        EnvPoolVectorEnv("NoSuchEnv-v0", 2)
    with pytest.raises(ValueError, match="SAME_STEP or NEXT_STEP"):
        EnvPoolVectorEnv("CartPole-v1", 2, autoreset_mode="disabled")


def test_make_vector_env_takes_the_envpool_engine_only_when_asked():
    from fastparl.env import make_vector_env

    env = make_vector_env("CartPole-v1", 2, engine="envpool")
    try:
        assert isinstance(env, EnvPoolVectorEnv)
    finally:
        env.close()
    assert not isinstance(make_vector_env("CartPole-v1", 2), EnvPoolVectorEnv)  # never chosen silently
    with pytest.raises(ValueError, match="num_actors"):
        make_vector_env("CartPole-v1", 2, num_actors=2, engine="envpool")
    with pytest.raises(ValueError, match="engine="):
        make_vector_env("CartPole-v1", 2, engine="nope")
