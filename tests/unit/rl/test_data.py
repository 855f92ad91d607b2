"""fastparl.data: PARL-compatible replay memories and rollout storage."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from fastparl.data import PrioritizedReplayMemory, ReplayMemory, RolloutStorage
from fastparl.kernels import _reference as ref


def _fill(rpm, n, obs_dim=3, act_dim=2, start=0):
    for i in range(start, start + n):
        act = i if act_dim == 0 else np.full(act_dim, i, np.float32)
        rpm.append(np.full(obs_dim, i, np.float32), act, float(i), np.full(obs_dim, i + 0.5, np.float32), i % 3 == 0)


# ---------------------------------------------------------------- ReplayMemory

def test_parl_api_names_and_signatures():
    params = lambda f: list(inspect.signature(f).parameters)[:5]  # noqa: E731
    assert params(ReplayMemory.__init__) == ["self", "max_size", "obs_dim", "act_dim", "rng"]
    assert params(ReplayMemory.append) == ["self", "obs", "act", "reward", "next_obs"]
    assert "terminal" in inspect.signature(ReplayMemory.append).parameters
    for name, args in [("sample_batch", ["self", "batch_size"]), ("make_index", ["self", "batch_size"]),
                       ("sample_batch_by_index", ["self", "batch_idx"]), ("size", ["self"]),
                       ("save", ["self", "pathname"]), ("load", ["self", "pathname"])]:
        assert list(inspect.signature(getattr(ReplayMemory, name)).parameters) == args, name
    rpm = ReplayMemory(10, 3, 2)
    assert rpm.max_size == 10 and rpm.obs_dim == 3 and rpm.act_dim == 2 and len(rpm) == rpm.size() == 0


def test_wrap_around_overwrites_oldest():
    rpm = ReplayMemory(5, 3, 2, rng=0)
    _fill(rpm, 8)
    assert rpm.size() == len(rpm) == 5 and rpm._curr_pos == 3
    np.testing.assert_array_equal(rpm.reward, [5, 6, 7, 3, 4])
    np.testing.assert_array_equal(rpm.obs[:, 0], [5, 6, 7, 3, 4])
    np.testing.assert_array_equal(rpm.terminal, [False, True, False, True, False])
    idx = rpm.make_index(200)
    assert idx.min() >= 0 and idx.max() < 5


def test_sample_shapes_and_dtypes():
    rpm = ReplayMemory(20, (2, 4), 0, rng=1)  # tuple obs, scalar discrete action like PARL's act_dim=0
    for i in range(7):
        rpm.append(np.full((2, 4), i), i, 1.0, np.full((2, 4), i + 1), False)
    obs, act, rew, nxt, term = rpm.sample_batch(16)
    assert obs.shape == nxt.shape == (16, 2, 4) and obs.dtype == np.float32
    assert act.shape == (16,) and act.dtype == np.int32
    assert rew.shape == term.shape == (16,) and rew.dtype == np.float32 and term.dtype == np.bool_
    np.testing.assert_array_equal(act, obs[:, 0, 0])  # rows stay aligned
    np.testing.assert_array_equal(nxt[:, 0, 0], obs[:, 0, 0] + 1)
    rpm2 = ReplayMemory(20, 3, 2)
    _fill(rpm2, 4)
    o, a, r, n, t = rpm2.sample_batch_by_index([3, 0])
    assert a.shape == (2, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(r, [3.0, 0.0])


def test_seeded_sampling_is_reproducible_and_empty_errors():
    a, b = ReplayMemory(50, 3, 2, rng=7), ReplayMemory(50, 3, 2, rng=7)
    _fill(a, 30)
    _fill(b, 30)
    np.testing.assert_array_equal(a.sample_batch(10)[2], b.sample_batch(10)[2])
    with pytest.raises(ValueError, match="empty ReplayMemory"):
        ReplayMemory(5, 3, 2).sample_batch(4)
    with pytest.raises(ValueError, match="batch_size"):
        a.sample_batch(0)


def test_save_load_roundtrip(tmp_path):
    rpm = ReplayMemory(6, 3, 2)
    _fill(rpm, 9)
    path = str(tmp_path / "rpm.npz")
    rpm.save(path)
    other = ReplayMemory(6, 3, 2)
    other.load(path)
    assert other.size() == 6 and other._curr_pos == rpm._curr_pos
    for k in ("obs", "action", "reward", "next_obs", "terminal"):
        np.testing.assert_array_equal(getattr(other, k), getattr(rpm, k))
    small = ReplayMemory(4, 3, 2)  # PARL keeps the first max_size rows of a bigger file
    small.load(path)
    assert small.size() == 4
    np.testing.assert_array_equal(small.reward, rpm.reward[:4])
    with pytest.raises(ValueError, match="obs_dim"):
        ReplayMemory(6, 5, 2).load(path)


def test_load_from_d4rl():
    n = 10
    ds = {"observations": np.ones((n, 3)), "next_observations": np.zeros((n, 3)), "actions": np.ones((n, 2)),
          "rewards": np.arange(n, dtype=np.float32), "terminals": np.zeros(n, bool)}
    rpm = ReplayMemory(20, 3, 2)
    rpm.load_from_d4rl(ds)
    assert rpm.size() == n
    np.testing.assert_array_equal(rpm.reward[:n], ds["rewards"])
    with pytest.raises(ValueError, match="max_size"):
        ReplayMemory(5, 3, 2).load_from_d4rl(ds)


def test_default_sampling_uses_numpys_global_generator_like_parl():
    """No rng=: np.random.seed makes sampling repeatable, with PARL's exact draw (np.random.randint)."""
    rpm = ReplayMemory(100, 3, 2)
    _fill(rpm, 60)
    np.random.seed(123)
    first = rpm.sample_batch(32)[2]
    np.random.seed(123)
    np.testing.assert_array_equal(rpm.sample_batch(32)[2], first)
    expected = np.random.RandomState(123).randint(60, size=32)  # what PARL's ReplayMemory draws after seed(123)
    np.testing.assert_array_equal(first, expected.astype(np.float32))  # reward i is stored at index i
    np.random.seed(123)
    np.testing.assert_array_equal(rpm.make_index(32), expected)
    per = PrioritizedReplayMemory(100, 3, 2)
    _fill(per, 60)
    np.random.seed(5)
    a = per.sample_batch(16)[-1]
    np.random.seed(5)
    np.testing.assert_array_equal(per.sample_batch(16)[-1], a)
    assert not np.array_equal(per.sample_batch(16)[-1], a)  # and the stream moves on


