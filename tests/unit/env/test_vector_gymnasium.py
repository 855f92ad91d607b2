"""fastparl's vector envs are gymnasium vector envs: the same steps, infos and autoreset as
``gymnasium.vector.SyncVectorEnv``, gymnasium's vector wrappers on top, ``make_vec``.

gymnasium 1.x has no checker for vector envs (``gymnasium.utils.env_checker.check_env`` takes a
single ``gymnasium.Env``); its comparison helpers ``data_equivalence`` / ``data_shares_objects``
judge our outputs against ``SyncVectorEnv``'s here, exactly (types, dtypes, keys, masks).
"""

import glob
import os
import tempfile

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import data_equivalence
from gymnasium.utils.performance import benchmark_vector_step
from gymnasium.utils.passive_env_checker import data_shares_objects
from gymnasium.vector import AutoresetMode

from fastparl.env import LocalVectorEnv, RemoteVectorEnv, make_vector_env, register_vector_env

MODES = [AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP, AutoresetMode.DISABLED]


def _fns(case):
    """Four env functions for a case; an env class defined in here travels to actors by value (cloudpickle)."""

    class WithInfos(gym.Wrapper):
        """Infos on some steps only (so masks matter), of several types, and on reset; ``big``: a large array
        now and then (more than a block's shared info buffer: the file path of the remote env)."""

        def __init__(self, env, big=False, scalars=False):
            super().__init__(env)
            self.t, self.big, self.scalars = 0, big, scalars

        def reset(self, *, seed=None, options=None):
            obs, info = self.env.reset(seed=seed, options=options)
            self.t = 0
            return obs, {**info, "reset_seed": -1 if seed is None else seed, "opts": dict(options or {})}

        def step(self, action):
            obs, r, term, trunc, info = self.env.step(action)
            self.t += 1
            if self.t % 3:
                info = {**info, "t": self.t, "x": float(obs[0])}
                if not self.scalars:  # (scalars only: batched by fastparl's fast path, fastparl.env.vector._scalar_infos)
                    info["vec"] = np.full(2, self.t, np.int32)
            if self.big and self.t % 7 == 0:
                info = {**info, "blob": np.arange(300_000, dtype=np.float64) + self.t}
            return obs, r, term, trunc, info

    def normalized():
        """Stateful per-env wrappers, as CleanRL's ppo_continuous_action.py stacks them: an extra reset
        (say, at construction) feeds NormalizeObservation an observation SyncVectorEnv never sees."""
        env = gym.wrappers.ClipAction(gym.make("Pendulum-v1", max_episode_steps=15))
        return gym.wrappers.NormalizeReward(gym.wrappers.NormalizeObservation(env), gamma=0.99)

    env_id, kwargs = {"cartpole": ("CartPole-v1", {}), "pendulum": ("Pendulum-v1", {"max_episode_steps": 15}),
                      "infos": ("CartPole-v1", {}), "big": ("CartPole-v1", {}), "normalized": ("", {}),
                      "scalar infos": ("CartPole-v1", {})}[case]
    if case == "normalized":
        return [normalized] * 4
    if case in ("infos", "big", "scalar infos"):
        return [lambda: WithInfos(gym.make(env_id, **kwargs), big=case == "big", scalars=case == "scalar infos")] * 4
    return [lambda: gym.make(env_id, **kwargs)] * 4


def _ours(fns, where, **kwargs):
    if where == "remote":
        return RemoteVectorEnv(fns, num_actors=2, **kwargs)
    return LocalVectorEnv(fns, **kwargs)


def _same(a, b, what):
    assert data_equivalence(a, b, exact=True), f"{what}:\nours {a!r}\ngymnasium {b!r}"


