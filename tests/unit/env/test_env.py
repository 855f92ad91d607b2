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
            assert np.array_equal(mask, info["_episode"])
            finals += int(mask.sum())
            episodes += list(info["episode"]["r"][mask])
        else:
            assert not (term | trunc).any()
    return np.stack(out), finals, episodes


@pytest.mark.parametrize("info_format", ["gymnasium", "fastparl"])
def test_remote_matches_in_process(local, info_format):
    """Same steps, final observations and episode returns in-process and over actors, in both info
    formats (gymnasium's, the default, with its RecordEpisodeStatistics; fastparl's, counted in the actors)."""
    def make(num_actors):
        env = make_vector_env("CartPole-v1", 6, num_actors=num_actors, info_format=info_format)
        return gym.wrappers.vector.RecordEpisodeStatistics(env) if info_format == "gymnasium" else env

    a, b = make(0), make(2)
    try:
        oa, fa, ea = _rollout(a)
        ob, fb, eb = _rollout(b)
    finally:
        a.close()
        b.close()
    assert np.array_equal(oa, ob)
    assert fa == fb and fa > 10 and ea == eb
    assert all(10 <= r <= 500 for r in ea)  # CartPole: +1 per step


def test_default_infos_are_gymnasiums_and_both_formats_count_the_same_episodes(local):
    """The default info format is gymnasium's (so its RecordEpisodeStatistics wraps a default env); the
    opt-in fastparl format's dense final_obs and episode stats agree with it step by step."""
    for num_actors in (0, 2):
        default = make_vector_env("CartPole-v1", 4, num_actors=num_actors, max_episode_steps=20)
        assert default.info_format == "gymnasium"
        ours = gym.wrappers.vector.RecordEpisodeStatistics(default)
        dense = make_vector_env("CartPole-v1", 4, num_actors=num_actors, max_episode_steps=20, info_format="fastparl")
        try:
            ours.reset(seed=2)
            dense.reset(seed=2)
            rng, ended = np.random.default_rng(2), 0
            for _ in range(60):
                act = rng.integers(0, 2, 4)
                o1, r1, te1, tr1, i1 = ours.step(act)
                o2, r2, te2, tr2, i2 = dense.step(act)
                assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
                assert np.array_equal(te1, te2) and np.array_equal(tr1, tr2)
                assert i1.keys() == ({"final_obs", "_final_obs", "final_info", "_final_info", "episode", "_episode"}
                                     if (te1 | tr1).any() else set())
                if i1:
                    m = i1["_final_obs"]
                    assert np.array_equal(m, i2["_final_obs"]) and np.array_equal(m, i2["_episode"])
                    assert i1["final_obs"].dtype == object and all(x is None for x in i1["final_obs"][~m])
                    assert np.array_equal(np.stack(i1["final_obs"][m]), i2["final_obs"][m])
                    assert np.array_equal(i1["episode"]["r"][m], i2["episode"]["r"][m])
                    assert np.array_equal(i1["episode"]["l"][m], i2["episode"]["l"][m])
                    ended += int(m.sum())
            assert ended >= 8  # terminations and 20-step truncations
        finally:
            ours.close()
            dense.close()


def test_autoreset_gives_final_obs_and_new_episode():
    env = gym.wrappers.vector.RecordEpisodeStatistics(LocalVectorEnv([lambda: gym.make("CartPole-v1")] * 2))
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
            assert np.array_equal(np.stack(i1["final_obs"][i1["_final_obs"]]),
                                  np.stack(i2["final_obs"][i2["_final_obs"]]))
        truncated += int(tr1.sum())
    assert (truncated > 0) == (limit is not None)


# ---------------------------------------------------------------- double-buffered sampling (groups)

def _group_policy(obs, g, k):
    """Deterministic actions from the observations, the group and the step count (so a mix-up shows)."""
    return ((obs[:, 2] > 0).astype(np.int64) + g + k) % 2


@pytest.mark.parametrize("num_actors,groups,futex", [(2, 2, True), (2, 4, True), (3, 1, True), (4, 2, True),
                                                     (2, 2, False), (2, 4, False)])