# ---------------------------------------------------------------- PrioritizedReplayMemory

def test_prioritized_new_samples_get_max_priority():
    per = PrioritizedReplayMemory(8, 3, 2, rng=0)
    _fill(per, 2)
    np.testing.assert_array_equal(per.tree.get([0, 1]), [1.0, 1.0])
    per.update_priorities([0], [10.0])
    _fill(per, 1, start=2)
    assert per.tree.get([2])[0] == pytest.approx((10.0 + per.eps) ** per.alpha)


def test_prioritized_sampling_prefers_high_priority_and_weights():
    per = PrioritizedReplayMemory(100, 3, 2, alpha=0.6, beta=0.4, rng=3)
    _fill(per, 100)
    td = np.full(100, 0.1)
    td[17] = 50.0
    per.update_priorities(np.arange(100), td)
    obs, act, rew, nxt, term, w, idx = per.sample_batch(256)
    assert obs.shape == (256, 3) and w.shape == idx.shape == (256,) and w.dtype == np.float32
    np.testing.assert_array_equal(rew, idx.astype(np.float32))  # rows belong to the returned indices
    p = (np.abs(td) + per.eps) ** per.alpha
    share = p[17] / p.sum()
    assert (idx == 17).mean() == pytest.approx(share, abs=0.02) and share > 0.05
    # w_i = (N P(i))^-beta / max_j (N P(j))^-beta
    prob = p / p.sum()
    expected = (100 * prob[idx]) ** -0.4 / ((100 * prob) ** -0.4).max()
    np.testing.assert_allclose(w, expected, rtol=1e-5)
    assert w.max() <= 1.0 and w[idx == 17].max() < w[idx != 17].min()
    _, _, _, _, _, w0, _ = per.sample_batch(32, beta=0.0)
    np.testing.assert_array_equal(w0, 1.0)


def test_prioritized_only_samples_stored_and_validates():
    per = PrioritizedReplayMemory(50, 3, 2, rng=5)
    _fill(per, 7)
    *_, idx = per.sample_batch(64)
    assert idx.max() < 7
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 7\)"):
        per.update_priorities([7], [1.0])
    with pytest.raises(ValueError, match="empty"):
        PrioritizedReplayMemory(5, 3, 2).sample_batch(2)


def test_prioritized_save_load_keeps_priorities(tmp_path):
    per = PrioritizedReplayMemory(10, 3, 2, rng=0)
    _fill(per, 6)
    per.update_priorities([1, 4], [3.0, 0.5])
    path = str(tmp_path / "per.npz")
    per.save(path)
    other = PrioritizedReplayMemory(10, 3, 2)
    other.load(path)
    np.testing.assert_allclose(other.tree.priorities, per.tree.priorities)
    assert other.tree.total == pytest.approx(per.tree.total)
    uniform = ReplayMemory(10, 3, 2)
    _fill(uniform, 4)
    uniform.save(path)
    other.load(path)  # a uniform / PARL file: loaded transitions get priority 1
    np.testing.assert_array_equal(other.tree.priorities[:5], [1, 1, 1, 1, 0])


