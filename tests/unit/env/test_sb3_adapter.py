"""fastparl's vector envs under Stable-Baselines3 (fastparl.env.sb3): what SB3's DummyVecEnv gives,
step by step, in-process and over actors; SB3's PPO and VecNormalize on top; the env-access methods.

Skipped where SB3 is not installed (``pip install 'fastparl[sb3]'``, not in the dev extra: torch), except
the test of the import error's text.
"""

import importlib.util
import subprocess
import sys

import gymnasium as gym
import numpy as np
import pytest

HAVE_SB3 = importlib.util.find_spec("stable_baselines3") is not None
requires_sb3 = pytest.mark.skipif(not HAVE_SB3, reason="needs stable-baselines3: pip install 'fastparl[sb3]'")
if HAVE_SB3:
    from stable_baselines3.common.monitor import Monitor
    from stable_baselines3.common.vec_env import DummyVecEnv, VecNormalize

    from fastparl.env import make_vector_env
    from fastparl.env.sb3 import FastparlVecEnv, make_sb3_vec_env, unbatch_info


def test_import_without_sb3_names_the_extra():
    code = ("import sys; sys.modules['stable_baselines3'] = None\n"
            "try:\n    import fastparl.env.sb3\nexcept ImportError as e:\n    print(e)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'fastparl[sb3]'" in out


def _fns(case):
    """Four env functions; the wrapper class, defined in here, travels to actors by value (cloudpickle)."""

    class _Infos(gym.Wrapper):
        """CartPole with infos on some steps (nested, several types) and on reset: so the per-env info dicts,
        and which step's info an env that reset reports, are checked."""

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            self.t = 0
            return obs, {**info, "reset_seed": -1 if seed is None else seed}

        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            self.t += 1
            if self.t % 3:
                info = {**info, "t": self.t, "x": float(obs[0]), "nested": {"t2": 2 * self.t}}
            return obs, r, term, trunc, info

    if case == "infos":
        return [lambda: _Infos(gym.make("CartPole-v1", max_episode_steps=12))] * 4
    if case == "pendulum":
        return [lambda: gym.make("Pendulum-v1", max_episode_steps=9)] * 4
    return [lambda: gym.make("CartPole-v1", max_episode_steps=12)] * 4


def _same_info(a, b):
    assert a.keys() == b.keys(), (a.keys(), b.keys())
    for k in a:
        if isinstance(a[k], dict):
            _same_info(a[k], b[k])
        else:
            assert np.array_equal(a[k], b[k]), (k, a[k], b[k])


@requires_sb3
@pytest.mark.parametrize("case", ["cartpole", "infos", "pendulum"])
@pytest.mark.parametrize("num_actors", [0, 2])
def test_steps_and_infos_are_dummy_vec_envs(local, case, num_actors):
    """Observations, float32 rewards, dones and per-env infos (the env's, TimeLimit.truncated,
    terminal_observation; reset_infos) as SB3's DummyVecEnv gives them, step by step."""
    ours = FastparlVecEnv(make_vector_env(_fns(case)[0], 4, num_actors=num_actors))
    ref = DummyVecEnv(_fns(case))
    try:
        ours.seed(7)
        ref.seed(7)
        o1, o2 = ours.reset(), ref.reset()
        assert np.array_equal(o1, o2) and o1.dtype == o2.dtype
        for a, b in zip(ours.reset_infos, ref.reset_infos):
            _same_info(a, b)
        rng, ended, truncated = np.random.default_rng(0), 0, 0
        space = ref.action_space
        for _ in range(40):
            if isinstance(space, gym.spaces.Discrete):
                act = rng.integers(0, 2, 4)
            else:
                act = rng.uniform(-2, 2, (4, 1)).astype(np.float32)
            got, want = ours.step(act), ref.step(act)
            for x, y in zip(got[:3], want[:3]):
                assert np.array_equal(x, y) and x.dtype == y.dtype, (x, y)
            assert len(got[3]) == 4
            for a, b in zip(got[3], want[3]):
                _same_info(a, b)
            for a, b in zip(ours.reset_infos, ref.reset_infos):
                _same_info(a, b)
            ended += int(got[2].sum())
            truncated += sum(i["TimeLimit.truncated"] for i in got[3])
        assert ended >= 8 and truncated >= 4  # terminations and 12-step truncations both
    finally:
        ours.close()
        ref.close()


@requires_sb3
@pytest.mark.parametrize("num_actors", [0, 2])
def test_env_method_get_attr_set_attr_seed_is_wrapped(local, num_actors):
    env = make_sb3_vec_env("CartPole-v1", 4, num_actors=num_actors, seed=3)
    ref = DummyVecEnv([lambda: Monitor(gym.make("CartPole-v1"))] * 4)
    try:
        assert env.seed(3) == ref.seed(3) == [3, 4, 5, 6]
        assert np.array_equal(env.reset(), ref.reset())
        assert env.get_attr("gravity") == [9.8] * 4
        assert env.get_attr("render_mode", indices=2) == [None]
        env.set_attr("marker", 5, indices=[1, 3])
        ref.set_attr("marker", 5, indices=[1, 3])
        assert env.get_attr("marker", indices=[3, 1]) == [5, 5]
        assert env.has_attr("gravity") and not env.has_attr("no_such_attribute")
        assert env.has_attr("marker") == ref.has_attr("marker") is False  # not on envs 0 and 2
        with pytest.raises(AttributeError):
            env.get_attr("marker", indices=0)
        # env_method with args and kwargs, on chosen envs only (the others keep their state)
        assert env.env_method("get_wrapper_attr", "gravity", indices=[0]) == [9.8]
        after = env.env_method("reset", indices=[2], seed=11)
        want = ref.env_method("reset", indices=[2], seed=11)
        assert len(after) == 1 and np.array_equal(after[0][0], want[0][0])
        assert env.env_is_wrapped(Monitor) == [True] * 4
        assert env.env_is_wrapped(gym.wrappers.RecordVideo, indices=[0, 1]) == [False, False]
        assert env.env_is_wrapped(gym.wrappers.TimeLimit, indices=3) == [True]
        with pytest.raises(IndexError, match="0..3"):
            env.get_attr("gravity", indices=[4])
    finally:
        env.close()
        ref.close()


@requires_sb3
def test_vec_normalize_on_top_is_vec_normalize_on_dummy_vec_env(local):
    """VecNormalize (observations, rewards, terminal_observation) gives the same numbers on both."""
    ours = VecNormalize(make_sb3_vec_env("CartPole-v1", 4, num_actors=2, monitor=False, seed=1,
                                         env_kwargs={"max_episode_steps": 15}))
    ref = VecNormalize(DummyVecEnv([lambda: gym.make("CartPole-v1", max_episode_steps=15)] * 4))
    try:
        ref.seed(1)
        assert np.array_equal(ours.reset(), ref.reset())
        rng, ended = np.random.default_rng(1), 0
        for _ in range(50):
            act = rng.integers(0, 2, 4)
            (o1, r1, d1, i1), (o2, r2, d2, i2) = ours.step(act), ref.step(act)
            assert np.array_equal(o1, o2) and np.array_equal(r1, r2) and np.array_equal(d1, d2)
            for a, b in zip(i1, i2):
                _same_info(a, b)
            ended += int(d1.sum())
        assert ended >= 8 and np.array_equal(ours.obs_rms.mean, ref.obs_rms.mean)
    finally:
        ours.close()
        ref.close()


@requires_sb3
@pytest.mark.parametrize("num_actors", [0, 2])
def test_sb3_ppo_learns_on_it(local, num_actors):
    from stable_baselines3 import PPO

    env = make_sb3_vec_env("CartPole-v1", 4, num_actors=num_actors, seed=0)
    try:
        model = PPO("MlpPolicy", env, n_steps=64, batch_size=64, n_epochs=2, seed=0, device="cpu")
        model.learn(512)
        assert model.num_timesteps == 512
        assert len(model.ep_info_buffer) > 0 and all(ep["r"] == ep["l"] > 0 for ep in model.ep_info_buffer)
    finally:
        env.close()


@requires_sb3
def test_adapter_refuses_what_it_cannot_serve():
    with pytest.raises(ValueError, match="same-step"):
        FastparlVecEnv(make_vector_env("CartPole-v1", 2, autoreset_mode="NextStep"))
    with pytest.raises(TypeError, match="DummyVecEnv"):
        FastparlVecEnv(gym.make("CartPole-v1"))
    env = make_sb3_vec_env("CartPole-v1", 2)
    env.set_options([{"a": 1}, {"a": 2}])
    with pytest.raises(ValueError, match="one options dict"):
        env.reset()
    env.close()


@requires_sb3
def test_unbatch_info_inverts_gymnasiums_add_info():
    batch = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 3)
    infos = {}
    per_env = [{"a": 1, "n": {"b": 2.5}}, {}, {"a": 3, "s": "x"}]
    for i, info in enumerate(per_env):
        infos = batch._add_info(infos, info, i)
    for i, info in enumerate(per_env):
        _same_info(unbatch_info(infos, i), info)
    batch.close()