def _run_against_sync(ours, ref, steps, seed=7):
    """Step both with the same actions; every return value must be the same, infos included."""
    _same(ours.reset(seed=seed), ref.reset(seed=seed), "reset")
    ref.action_space.seed(seed)
    mode, ended = ref.metadata["autoreset_mode"], 0
    for t in range(steps):
        actions = ref.action_space.sample()
        got, want = ours.step(actions), ref.step(actions)
        for infos in (got[4], want[4]):  # RecordEpisodeStatistics: episode wall times differ
            infos.get("episode", {}).pop("t", None)
        _same(got, want, f"step {t}")
        done = want[2] | want[3]
        ended += int(done.sum())
        if mode is AutoresetMode.DISABLED and done.any():
            _same(ours.reset(options={"reset_mask": done}), ref.reset(options={"reset_mask": done}), f"reset_mask {t}")
    return ended


@pytest.mark.parametrize("where", ["local", "remote"])
@pytest.mark.parametrize("mode", MODES, ids=[m.value for m in MODES])
@pytest.mark.parametrize("case", ["cartpole", "pendulum", "infos", "scalar infos", "normalized"])
def test_steps_and_infos_match_sync_vector_env(request, case, mode, where):
    """Observations, rewards, flags and infos (final_obs / final_info and their masks in SAME_STEP)
    are those of SyncVectorEnv in the same autoreset mode, on the same seeds and actions."""
    if where == "remote":
        request.getfixturevalue("local")
    fns = _fns(case)
    ours = _ours(fns, where, autoreset_mode=mode, info_format="gymnasium")
    ref = gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
    try:
        assert ours.metadata["autoreset_mode"] is mode
        assert _run_against_sync(ours, ref, 80) >= 4  # episodes ended (CartPole falls, Pendulum hits its limit)
    finally:
        ours.close()
        ref.close()


@pytest.mark.parametrize("where", ["local", "remote"])
def test_a_step_before_reset_resets_first(request, where):
    """SyncVectorEnv refuses a step before reset; ours resets the envs then (not at construction)."""
    if where == "remote":
        request.getfixturevalue("local")
    env = _ours(_fns("normalized"), where)
    try:
        obs, rewards, *_ = env.step(env.action_space.sample())
        assert obs.shape == (4, 3) and np.isfinite(obs).all() and np.isfinite(rewards).all()
        assert env.get_attr("obs_rms")[0].count > 1  # the reset's observation and the step's
    finally:
        env.close()


def test_remote_groups_and_large_infos_match_sync_vector_env(local):
    """Group steps batch the infos of their own envs; infos too large for the shared buffer come through
    a file, which is then gone."""
    before = set(glob.glob(os.path.join(tempfile.gettempdir(), "fastparl-env-infos-*")))
    fns = _fns("big")
    ours = RemoteVectorEnv(fns, num_actors=2, groups=2, autoreset_mode="SameStep", info_format="gymnasium")
    ref = gym.vector.SyncVectorEnv(fns, autoreset_mode=AutoresetMode.SAME_STEP)
    refs = [gym.vector.SyncVectorEnv(fns[s], autoreset_mode=AutoresetMode.SAME_STEP) for s in ours.group_slices]
    try:
        assert _run_against_sync(ours, ref, 30) > 0
        for r, s in zip(refs, ours.group_slices):
            r.reset(seed=[100 + i for i in range(s.start, s.stop)])
        ours.reset(seed=100)
        rng = np.random.default_rng(0)
        for t in range(30):
            for g, (r, s) in enumerate(zip(refs, ours.group_slices)):
                actions = rng.integers(0, 2, s.stop - s.start)
                ours.step_async(actions, group=g)
                _same(ours.step_wait(group=g), r.step(actions), f"group {g} step {t}")
    finally:
        ours.close()
        ref.close()
        for r in refs:
            r.close()
    assert set(glob.glob(os.path.join(tempfile.gettempdir(), "fastparl-env-infos-*"))) == before


