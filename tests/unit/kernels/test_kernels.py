"""fastparl.kernels against the plain-Python loops in fastparl.kernels._reference, plus hand-computed cases."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from fastparl.kernels import SumTree, discounted_returns, gae, nstep_targets, vtrace
from fastparl.kernels import _reference as ref

SHAPES = [(1,), (7,), (1, 1), (1, 5), (64, 1), (33, 3), (40, 6), (3, 300)]


def _rollout(shape, seed, p_end=0.15, dtype=np.float32):
    rng = np.random.default_rng(seed)
    n = shape[1] if len(shape) == 2 else 1
    r = rng.normal(size=shape).astype(dtype)
    v = rng.normal(size=shape).astype(dtype)
    d = rng.random(shape) < p_end
    u = rng.random(shape) < p_end
    b = rng.normal(size=shape).astype(dtype)
    lv = rng.normal(size=(n,)).astype(dtype)
    blogp = rng.normal(-1.0, 0.5, size=shape).astype(dtype)
    tlogp = (blogp + rng.normal(0.0, 0.7, size=shape)).astype(dtype)
    return dict(r=r, v=v, d=d, u=u, b=b, lv=lv, blogp=blogp, tlogp=tlogp)


def _close(a, b, dtype=np.float32):
    tol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(a, b, rtol=tol, atol=tol * 10)


# ---------------------------------------------------------------- equivalence with the reference loops

@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_trunc", [False, True])
def test_returns_matches_reference(shape, with_trunc):
    x = _rollout(shape, seed=len(shape) * 100 + shape[0])
    kw = dict(truncated=x["u"], bootstrap_values=x["b"]) if with_trunc else {}
    out = discounted_returns(x["r"], x["d"], 0.97, last_values=x["lv"], **kw)
    assert out.shape == x["r"].shape and out.dtype == np.float32
    _close(out, ref.ref_discounted_returns(x["r"], x["d"], 0.97, last_values=x["lv"], **kw))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("with_trunc", [False, True])
def test_gae_matches_reference(shape, with_trunc):
    x = _rollout(shape, seed=7 + shape[0])
    kw = dict(truncated=x["u"], bootstrap_values=x["b"]) if with_trunc else {}
    adv, ret = gae(x["r"], x["v"], x["d"], x["lv"], 0.99, 0.9, **kw)
    radv, rret = ref.ref_gae(x["r"], x["v"], x["d"], x["lv"], 0.99, 0.9, **kw)
    assert adv.shape == ret.shape == x["r"].shape and adv.dtype == ret.dtype == np.float32
    _close(adv, radv)
    _close(ret, rret)


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("n", [1, 3, 100])
def test_nstep_matches_reference(shape, n):
    x = _rollout(shape, seed=11 + n)
    for kw in ({}, dict(truncated=x["u"])):
        out = nstep_targets(x["r"], x["d"], x["v"], 0.95, n, **kw)
        assert out.shape == x["r"].shape and out.dtype == np.float32
        _close(out, ref.ref_nstep_targets(x["r"], x["d"], x["v"], 0.95, n, **kw))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("clips", [(1.0, 1.0, 1.0), (2.0, 0.5, 0.9), (None, None, None)])
def test_vtrace_matches_reference(shape, clips):
    x = _rollout(shape, seed=3 + shape[0])
    args = (x["blogp"], x["tlogp"], x["r"], x["v"], x["d"], x["lv"], 0.99, *clips)
    for kw in ({}, dict(truncated=x["u"], bootstrap_values=x["b"])):
        vs, pg = vtrace(*args, **kw)
        rvs, rpg = ref.ref_vtrace(*args, **kw)
        assert vs.shape == pg.shape == x["r"].shape and vs.dtype == np.float32
        _close(vs, rvs)
        _close(pg, rpg)


def _parl_vtrace_numpy(blogp, tlogp, discounts, rewards, values, bootstrap_value, clip_rho=1.0, clip_pg_rho=1.0):
    """Line-by-line NumPy transcription of PARL's ``from_importance_weights`` (paddle -> numpy)."""
    rhos = np.exp(tlogp - blogp)
    clipped_rhos = np.minimum(rhos, clip_rho)
    cs = np.minimum(rhos, 1.0)
    values_t_plus_1 = np.concatenate([values[1:], bootstrap_value[None]], axis=0)
    deltas = clipped_rhos * (rewards + discounts * values_t_plus_1 - values)
    acc = np.zeros_like(bootstrap_value)
    result = []
    for t in range(discounts.shape[0] - 1, -1, -1):
        acc = deltas[t] + discounts[t] * cs[t] * acc
        result.append(acc)
    vs = np.stack(result[::-1]) + values
    vs_t_plus_1 = np.concatenate([vs[1:], bootstrap_value[None]], axis=0)
    return vs, np.minimum(rhos, clip_pg_rho) * (rewards + discounts * vs_t_plus_1 - values)