def test_groups_give_the_same_transitions_as_lockstep(local, num_actors, groups, futex):
    """Groups stepped out of phase (double-buffered) give exactly the transitions of stepping every env in
    lockstep with the same actions: observations, rewards, flags, final observations and episode stats
    (fastparl's info format; gymnasium's: tests/unit/env/test_vector_gymnasium.py); with steps signalled
    through futexes or through remote calls."""
    n, steps = 12, 60
    fns = [lambda: gym.make("CartPole-v1", max_episode_steps=25)] * n  # terminations and truncations both
    ref = LocalVectorEnv(fns, info_format="fastparl")
    env = RemoteVectorEnv(fns, num_actors=num_actors, groups=groups, futex=futex, info_format="fastparl")
    assert (env.ctl is not None) == futex
    try:
        assert len(env.group_slices) == groups and sum(s.stop - s.start for s in env.group_slices) == n
        obs_ref, _ = ref.reset(seed=4)
        obs, _ = env.reset(seed=4)
        assert np.array_equal(obs, obs_ref)
        got = {g: [] for g in range(groups)}
        for g, s in enumerate(env.group_slices):  # prime every group, then keep them out of phase
            env.step_async(_group_policy(obs[s], g, 0), group=g)
        for k in range(1, steps + 1):
            for g in range(groups):
                out = env.step_wait(group=g)
                got[g].append(out)
                if k < steps:
                    env.step_async(_group_policy(out[0], g, k), group=g)
        ended = 0
        for k in range(steps):
            act = np.concatenate([_group_policy(obs_ref[s], g, k) for g, s in enumerate(env.group_slices)])
            obs_ref, rew, term, trunc, info = ref.step(act)
            for g, s in enumerate(env.group_slices):
                o, r, te, tr, i = got[g][k]
                assert np.array_equal(o, obs_ref[s]) and np.array_equal(r, rew[s])
                assert np.array_equal(te, term[s]) and np.array_equal(tr, trunc[s])
                assert bool(i) == bool((term[s] | trunc[s]).any())
                if i:
                    m = i["_final_obs"]
                    assert np.array_equal(m, info["_final_obs"][s]) and np.array_equal(m, te | tr)
                    assert np.array_equal(i["final_obs"][m], info["final_obs"][s][m])
                    assert np.array_equal(i["episode"]["l"][m], info["episode"]["l"][s][m])
                    assert np.array_equal(i["episode"]["r"][m], info["episode"]["r"][s][m])
                    ended += int(m.sum())
        assert ended > n  # every env ended episodes (CartPole falls or hits the 25-step limit)
        obs2, *_ = env.step(np.zeros(n, np.int64))  # lockstep still works on a grouped env
        assert obs2.shape == (n, 4)
    finally:
        env.close()
        ref.close()


def test_group_layout_and_errors(local):
    fns = [lambda: gym.make("CartPole-v1")] * 8
    env = RemoteVectorEnv(fns, num_actors=2, groups=4, copy=False)
    try:
        assert env.group_slices == [slice(0, 2), slice(2, 4), slice(4, 6), slice(6, 8)]
        assert env._group_actors == [[(0, 0)], [(1, 0)], [(0, 1)], [(1, 1)]]  # group g on actor g % 2
        obs, _ = env.reset(seed=0)
        env.step_async(np.zeros(2, np.int64), group=1)
        with pytest.raises(RuntimeError, match=r"step_wait\(group=1\)"):
            env.step_async(np.zeros(2, np.int64), group=1)
        with pytest.raises(RuntimeError, match="still stepping"):
            env.step(np.zeros(8, np.int64))
        with pytest.raises(RuntimeError, match="no step"):
            env.step_wait(group=0)
        with pytest.raises(ValueError, match="groups 0..3"):
            env.step_async(np.zeros(2, np.int64), group=4)
        with pytest.raises(ValueError, match="expected"):
            env.step_async(np.zeros(3, np.int64), group=0)
        o1, *_ = env.step_wait(group=1)
        assert o1.shape == (2, 4) and np.shares_memory(o1, obs)  # zero-copy: a view of the group's rows
        env.step_async(np.zeros(2, np.int64), group=2)
        env.reset(seed=0)  # a reset waits for steps in flight
        env.step(np.zeros(8, np.int64))
    finally:
        env.close()
    three = RemoteVectorEnv(fns, num_actors=3, groups=1)
    assert [len(w) for w in three._group_actors] == [3]
    three.close()
    with pytest.raises(ValueError, match="multiple of num_actors"):
        RemoteVectorEnv(fns, num_actors=2, groups=3)
    with pytest.raises(ValueError, match="every actor needs"):
        RemoteVectorEnv(fns[:3], num_actors=4, groups=2)  # groups of 1 and 2 envs, each over 2 actors
    with pytest.raises(ValueError, match="groups=9"):
        RemoteVectorEnv(fns, num_actors=1, groups=9)
    with pytest.raises(ValueError, match="num_actors"):
        make_vector_env("CartPole-v1", 4, groups=2)
    with pytest.raises(ValueError, match="num_actors"):
        make_vector_env("CartPole-v1", 4, pin=True)