def test_steps_dropped_by_reset_or_close_leave_no_infos_file(local):
    """Infos too large for the shared buffer come through a file, which the step's reader deletes: also when
    reset() or close() finish a step in flight and drop its results."""
    pattern = os.path.join(tempfile.gettempdir(), "fastparl-env-infos-*")
    before = set(glob.glob(pattern))
    env = RemoteVectorEnv(_fns("big"), num_actors=2, groups=2, info_format="gymnasium")
    try:
        env.reset(seed=0)
        for _ in range(7):  # the 7th step's infos hold the large array
            for g in range(2):
                env.step_async(np.zeros(2, np.int64), group=g)
                if _ < 6:
                    env.step_wait(group=g)
        env.reset(seed=1)  # drops both groups' 7th steps
        for _ in range(7):
            env.step_async(np.zeros(4, np.int64))
            if _ < 6:
                env.step_wait()
    finally:
        env.close()  # drops the last step
    assert set(glob.glob(pattern)) == before


@pytest.mark.parametrize("where", ["local", "remote"])
def test_is_a_gymnasium_vector_env(request, where):
    if where == "remote":
        request.getfixturevalue("local")
    env = make_vector_env("Pendulum-v1", 3, num_actors=2 if where == "remote" else 0)
    ref = gym.make_vec("Pendulum-v1", 3, vectorization_mode="sync")
    try:
        assert isinstance(env, gym.vector.VectorEnv) and env.num_envs == 3
        assert env.single_observation_space == ref.single_observation_space
        assert env.single_action_space == ref.single_action_space
        assert env.observation_space == ref.observation_space and env.action_space == ref.action_space
        assert env.metadata["autoreset_mode"] is AutoresetMode.SAME_STEP and env.metadata["render_fps"] == 30
        assert repr(env) == f"{type(env).__name__}(num_envs=3)"
        # fresh data on every call (copy=True), as gymnasium's env checker demands of single envs
        calls = [env.reset(seed=0), env.step(env.action_space.sample()), env.step(env.action_space.sample())]
        for i in range(3):
            for j in range(i):
                assert not data_shares_objects(calls[i], calls[j]), (i, j)
        assert benchmark_vector_step(env, target_duration=0, seed=0) > 0
        env.close()
        assert env.closed
        env.close()  # twice is fine
    finally:
        env.close()
        ref.close()


@pytest.mark.parametrize("where", ["local", "remote"])
def test_wrappers_on_top(request, where):
    """RecordEpisodeStatistics (both modes), NormalizeObservation and DtypeObservation (next-step
    only, in gymnasium 1.x) give what they give on SyncVectorEnv; fastparl's own episode stats agree."""
    if where == "remote":
        request.getfixturevalue("local")
    W = gym.wrappers.vector
    fns = [lambda: gym.make("CartPole-v1", max_episode_steps=30)] * 4
    built = []

    def pair(mode, *wrappers, info_format="gymnasium"):
        ours, ref = _ours(fns, where, autoreset_mode=mode, info_format=info_format), \
            gym.vector.SyncVectorEnv(fns, autoreset_mode=mode)
        built.extend([ours, ref])
        for w in wrappers:
            ours, ref = w(ours), w(ref)
        return ours, ref

    try:
        for mode in (AutoresetMode.SAME_STEP, AutoresetMode.NEXT_STEP):
            ours, ref = pair(mode, W.RecordEpisodeStatistics)
            _run_against_sync(ours, ref, 70)
            assert len(ours.return_queue) >= 4 and list(ours.return_queue) == list(ref.return_queue)
            assert list(ours.length_queue) == list(ref.length_queue)
        ours, ref = pair(AutoresetMode.NEXT_STEP, W.NormalizeObservation, lambda e: W.DtypeObservation(e, np.float64))
        _run_against_sync(ours, ref, 70)
        assert np.array_equal(ours.env.obs_rms.mean, ref.env.obs_rms.mean)
        for wrap in (W.NormalizeObservation, lambda e: W.DtypeObservation(e, np.float64)):
            for env in pair(AutoresetMode.SAME_STEP):  # gymnasium 1.x refuses same-step envs here: ours too
                with pytest.raises(ValueError, match="NEXT_STEP"):
                    wrap(env)
        # fastparl's format (opt-in): episode stats as RecordEpisodeStatistics counts them
        ours, ref = pair(AutoresetMode.SAME_STEP, info_format="fastparl")
        ref = W.RecordEpisodeStatistics(ref)
        ours.reset(seed=1)
        ref.reset(seed=1)
        ref.action_space.seed(1)
        for _ in range(70):
            actions = ref.action_space.sample()
            o, r, te, tr, info = ours.step(actions)
            want = ref.step(actions)
            _same((o, r, te, tr), want[:4], "fastparl format")
            if (te | tr).any():
                m = info["_final_obs"]
                assert np.array_equal(m, want[4]["_final_obs"]) and np.array_equal(m, want[4]["_episode"])
                assert np.array_equal(info["final_obs"][m], np.stack(want[4]["final_obs"][m]))
                assert np.array_equal(info["episode"]["r"][m], want[4]["episode"]["r"][m])
                assert np.array_equal(info["episode"]["l"][m], want[4]["episode"]["l"][m])
            else:
                assert info == {}
    finally:
        for env in built:
            env.close()