def test_vtrace_matches_parl_formulation():
    x = _rollout((30, 4), seed=5, dtype=np.float64)
    disc = 0.9 * (1.0 - x["d"])
    evs, epg = _parl_vtrace_numpy(x["blogp"], x["tlogp"], disc, x["r"], x["v"], x["lv"], 1.5, 0.8)
    vs, pg = vtrace(x["blogp"], x["tlogp"], x["r"], x["v"], x["d"], x["lv"], 0.9, clip_rho=1.5, clip_pg_rho=0.8)
    assert vs.dtype == np.float64
    _close(vs, evs, np.float64)
    _close(pg, epg, np.float64)


def test_float64_in_float64_out_and_mixed_inputs():
    x = _rollout((20, 3), seed=9, dtype=np.float64)
    adv, ret = gae(x["r"], x["v"], x["d"], x["lv"], 0.99, 0.95)
    assert adv.dtype == np.float64
    _close(adv, ref.ref_gae(x["r"], x["v"], x["d"], x["lv"], 0.99, 0.95)[0], np.float64)
    # lists, int flags and float32 rewards mixed with float64 values work (float64 wins)
    adv2, _ = gae(x["r"].astype(np.float32), x["v"], x["d"].astype(np.int8), x["lv"].tolist(), 0.99, 0.95)
    assert adv2.dtype == np.float64
    _close(adv2, adv)


def test_non_contiguous_input():
    x = _rollout((30, 8), seed=2)
    sl = np.s_[::2, 1::3]
    out = discounted_returns(x["r"][sl], x["d"][sl], 0.9, last_values=x["lv"][1::3])
    _close(out, ref.ref_discounted_returns(x["r"][sl], x["d"][sl], 0.9, last_values=x["lv"][1::3]))


# ---------------------------------------------------------------- hand-computed cases and identities