@pytest.mark.parametrize("how,error", [("raise", fastparl.errors.RemoteError),
                                       ("kill", fastparl.errors.ActorDiedError)])
def test_futex_steps_report_env_errors_and_dead_actors(local, how, error):
    import time

    class Exploding(gym.Env):  # defined here, so that cloudpickle ships it to the actors by value
        """Raises on its 5th step, or kills its own process (the actor) there."""

        observation_space = gym.spaces.Box(-1, 1, (4,), np.float32)
        action_space = gym.spaces.Discrete(2)

        def __init__(self):
            self.t = 0

        def reset(self, *, seed=None, options=None):
            return np.zeros(4, np.float32), {}

        def step(self, action):
            self.t += 1
            if self.t == 5:
                if how == "kill":
                    import os
                    import signal

                    os.kill(os.getpid(), signal.SIGKILL)
                raise ValueError("boom at step 5")
            return np.zeros(4, np.float32), 1.0, False, False, {}

    env = RemoteVectorEnv([Exploding] * 4, num_actors=2, groups=2, futex=True)
    try:
        env.reset()
        t0 = time.perf_counter()
        with pytest.raises(error, match="boom at step 5" if how == "raise" else "SIGKILL|signal 9|died"):
            for _ in range(10):
                env.step(np.zeros(4, np.int64))
        assert time.perf_counter() - t0 < 5  # noticed within the driver's poll, not hung
    finally:
        env.close()


def test_pinned_actors_each_get_one_cpu(local):
    import os

    cpus = sorted(os.sched_getaffinity(0))
    env = make_vector_env("CartPole-v1", 6, num_actors=3, pin=True)
    try:
        got = [os.sched_getaffinity(w._fp_actor.pid) for w in env.workers]
        assert got == [{cpus[a % len(cpus)]} for a in range(3)]
        env.reset(seed=0)
        env.step(np.zeros(6, np.int64))
    finally:
        env.close()
    free = make_vector_env("CartPole-v1", 2, num_actors=1)
    assert len(os.sched_getaffinity(free.workers[0]._fp_actor.pid)) == len(cpus)
    free.close()


def test_futex_needs_actors_in_other_processes():
    fastparl.disconnect()
    fastparl.connect("serial")
    try:
        with pytest.raises(ValueError, match="futex=True"):
            RemoteVectorEnv([lambda: gym.make("CartPole-v1")] * 2, num_actors=1, futex=True)
        env = RemoteVectorEnv([lambda: gym.make("CartPole-v1")] * 2, num_actors=1, groups=2)  # falls back to calls
        assert env.ctl is None
        env.reset(seed=0)
        env.step_async(np.zeros(1, np.int64), group=1)
        assert env.step_wait(group=1)[0].shape == (1, 4)
        env.close()
    finally:
        fastparl.disconnect()


# ---------------------------------------------------------------- PARL's parl.env on gymnasium

from fastparl.env import ActionMappingWrapper, CompatWrapper, VectorEnv, is_gym_version_ge  # noqa: E402