@pytest.mark.parametrize("where", ["local", "remote"])
def test_call_get_attr_set_attr_render(request, where):
    if where == "remote":
        request.getfixturevalue("local")
    fns = [lambda: gym.make("CartPole-v1", render_mode="rgb_array")] * 3
    env = _ours(fns, where, groups=2) if where == "remote" else _ours(fns, where)
    try:
        env.reset(seed=0)
        assert env.render_mode == "rgb_array"
        assert env.get_attr("gravity") == (9.8, 9.8, 9.8)
        env.set_attr("gravity", [1.0, 2.0, 3.0])
        assert env.get_attr("gravity") == (1.0, 2.0, 3.0)
        env.set_attr("gravity", 4.0)
        assert env.call("get_wrapper_attr", "gravity") == (4.0, 4.0, 4.0)
        assert env.get_attr("spec")[0].id == "CartPole-v1"
        frames = env.render()
        assert len(frames) == 3 and all(f.shape == (400, 600, 3) for f in frames)
        env.step(np.zeros(3, np.int64))  # stepping still works after calls (remote: back into the futex loop)
        with pytest.raises(ValueError, match="2 values for 3 envs"):
            env.set_attr("gravity", [1.0, 2.0])
        with pytest.raises(AttributeError):
            env.get_attr("no_such_attribute")
        if where == "remote":
            env.step_async(np.zeros(2, np.int64), group=1)
            with pytest.raises(RuntimeError, match="in flight"):
                env.get_attr("gravity")
            env.step_wait(group=1)
    finally:
        env.close()


@pytest.mark.parametrize("where", ["local", "remote"])
def test_reset_seeds_and_options(request, where):
    """An int seeds env i with seed + i, a list seeds each; options reach every env; reset_mask resets some."""
    if where == "remote":
        request.getfixturevalue("local")
    fns = _fns("infos")
    env = _ours(fns, where, autoreset_mode="NextStep")
    ref = gym.vector.SyncVectorEnv(fns)
    try:
        _same(env.reset(seed=3), ref.reset(seed=[3, 4, 5, 6]), "int seed")
        _same(env.reset(seed=[9, None, 2, 8], options={"a": 1}), ref.reset(seed=[9, None, 2, 8], options={"a": 1}),
              "list seed")
        assert env.reset()[1]["reset_seed"].tolist() == [-1] * 4
        mask = np.array([False, True, False, True])
        obs, info = env.reset(seed=[0, 1, 2, 3], options={"reset_mask": mask})
        assert info["_reset_seed"].tolist() == mask.tolist() and info["reset_seed"].tolist() == [0, 1, 0, 3]
        with pytest.raises(ValueError, match="list of 4 seeds"):
            env.reset(seed=[1, 2])
        with pytest.raises(ValueError, match="list of 4 seeds"):
            env.reset(seed="1")
        with pytest.raises(ValueError, match=r"reset_mask.*shape \(4,\)"):
            env.reset(options={"reset_mask": np.ones(3, bool)})
        with pytest.raises(TypeError, match="options"):
            env.reset(options=[1])
    finally:
        env.close()
        ref.close()