def test_returns_hand_computed():
    r = np.array([1.0, 1.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(discounted_returns(r, [0, 0, 1], 0.5), [1.75, 1.5, 1.0])
    np.testing.assert_allclose(discounted_returns(r, [0, 0, 0], 0.5, last_values=8.0), [2.75, 3.5, 5.0])
    # truncated at step 1 with V(true next obs) = 10: G1 = 1 + .5 * 10; the episode after it starts afresh
    out = discounted_returns(r, [0, 0, 0], 0.5, truncated=[0, 1, 0], bootstrap_values=[0, 10, 0], last_values=2.0)
    np.testing.assert_allclose(out, [4.0, 6.0, 2.0])
    # terminated wins over truncated
    out = discounted_returns(r, [0, 1, 0], 0.5, truncated=[0, 1, 0], bootstrap_values=[0, 10, 0])
    np.testing.assert_allclose(out, [1.5, 1.0, 1.0])


def test_gae_hand_computed():
    r = np.array([1.0, 2.0], dtype=np.float32)
    v = np.array([0.5, 1.0], dtype=np.float32)
    g, lam, last = 0.9, 0.8, 3.0
    d1 = 2.0 + g * last - 1.0
    d0 = 1.0 + g * 1.0 - 0.5
    adv, ret = gae(r, v, [False, False], last, g, lam)
    np.testing.assert_allclose(adv, [d0 + g * lam * d1, d1], rtol=1e-6)
    np.testing.assert_allclose(ret, adv + v, rtol=1e-6)
    adv, _ = gae(r, v, [True, False], last, g, lam)  # episode ends after step 0
    np.testing.assert_allclose(adv, [1.0 - 0.5, d1], rtol=1e-6)
    adv, _ = gae(r, v, [False, False], last, g, lam, truncated=[True, False], bootstrap_values=[7.0, 0.0])
    np.testing.assert_allclose(adv, [1.0 + g * 7.0 - 0.5, d1], rtol=1e-6)


def test_gae_lambda_limits():
    x = _rollout((50, 4), seed=21, dtype=np.float64)
    kw = dict(truncated=x["u"], bootstrap_values=x["b"])
    _, ret1 = gae(x["r"], x["v"], x["d"], x["lv"], 0.95, 1.0, **kw)
    _close(ret1, discounted_returns(x["r"], x["d"], 0.95, last_values=x["lv"], **kw), np.float64)
    adv0, _ = gae(x["r"], x["v"], x["d"], x["lv"], 0.95, 0.0, **kw)
    nxt = np.concatenate([x["v"][1:], x["lv"][None]])
    nxt = np.where(x["u"], x["b"], nxt)
    _close(adv0, x["r"] + 0.95 * (1 - x["d"]) * nxt - x["v"], np.float64)


def test_nstep_identities():
    x = _rollout((25, 3), seed=4, dtype=np.float64)
    one = nstep_targets(x["r"], x["d"], x["v"], 0.9, 1)
    _close(one, x["r"] + 0.9 * (1 - x["d"]) * x["v"], np.float64)
    # with n >= T the target is the discounted return bootstrapped from next_values at the segment end
    full = nstep_targets(x["r"], x["d"], x["v"], 0.9, 25)
    _close(full, discounted_returns(x["r"], x["d"], 0.9, last_values=x["v"][-1]), np.float64)
    # hand case: n=2, gamma=.5, rewards 1, next values 10, terminal after step 2
    out = nstep_targets(np.ones(3), [0, 0, 1], np.full(3, 10.0), 0.5, 2)
    np.testing.assert_allclose(out, [1 + 0.5 + 0.25 * 10, 1 + 0.5, 1.0])


def test_vtrace_on_policy_is_discounted_return():
    x = _rollout((40, 3), seed=8, dtype=np.float64)
    vs, pg = vtrace(x["blogp"], x["blogp"], x["r"], x["v"], x["d"], x["lv"], 0.97)
    g = discounted_returns(x["r"], x["d"], 0.97, last_values=x["lv"])
    _close(vs, g, np.float64)
    vs_next = np.concatenate([vs[1:], x["lv"][None]])
    _close(pg, x["r"] + 0.97 * (1 - x["d"]) * vs_next - x["v"], np.float64)


def test_episode_flags_change_results():
    """Guards against kernels that ignore their flags (a vacuous comparison would pass)."""
    x = _rollout((30, 2), seed=1, p_end=0.0)
    base = gae(x["r"], x["v"], x["d"], x["lv"], 0.99, 0.95)[0]
    d = x["d"].copy()
    d[10, 1] = True
    assert not np.allclose(gae(x["r"], x["v"], d, x["lv"], 0.99, 0.95)[0][:11, 1], base[:11, 1])
    np.testing.assert_array_equal(gae(x["r"], x["v"], d, x["lv"], 0.99, 0.95)[0][:, 0], base[:, 0])


# ---------------------------------------------------------------- input validation

def test_bad_inputs_raise_clear_errors():
    r = np.zeros((5, 2), np.float32)
    f = np.zeros((5, 2), bool)
    with pytest.raises(ValueError, match=r"values has shape \(5, 3\)"):
        gae(r, np.zeros((5, 3)), f, np.zeros(2), 0.99, 0.95)
    with pytest.raises(ValueError, match=r"last_values must have shape \(2,\)"):
        gae(r, r, f, np.zeros(3), 0.99, 0.95)
    with pytest.raises(ValueError, match="time-major"):
        discounted_returns(np.zeros((2, 2, 2)), np.zeros((2, 2, 2)), 0.9)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\]"):
        discounted_returns(r, f, 1.5)
    with pytest.raises(TypeError, match="gamma"):
        discounted_returns(r, f, "0.9")
    with pytest.raises(TypeError, match="dtype"):
        discounted_returns(np.array(["a"] * 5), np.zeros(5), 0.9)
    with pytest.raises(TypeError, match="dtype object"):
        discounted_returns(np.array([1.0, None]), np.zeros(2), 0.9)
    with pytest.raises(TypeError, match="complex dtype"):
        discounted_returns(np.zeros(5, np.complex64), np.zeros(5), 0.9)
    with pytest.raises(ValueError, match=r"gamma must be in \[0, 1\], got nan"):
        discounted_returns(np.zeros(5), np.zeros(5), float("nan"))
    with pytest.raises(ValueError, match="bootstrap_values"):
        discounted_returns(r, f, 0.9, truncated=np.ones((5, 2), bool))
    with pytest.raises(ValueError, match="n must be >= 1"):
        nstep_targets(r, f, r, 0.9, 0)
    with pytest.raises(TypeError, match="n must be an int"):
        nstep_targets(r, f, r, 0.9, 2.5)
    with pytest.raises(ValueError, match="clip_rho must be > 0"):
        vtrace(r, r, r, r, f, np.zeros(2), 0.9, clip_rho=0.0)
    with pytest.raises(TypeError, match="last_values is None"):
        gae(r, r, f, None, 0.9, 0.9)


def test_import_does_not_pull_paddle():
    code = "import sys, fastparl.kernels; print('paddle' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr  # an import failure (of fastparl.remote too) is a failure, not a skip
    assert out.stdout.strip() == "False", out.stderr


# ---------------------------------------------------------------- SumTree

def test_sumtree_update_total_min_max():
    rng = np.random.default_rng(0)
    tree, mirror = SumTree(37), np.zeros(37)
    assert tree.total == 0.0 and tree.min_priority == 0.0 and tree.max_priority == 0.0
    for _ in range(20):
        idx = rng.integers(0, 37, size=8)
        p = rng.random(8) * 5
        tree.update(idx, p)
        for i, q in zip(idx, p):  # repeats: the last write wins
            mirror[i] = q
        assert tree.total == pytest.approx(mirror.sum(), rel=1e-12)
        assert tree.max_priority == mirror.max()
        assert tree.min_priority == mirror[mirror > 0].min()
    np.testing.assert_array_equal(tree.priorities, mirror)
    np.testing.assert_array_equal(tree.get([3, 0, 36]), mirror[[3, 0, 36]])
    tree.update(5, 0.0)
    mirror[5] = 0.0
    assert tree.total == pytest.approx(mirror.sum(), rel=1e-12)
    fresh = SumTree(37)
    fresh.set_all(mirror)
    assert fresh.total == pytest.approx(tree.total, rel=1e-12) and fresh.min_priority == tree.min_priority


def test_sumtree_find_matches_reference_scan():
    rng = np.random.default_rng(1)
    tree, rtree = SumTree(50), ref.RefSumTree(50)
    idx = np.arange(0, 50, 2)  # half the leaves stay at zero and must never be found
    p = rng.random(idx.size) + 0.1
    tree.update(idx, p)
    rtree.update(idx, p)
    u = np.concatenate([rng.random(300) * tree.total, [0.0, np.nextafter(tree.total, 0.0)]])
    found, pri = tree.find(u)
    assert [rtree.find(x) for x in u] == found.tolist()
    np.testing.assert_array_equal(pri, tree.get(found))
    assert np.all(found % 2 == 0)
    # targets at (or, by float rounding, past) the total still land on a leaf with mass, never an empty one
    edge = SumTree(4)
    edge.update([0, 1], [1.0, 1.0])
    assert edge.find([edge.total, 5.0])[0].tolist() == [1, 1]


def test_sumtree_sampling_distribution_chi_square():
    p = np.arange(1.0, 11.0)
    tree = SumTree(10)
    tree.update(np.arange(10), p)
    rng = np.random.default_rng(12345)
    draws = np.concatenate([tree.sample(64, rng)[0] for _ in range(500)])
    counts = np.bincount(draws, minlength=10)
    expected = p / p.sum() * draws.size
    chi2 = float(((counts - expected) ** 2 / expected).sum())
    assert chi2 < 27.88, (chi2, counts)  # chi2(df=9) 99.9% quantile; stratification makes it smaller still
    # a wrong sampler (uniform) fails the same check by a wide margin
    uniform = np.full(10, draws.size / 10)
    assert float(((uniform - expected) ** 2 / expected).sum()) > 27.88


def test_sumtree_sample_is_stratified_and_seeded():
    tree = SumTree(8)
    tree.update(np.arange(8), np.ones(8))
    idx, pri = tree.sample(8, np.random.default_rng(0))
    np.testing.assert_array_equal(idx, np.arange(8))  # one draw per equal slice of the total
    np.testing.assert_array_equal(pri, np.ones(8))
    a = tree.sample(5, 42)[0]
    b = tree.sample(5, 42)[0]
    np.testing.assert_array_equal(a, b)


def test_sumtree_bad_input():
    tree = SumTree(4)
    with pytest.raises(ValueError, match="empty SumTree"):
        tree.sample(2, 0)
    with pytest.raises(ValueError, match=r"indices must lie in \[0, 4\)"):
        tree.update([4], [1.0])
    with pytest.raises(ValueError, match="priorities must be finite and >= 0"):
        tree.update([0], [-1.0])
    with pytest.raises(ValueError, match="one priority per index"):
        tree.update([0, 1], [1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="integer"):
        tree.update([0.5], [1.0])
    with pytest.raises(ValueError, match="capacity"):
        SumTree(0)