# ---------------------------------------------------------------- RolloutStorage

def _rollout_storage(T=8, N=3, seed=0, **kw):
    rng = np.random.default_rng(seed)
    st = RolloutStorage(T, N, (4,), (), act_dtype=np.int64, **kw)
    for t in range(T):
        st.append(rng.normal(size=(N, 4)), rng.integers(0, 5, N), np.arange(N) + 10.0 * t, rng.normal(size=N),
                  rng.random(N) < 0.2, rng.normal(size=N), truncated=rng.random(N) < 0.2,
                  bootstrap_values=rng.normal(size=N))
    return st


def test_rollout_append_shapes_and_full():
    st = _rollout_storage()
    assert st.obs.shape == (8, 3, 4) and st.actions.shape == (8, 3) and st.actions.dtype == np.int64
    assert st.rewards.dtype == st.values.dtype == np.float32 and st.terminated.dtype == np.bool_
    assert st.step == st.num_filled == 8
    with pytest.raises(IndexError, match="reset"):
        st.append(np.zeros((3, 4)), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3), np.zeros(3))
    st.reset()
    assert st.step == 0 and not st.truncated.any() and not st.terminated.any()


def test_rollout_compute_returns_matches_reference_gae():
    st = _rollout_storage(seed=4)
    assert st.truncated.any() and st.terminated.any()
    lv = np.array([0.5, -1.0, 2.0], np.float32)
    adv, ret = st.compute_returns(lv, 0.99, 0.95)
    radv, rret = ref.ref_gae(st.rewards, st.values, st.terminated, lv, 0.99, 0.95,
                             truncated=st.truncated, bootstrap_values=st.bootstrap_values)
    np.testing.assert_allclose(adv, radv, rtol=2e-5, atol=2e-5)
    np.testing.assert_allclose(st.returns, rret, rtol=2e-5, atol=2e-5)
    assert np.shares_memory(adv, st.advantages)


def test_rollout_minibatches_cover_every_transition_once():
    st = _rollout_storage(seed=1)
    st.compute_returns(np.zeros(3), 0.99, 0.95)
    batches = list(st.minibatches(5, rng=0))
    assert [len(b["logprobs"]) for b in batches] == [5] * 4 + [4]
    assert set(batches[0]) == {"obs", "actions", "logprobs", "advantages", "returns", "values"}
    assert batches[0]["obs"].shape == (5, 4) and batches[0]["actions"].shape == (5,)
    seen = np.sort(np.concatenate([b["logprobs"] for b in batches]))
    np.testing.assert_array_equal(seen, np.sort(st.logprobs.reshape(-1)))
    b0 = batches[0]  # fields of one row stay together: logprob t*10 + n identifies (t, n)
    t, n = (b0["logprobs"] // 10).astype(int), (b0["logprobs"] % 10).astype(int)
    np.testing.assert_array_equal(b0["returns"], st.returns[t, n])
    np.testing.assert_array_equal(b0["obs"], st.obs[t, n])
    assert [len(b["values"]) for b in st.minibatches(5, rng=0, drop_last=True)] == [5] * 4
    with pytest.raises(ValueError, match="batch_size"):
        next(st.minibatches(0))


def test_rollout_preallocated_arrays_and_direct_assignment():
    specs = RolloutStorage.array_specs(4, 2, 3, ())
    shared = {k: np.zeros(s, d) for k, (s, d) in specs.items() if k in ("obs", "rewards")}
    st = RolloutStorage(4, 2, 3, (), arrays=shared)
    assert st.obs is shared["obs"] and st.rewards is shared["rewards"]
    st.rewards[:] = 1.0  # direct assignment, no append: all rows count
    _, ret = st.compute_returns(np.zeros(2), 0.5, 1.0)
    np.testing.assert_allclose(ret[:, 0], [1.875, 1.75, 1.5, 1.0])
    with pytest.raises(ValueError, match=r"arrays\['obs'\] must be an ndarray of shape \(4, 2, 3\)"):
        RolloutStorage(4, 2, 3, (), arrays={"obs": np.zeros((4, 2, 5), np.float32)})
    with pytest.raises(ValueError, match="unknown array names"):
        RolloutStorage(4, 2, 3, (), arrays={"rewardz": np.zeros((4, 2), np.float32)})


def test_rollout_save_load_roundtrip(tmp_path):
    st = _rollout_storage(seed=2)
    st.compute_returns(np.ones(3), 0.9, 0.9)
    path = str(tmp_path / "roll.npz")
    st.save(path)
    other = RolloutStorage(8, 3, (4,), (), act_dtype=np.int64)
    other.load(path)
    assert other.step == 8
    for k in RolloutStorage.FIELDS:
        np.testing.assert_array_equal(getattr(other, k), getattr(st, k))
