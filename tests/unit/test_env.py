"""Vector envs: same results in-process and over actors, same-step autoreset, clear errors."""

import gymnasium as gym
import numpy as np
import pytest

import fastparl
from fastparl.env import GymAdapter, LocalVectorEnv, RemoteVectorEnv, check_spaces, make_vector_env


def _rollout(env, steps=300, seed=3):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(0)
    out = [obs.copy()]
    finals, episodes = 0, []
    for _ in range(steps):
        obs, rew, term, trunc, info = env.step(rng.integers(0, 2, env.num_envs))
        out.append(obs.copy())
        if info:
            mask = info["_final_obs"]
            assert mask.any() and (mask == (term | trunc)).all()
            finals += int(mask.sum())
            episodes += list(info["episode"]["r"][info["_episode"]])
        else:
            assert not (term | trunc).any()
    return np.stack(out), finals, episodes


def test_remote_matches_in_process(local):
    a = make_vector_env("CartPole-v1", 6, num_actors=0)
    b = make_vector_env("CartPole-v1", 6, num_actors=2)
    try:
        oa, fa, ea = _rollout(a)
        ob, fb, eb = _rollout(b)
    finally:
        a.close()
        b.close()
    assert np.array_equal(oa, ob)
    assert fa == fb and fa > 10 and ea == eb
    assert all(10 <= r <= 500 for r in ea)  # CartPole: +1 per step


def test_autoreset_gives_final_obs_and_new_episode():
    env = LocalVectorEnv([lambda: gym.make("CartPole-v1")] * 2)
    env.reset(seed=0)
    for _ in range(200):
        obs, rew, term, trunc, info = env.step(np.ones(2, dtype=np.int64))  # always push right: falls fast
        if info:
            i = int(np.flatnonzero(info["_final_obs"])[0])
            assert abs(info["final_obs"][i][2]) > 0.2 or abs(info["final_obs"][i][0]) > 2.3  # it fell
            assert np.abs(obs[i]).max() <= 0.05  # fresh reset state
            assert info["episode"]["l"][i] == info["episode"]["r"][i]
            break
    else:
        pytest.fail("no episode ended")


def test_remote_env_shares_memory_and_closes(local):
    env = RemoteVectorEnv([lambda: gym.make("CartPole-v1")] * 4, num_actors=2, copy=False)
    obs, _ = env.reset(seed=1)
    assert isinstance(obs, fastparl.SharedArray) and obs.shape == (4, 4)
    obs2, *_ = env.step(np.zeros(4, dtype=np.int64))
    assert obs2 is obs  # zero-copy mode hands out the shared buffer
    workers = list(env.workers)
    env.close()
    with pytest.raises(fastparl.errors.ActorDiedError):
        workers[0].step().result()


def test_bad_spaces_and_actions_are_reported():
    class DictObs(gym.Env):
        observation_space = gym.spaces.Dict({"a": gym.spaces.Discrete(2)})
        action_space = gym.spaces.Discrete(2)

    with pytest.raises(ValueError, match="FlattenObservation"):
        check_spaces(DictObs())
    with pytest.raises(TypeError, match="GymAdapter"):
        check_spaces(type("OldEnv", (), {"step": None, "reset": None})())
    env = LocalVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="3 envs"):
        env.step(np.zeros(5))
    with pytest.raises(ValueError, match="num_actors"):
        RemoteVectorEnv([lambda: gym.make("CartPole-v1")] * 2, num_actors=3)


def test_old_gym_env_through_the_adapter():
    class OldCartPole:
        """gym < 0.26 style: reset() -> obs, step() -> (obs, reward, done, info)."""

        def __init__(self):
            self.env = gym.make("CartPole-v1")
            self.observation_space = self.env.observation_space
            self.action_space = self.env.action_space

        def reset(self):
            return self.env.reset(seed=0)[0]

        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            info = dict(info)
            if trunc:
                info["TimeLimit.truncated"] = True
            return obs, r, term or trunc, info

    env = LocalVectorEnv([lambda: GymAdapter(OldCartPole())] * 2)
    obs, _ = env.reset()
    assert obs.shape == (2, 4)
    _, _, term, trunc, _ = env.step(np.zeros(2, dtype=np.int64))
    assert term.dtype == np.bool_ and trunc.dtype == np.bool_


def test_continuous_actions():
    env = make_vector_env("Pendulum-v1", 3)
    obs, _ = env.reset(seed=0)
    obs, rew, term, trunc, _ = env.step(np.zeros((3, 1), dtype=np.float32))
    assert obs.shape == (3, 3) and rew.shape == (3,) and (rew <= 0).all()


@pytest.mark.parametrize("limit", [None, 7])
def test_same_results_as_gymnasium_sync_vector_env(limit):
    """Our fast path steps gymnasium.make's inner env and counts the time limit itself."""
    kwargs = {} if limit is None else {"max_episode_steps": limit}
    ours = make_vector_env("CartPole-v1", 4, **kwargs)
    ref = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1", **kwargs)] * 4,
                                   autoreset_mode=gym.vector.AutoresetMode.SAME_STEP)
    oa, _ = ours.reset(seed=5)
    ob, _ = ref.reset(seed=[5, 6, 7, 8])
    assert np.array_equal(oa, ob)
    rng = np.random.default_rng(1)
    truncated = 0
    for _ in range(120):
        act = rng.integers(0, 2, 4)
        o1, r1, te1, tr1, i1 = ours.step(act)
        o2, r2, te2, tr2, i2 = ref.step(act)
        assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
        assert np.array_equal(te1, te2) and np.array_equal(tr1, tr2)
        if (te1 | tr1).any():
            assert np.array_equal(i1["final_obs"][i1["_final_obs"]], np.stack(i2["final_obs"][i2["_final_obs"]]))
        truncated += int(tr1.sum())
    assert (truncated > 0) == (limit is not None)