def test_bad_arguments_are_reported():
    with pytest.raises(ValueError, match="autoreset_mode='Sometimes'.*NextStep"):
        make_vector_env("CartPole-v1", 2, autoreset_mode="Sometimes")
    with pytest.raises(ValueError, match="info_format='dense'"):
        make_vector_env("CartPole-v1", 2, info_format="dense")
    with pytest.raises(ValueError, match="same-step"):
        make_vector_env("CartPole-v1", 2, autoreset_mode=AutoresetMode.NEXT_STEP, info_format="fastparl")
    with pytest.raises(ValueError, match="same-step"):
        RemoteVectorEnv(_fns("cartpole"), autoreset_mode="NextStep", info_format="fastparl")  # before any actor
    with pytest.raises(ValueError, match="num_envs"):
        make_vector_env("CartPole-v1", 0)
    env = make_vector_env("CartPole-v1", 2)
    with pytest.raises(ValueError, match="expected"):
        env.step(np.zeros(3, np.int64))
    env.close()
    assert make_vector_env("CartPole-v1", 2, autoreset_mode="NextStep").info_format == "gymnasium"


@pytest.mark.parametrize("where", ["local", "remote"])
def test_make_vec_builds_fastparl_envs(request, where):
    """gymnasium.make_vec(id, vectorization_mode="vector_entry_point") for a registered id."""
    if where == "remote":
        request.getfixturevalue("local")
    new_id = register_vector_env("CartPole-v1")
    assert register_vector_env("CartPole-v1") == new_id == "fastparl/CartPole-v1"  # again: the same
    kwargs = {"num_actors": 2} if where == "remote" else {}
    env = gym.make_vec(new_id, 4, vectorization_mode="vector_entry_point", max_episode_steps=20, **kwargs)
    ref = gym.make_vec("CartPole-v1", 4, vectorization_mode="sync", max_episode_steps=20)
    try:
        assert isinstance(env, LocalVectorEnv if where == "local" else RemoteVectorEnv)
        assert env.metadata["autoreset_mode"] is AutoresetMode.NEXT_STEP and env.spec.id == new_id
        assert _run_against_sync(env, ref, 50) > 0
    finally:
        env.close()
        ref.close()
    with pytest.raises(ValueError, match="already registered"):
        register_vector_env("Pendulum-v1", new_id)


def test_scalar_infos_batch_as_gymnasiums_add_info():
    """The fast path for steps whose infos are scalars: the arrays, dtypes, masks and key order of gymnasium's
    ``_add_info``, env by env; anything else (arrays, dicts, a key's types mixed) goes the general way (None)."""
    from fastparl.env.vector import _scalar_infos

    ref = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1")] * 5)
    rng = np.random.default_rng(0)
    kinds = [lambda: int(rng.integers(9)), lambda: float(rng.normal()), lambda: bool(rng.random() < 0.5),
             lambda: np.float32(rng.normal()), lambda: np.int16(rng.integers(9)), lambda: np.float64(rng.normal())]
    for trial in range(200):
        keys = {f"k{j}": kinds[int(rng.integers(len(kinds)))] for j in range(int(rng.integers(1, 4)))}
        flat = [(i, {k: draw() for k, draw in keys.items() if rng.random() < 0.7}, False)
                for i in sorted(rng.choice(5, size=int(rng.integers(1, 6)), replace=False).tolist())]
        want: dict = {}
        for i, info, _ in flat:
            want = ref._add_info(want, info, i)
        got = _scalar_infos(flat, 5)
        assert got is not None and list(got) == list(want), (trial, flat)
        assert data_equivalence(got, want, exact=True), (trial, flat, got, want)
    for odd in ({"a": np.zeros(2)}, {"a": {"b": 1}}, {"a": "text"}, {"final_obs": 1.0}):
        assert _scalar_infos([(0, odd, False)], 5) is None, odd
    assert _scalar_infos([(0, {"a": 1}, False), (1, {"a": 1.5}, False)], 5) is None  # int then float: general path
    ref.close()