def test_compat_wrapper_old_api_time_limit_and_seed():
    assert is_gym_version_ge("0.26.0") and is_gym_version_ge("0.22") and not is_gym_version_ge("99.0.0")
    env = CompatWrapper(gym.make("CartPole-v1", max_episode_steps=5))
    assert env._max_episode_steps == 5 and env.gravity == 9.8  # attributes forwarded down the chain
    env.seed(3)
    first = env.reset()
    assert isinstance(first, np.ndarray) and first.shape == (4,)
    np.testing.assert_array_equal(first, gym.make("CartPole-v1").reset(seed=3)[0])
    assert not np.array_equal(env.reset(), first)  # seed() seeds the next reset only, as old gym
    for _ in range(3):
        out = env.step(0)
    assert len(out) == 4 and out[2] is False
    env.reset()  # a reset clears the step count (PARL's would end the next episode after 2 steps)
    dones = [env.step(t % 2)[2] for t in range(5)]
    assert dones == [False] * 4 + [True] and env._elapsed_steps == 5
    term = CompatWrapper(gym.make("CartPole-v1"))
    term.reset()
    steps = 1
    while not term.step(1)[2]:  # always pushing right topples the pole: a termination, long before 500
        steps += 1
    assert steps < 50



class _TruncatesAt(gym.Env):
    """Truncates (not a time limit: e.g. the agent left the map) at step ``k``; never terminates."""

    observation_space = gym.spaces.Box(-1.0, 1.0, (1,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def __init__(self, k: int):
        self.k, self.t = k, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(1, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.zeros(1, np.float32), 1.0, False, self.t == self.k, {"t": self.t}


def test_compat_wrapper_reports_a_truncation_that_is_not_a_time_limit():
    """done = terminated or truncated, whatever truncated it (PARL ignores such a truncation; see the docstring)."""
    bare = CompatWrapper(_TruncatesAt(3))  # no TimeLimit at all
    bare.reset()
    assert [bare.step(0)[2] for _ in range(3)] == [False, False, True]
    # under a TimeLimit that is far away: the env's own truncation still ends the episode, and the
    # step count restarts with the next one
    limited = CompatWrapper(gym.wrappers.TimeLimit(_TruncatesAt(2), max_episode_steps=100))
    for _ in range(2):
        limited.reset()
        out = [limited.step(1) for _ in range(2)]
        assert [o[2] for o in out] == [False, True] and out[-1][3] == {"t": 2}
        assert isinstance(out[-1][2], bool)


def test_action_mapping_wrapper_maps_each_dimension():
    class Box2(gym.Env):
        action_space = gym.spaces.Box(np.array([-2.0, 0.0], np.float32), np.array([2.0, 10.0], np.float32))
        observation_space = gym.spaces.Box(-1, 1, (1,))

        def reset(self, *, seed=None, options=None):
            return np.zeros(1, np.float32), {}

        def step(self, action):
            self.last = action
            return np.zeros(1, np.float32), 0.0, False, False, {}

    env = ActionMappingWrapper(Box2())
    assert len(env.step(np.array([-1.0, 1.0], np.float32))) == 5  # a plain gymnasium env keeps its 5 values
    np.testing.assert_allclose(env.unwrapped.last, [-2.0, 10.0])
    env.step(np.array([0.5, 0.0], np.float32))
    np.testing.assert_allclose(env.unwrapped.last, [1.0, 5.0])
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        env.step(np.array([1.5, 0.0]))
    with pytest.raises(TypeError, match="Box"):
        ActionMappingWrapper(gym.make("CartPole-v1"))


def test_parl_vector_env_steps_a_list_and_resets_finished_envs():
    envs = [CompatWrapper(gym.make("CartPole-v1", max_episode_steps=3 + i)) for i in range(2)]
    venv = VectorEnv(envs)
    assert venv.envs_num == 2 and len(venv.reset()) == 2
    dones = []
    for _ in range(4):
        obs, rew, done, info = venv.step([0, 1])
        assert isinstance(obs, list) and len(obs) == len(rew) == len(info) == 2
        dones.append(done)
    assert [d[0] for d in dones] == [False, False, True, False]  # env 0 ends after 3 steps, then restarts
    assert [d[1] for d in dones] == [False, False, False, True]
    assert envs[0].count_ep_step == 1  # reset by VectorEnv, one step into its new episode
    plain = VectorEnv([gym.make("CartPole-v1")])
    plain.reset()
    with pytest.raises(TypeError, match="CompatWrapper"):
        plain.step([0])


def test_wrap_rms_normalises_and_marks_time_limits():
    from fastparl.env.mujoco_wrappers import get_ob_rms, wrap_rms

    env = wrap_rms(gym.make("Pendulum-v1", max_episode_steps=50), gamma=0.99)
    env.seed(0)
    env.reset()
    rng = np.random.default_rng(0)
    obs_seen, infos = [], []
    for _ in range(150):
        obs, rew, done, info = env.step(rng.uniform(-2, 2, 1).astype(np.float32))
        obs_seen.append(obs)
        if done:
            infos.append(info)
            env.reset()
    assert len(infos) == 3 and all(i["bad_transition"] and i["episode"]["l"] == 50 for i in infos)
    assert infos[0]["episode"]["r"] < -50  # raw (unnormalised) return of a random Pendulum episode
    rms = get_ob_rms(env)
    assert rms is not None and rms.count > 150
    late = np.array(obs_seen[50:])
    assert np.abs(late.mean(0)).max() < 0.5 and 0.5 < late.std(0).mean() < 1.5  # normalised observations
    test_env = wrap_rms(gym.make("Pendulum-v1"), None, test=True, ob_rms=rms)
    test_env.reset()
    test_env.step(np.zeros(1, np.float32))
    assert get_ob_rms(test_env).count == rms.count  # frozen in eval mode


def test_maenv_on_mpe2_has_parls_list_api():
    pytest.importorskip("mpe2")
    from fastparl.env.multiagent_env import MAenv

    env = MAenv("simple_spread")
    obs = env.reset(seed=0)
    assert env.n == 3 and len(obs) == 3 and env.obs_shape_n == [18] * 3 and env.act_shape_n == [5] * 3
    for t in range(25):
        obs, rew, done, info = env.step([np.eye(5)[t % 5]] * 3)
    assert done == [True] * 3 and len(rew) == 3 and isinstance(rew[0], float)
    cont = MAenv("simple_spread", continuous_actions=True)
    cont.reset(seed=0)
    cont.step([np.ones(5, np.float32)] * 3)
    with pytest.raises(ValueError, match="range"):
        cont.step([np.full(5, 2.0)] * 3)
    with pytest.raises(ValueError, match="simple_spread"):
        MAenv("no_such_scenario")


def test_wrap_deepmind_on_ale():
    pytest.importorskip("ale_py")
    pytest.importorskip("cv2")
    from fastparl.env.atari_wrappers import EpisodicLifeEnv, MonitorEnv, get_wrapper_by_cls, wrap_deepmind

    env = wrap_deepmind(gym.make("BreakoutNoFrameskip-v4"), dim=84, obs_format="NCHW")  # registered by the import
    env.seed(0)
    obs = env.reset()
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    monitor = get_wrapper_by_cls(env, MonitorEnv)
    life = get_wrapper_by_cls(env, EpisodicLifeEnv)
    rewards, lives_lost, rng = [], 0, np.random.default_rng(0)
    for _ in range(400):
        obs, rew, done, _ = env.step(rng.integers(4))
        rewards.append(rew)
        if done:
            lives_lost += 1
            env.reset()
    assert set(rewards) <= {-1.0, 0.0, 1.0} and lives_lost >= 1 and life.lives < 5
    assert monitor.get_total_steps() >= 400 * 4  # the monitor sits below the 4-frame skip: it counts frames


def test_importing_fastparl_env_stays_light():
    import subprocess
    import sys

    code = ("import sys, fastparl.env; heavy = [m for m in ('ale_py', 'cv2', 'mpe2', 'paddle', 'mujoco') "
            "if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr
