"""Unit tests of ``parl.algorithms.ES`` (and PARL's ES helpers) and ``parl.algorithms.IMPALA``.

Includes the showcase of the ES example: the noise table is one shared-memory array that every
actor maps (a write by the learner is seen by all actors; each actor holds a read-only view).
"""

from __future__ import annotations

import importlib.util
import math
import os
import sys

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
pytest.importorskip("gymnasium")

import fastparl as parl  # noqa: E402
from fastparl.algorithms import es as es_mod  # noqa: E402
from fastparl.algorithms.es import (  # noqa: E402
    ES,
    SGD,
    Adam,
    SharedNoiseTable,
    batched_weighted_sum,
    compute_centered_ranks,
    compute_ranks,
    itergroups,
    unflatten,
)
from fastparl.algorithms.impala import IMPALA  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402
from fastparl.kernels import vtrace  # noqa: E402

nn = paddle.nn
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
OBS, ACT = 4, 3


def _load(example: str, module: str):
    """Import examples/<example>/<module>.py (its directory goes on sys.path, as its train.py does)."""
    path = os.path.join(ROOT, "examples", example)
    if path not in sys.path:
        sys.path.insert(0, path)
    spec = importlib.util.spec_from_file_location(module, os.path.join(path, f"{module}.py"))
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module] = mod
    spec.loader.exec_module(mod)
    return mod


class PolicyMLP(parl.Model):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(OBS, 8), nn.Linear(8, ACT)

    def forward(self, obs):
        return self.fc2(paddle.tanh(self.fc1(obs)))


class ACModel(parl.Model):
    def __init__(self) -> None:
        super().__init__()
        self.pi, self.v = nn.Linear(OBS, ACT), nn.Linear(OBS, 1)

    def policy(self, obs):
        return self.pi(obs)

    def value(self, obs):
        return self.v(obs).squeeze(axis=1)


@pytest.fixture(autouse=True)
def _seed():
    paddle.seed(0)


# ----------------------------------------------------------------------------- ES helpers


def test_registered_in_parl_namespace():
    assert parl.algorithms.ES is ES and parl.algorithms.IMPALA is IMPALA
    assert {"ES", "IMPALA"} <= set(parl.algorithms.__all__)


def test_compute_ranks_and_centered_ranks():
    x = np.array([3.0, -1.0, 10.0, 0.5])
    np.testing.assert_array_equal(compute_ranks(x), [2, 0, 3, 1])
    y = compute_centered_ranks(np.array([[1.0, 5.0], [3.0, -2.0]]))
    assert y.dtype == np.float32 and y.shape == (2, 2)
    np.testing.assert_allclose(y, [[-1 / 6, 0.5], [1 / 6, -0.5]], rtol=1e-6)
    assert y.min() == -0.5 and y.max() == 0.5 and abs(y.sum()) < 1e-6
    with pytest.raises(ValueError, match="1-D"):
        compute_ranks(np.zeros((2, 2)))
    with pytest.raises(ValueError, match="at least 2"):
        compute_centered_ranks(np.zeros(1))


def test_batched_weighted_sum_itergroups_unflatten():
    rng = np.random.default_rng(0)
    w, vecs = rng.standard_normal(7), [rng.standard_normal(5) for _ in range(7)]
    total, n = batched_weighted_sum(w, vecs, batch_size=3)
    assert n == 7 and total.dtype == np.float32
    np.testing.assert_allclose(total, np.asarray(vecs).T @ w, rtol=1e-5)
    assert [len(g) for g in itergroups(range(7), 3)] == [3, 3, 1]
    flat = np.arange(10, dtype=np.float32)
    a, b = unflatten(flat, [(2, 3), (4,)])
    assert a.shape == (2, 3) and b.tolist() == [6, 7, 8, 9]
    with pytest.raises(ValueError, match="hold 9 values"):
        unflatten(flat, [(3, 3)])


def test_noise_table_matches_parl_generation(monkeypatch):
    monkeypatch.setattr(es_mod, "_CHUNK", 1000)  # chunked generation gives PARL's one-call stream
    table = SharedNoiseTable(2500, seed=7)
    expected = np.random.RandomState(7).randn(2500).astype(np.float32)
    np.testing.assert_array_equal(table.noise, expected)
    assert table.get(10, 5).base is not None  # a view
    i = table.sample_index(100, np.random.default_rng(0))
    assert 0 <= i <= 2400
    with pytest.raises(ValueError, match="noise_size >= 3000"):
        table.sample_index(3000)


def test_numpy_optimizers_step_downhill():
    for opt in (Adam(3, 0.1), SGD(3, 0.1, momentum=0.0)):
        theta = np.ones(3, np.float32)
        new, ratio = opt.update(theta, np.array([1.0, -1.0, 0.0], np.float32))
        assert new[0] < 1.0 < new[1] and new[2] == 1.0 and ratio > 0


def test_es_flat_weights_roundtrip_and_predict():
    alg = ES(PolicyMLP())
    assert alg.weights_total_size == OBS * 8 + 8 + 8 * ACT + ACT
    flat = alg.get_flat_weights()
    assert flat.dtype == np.float32 and flat.shape == (alg.weights_total_size,)
    new = np.random.default_rng(1).standard_normal(flat.size).astype(np.float32)
    alg.set_flat_weights(new)
    np.testing.assert_array_equal(alg.get_flat_weights(), new)
    assert set(alg.get_weights()) == set(alg.weights_name)
    with pytest.raises(ValueError, match="weights_total_size"):
        alg.set_flat_weights(new[:-1])
    # the actors' batched numpy forward equals the paddle model
    actor_mod = _load("ES", "es_actor")
    obs = np.random.default_rng(2).standard_normal((5, OBS)).astype(np.float32)
    ref = alg.predict(obs).numpy()
    got = actor_mod.batched_policy_forward(np.repeat(new[None], 5, axis=0), alg.weights_shapes, obs)
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-5)


def test_es_needs_forward():
    class NoForward(parl.Model):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(2, 2)

    with pytest.raises(ModelMethodError, match="forward"):
        ES(NoForward())


def test_noise_table_is_shared_zero_copy_with_actors(local):
    actor_mod = _load("ES", "es_actor")
    table = SharedNoiseTable(1_000_000, seed=3, shared=True)  # 4 MB
    shapes = [(4, 8), (8,), (8, 2), (2,)]  # CartPole: 4 observations, 2 actions
    actors = [actor_mod.Actor("CartPole-v1", table.noise, shapes, 0.1, seed=i) for i in range(2)]
    try:
        infos = parl.get([a.noise_info(123) for a in actors])
        for info in infos:
            assert info["type"] == "SharedArray" and not info["writeable"] and not info["owndata"]
            assert info["value"] == float(table.noise[123]) and info["nbytes"] == table.noise.nbytes
        table.noise[123] = 4321.5  # one write by the learner is seen by every actor: the same memory
        assert [i["value"] for i in parl.get([a.noise_info(123) for a in actors])] == [4321.5, 4321.5]
        # weights broadcast with put; noise offsets index the learner's table
        flat = np.zeros(sum(int(np.prod(s)) for s in shapes), np.float32)
        res = parl.get([a.sample(parl.put(flat), 2) for a in actors])
        for r in res:
            assert r["noisy_rewards"].shape == (2, 2) and r["noise_indices"].shape == (2,)
            assert (r["noisy_lengths"] >= 1).all()
    finally:
        for a in actors:
            parl.kill(a)


# ----------------------------------------------------------------------------- IMPALA


def _impala(T: int = 5) -> IMPALA:
    return IMPALA(ACModel(), sample_batch_steps=T, gamma=0.9, vf_loss_coeff=0.5, clip_rho_threshold=1.0,
                  clip_pg_rho_threshold=1.0)


def _impala_batch(B: int, T: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    n = B * T
    return (rng.standard_normal((n, OBS)).astype(np.float32), rng.integers(0, ACT, n),
            rng.standard_normal((n, ACT)).astype(np.float32), rng.standard_normal(n).astype(np.float32),
            rng.random(n) < 0.2)


def test_impala_learn_finite_and_vtrace_matches_kernel():
    B, T = 3, 5
    alg = _impala(T)
    obs, actions, blogits, rewards, dones = _impala_batch(B, T)
    with paddle.no_grad():
        t = paddle.to_tensor(obs)
        values = alg.model.value(t).numpy().reshape(B, T).T
        tlogp_all = paddle.nn.functional.log_softmax(alg.model.policy(t), axis=-1).numpy()
    blogp_all = blogits - np.log(np.exp(blogits).sum(axis=1, keepdims=True))
    tlogp = tlogp_all[np.arange(B * T), actions].reshape(B, T).T
    blogp = blogp_all[np.arange(B * T), actions].reshape(B, T).T
    r_tb, d_tb = rewards.reshape(B, T).T, dones.reshape(B, T).T
    vs, pg = vtrace(blogp[:-1], tlogp[:-1], r_tb[:-1], values[:-1], d_tb[:-1], values[-1], 0.9)

    loss, kl = alg.learn(obs, actions, blogits, rewards, dones.astype(np.float32), 1e-3, -0.01)
    for x in (loss.total_loss, loss.pi_loss, loss.vf_loss, loss.entropy, kl):
        assert math.isfinite(float(x))
    np.testing.assert_allclose(loss.vtrace_returns.vs.numpy(), vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(loss.vtrace_returns.pg_advantages.numpy(), pg, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(float(loss.pi_loss), -(tlogp[:-1] * pg).sum(), rtol=1e-4)
    np.testing.assert_allclose(float(loss.vf_loss), 0.5 * ((values[:-1] - vs) ** 2).sum(), rtol=1e-4)
    assert float(kl) >= 0
    total = float(loss.pi_loss) + 0.5 * float(loss.vf_loss) - 0.01 * float(loss.entropy)
    np.testing.assert_allclose(float(loss.total_loss), total, rtol=1e-4)


def test_impala_learning_reduces_value_loss():
    alg = _impala(5)
    batch = _impala_batch(4, 5, seed=1)
    first = float(alg.learn(*batch, 1e-2, 0.0)[0].vf_loss)
    for _ in range(50):
        last = float(alg.learn(*batch, 1e-2, 0.0)[0].vf_loss)
    assert last < first


def test_impala_sample_predict_and_errors():
    alg = _impala(5)
    obs = np.random.default_rng(0).standard_normal((6, OBS)).astype(np.float32)
    probs, logits = alg.sample(obs)
    assert probs.shape == [6, ACT] and logits.shape == [6, ACT]
    np.testing.assert_allclose(probs.numpy().sum(axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(alg.predict(obs).numpy(), logits.numpy().argmax(axis=1))
    with pytest.raises(ValueError, match="sample_batch_steps=5"):
        alg.learn(*_impala_batch(1, 7), 1e-3, -0.01)
    with pytest.raises(TypeError, match="sample_batch_steps"):
        IMPALA(ACModel(), sample_batch_steps=None, gamma=0.9, vf_loss_coeff=0.5, clip_rho_threshold=1.0,
               clip_pg_rho_threshold=1.0)
    with pytest.raises(TypeError, match="gamma"):
        IMPALA(ACModel(), sample_batch_steps=5)
    with pytest.raises(ValueError, match="gamma"):
        IMPALA(ACModel(), 5, 1.5, 0.5, 1.0, 1.0)
    with pytest.raises(ValueError, match="clip_rho_threshold"):
        IMPALA(ACModel(), 5, 0.9, 0.5, 0.0, 1.0)
    with pytest.raises(ModelMethodError, match="policy"):
        IMPALA(PolicyMLP(), 5, 0.9, 0.5, 1.0, 1.0)


def test_impala_worker_batch_layout():
    actor_mod = _load("IMPALA", "impala_actor")
    rng = np.random.default_rng(0)
    sizes = [(4, 8), (8, 8), (8, 2)]  # CartPole: 4 observations, 2 actions
    weights = {}
    for i, (n_in, n_out) in enumerate(sizes, 1):
        weights[f"a{i}.weight"] = rng.standard_normal((n_in, n_out)).astype(np.float32)
        weights[f"a{i}.bias"] = np.zeros(n_out, np.float32)
    w = actor_mod.ImpalaWorker("CartPole-v1", num_envs=3, sample_batch_steps=4, seed=0)
    out = w.sample(weights)
    assert out["obs"].shape == (12, 4) and out["behaviour_logits"].shape == (12, 2)
    assert out["actions"].shape == (12,) and out["rewards"].shape == (12,) and out["dones"].dtype == bool
    # env-major: rows 0-3 are env 0's steps, and their logits are the policy's on their observations
    np.testing.assert_allclose(out["behaviour_logits"], actor_mod.mlp_forward(weights, "a", out["obs"]), rtol=1e-5)
    w.close()


def test_parl_vtrace_module_matches_kernel():
    """``from fastparl.algorithms.impala import vtrace`` (PARL's path): ``from_importance_weights`` = the kernel."""
    from fastparl.algorithms.impala import vtrace as vtrace_mod

    assert parl.algorithms.impala.vtrace is vtrace_mod
    rng = np.random.default_rng(0)
    T, B, gamma = 7, 4, 0.9
    blogp, tlogp = rng.normal(-1, 0.5, (T, B)), rng.normal(-1, 0.5, (T, B))
    rewards, values, boot = rng.normal(size=(T, B)), rng.normal(size=(T, B)), rng.normal(size=B)
    dones = rng.random((T, B)) < 0.2
    f32 = lambda x: x.astype(np.float32)  # noqa: E731
    vs, pg = vtrace(f32(blogp), f32(tlogp), f32(rewards), f32(values), dones, f32(boot), gamma, clip_rho=0.8)
    out = vtrace_mod.from_importance_weights(
        paddle.to_tensor(f32(blogp)), f32(tlogp), f32(gamma * (1 - dones)), f32(rewards), f32(values), f32(boot),
        clip_rho_threshold=0.8)
    np.testing.assert_allclose(out.vs.numpy(), vs, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(out.pg_advantages.numpy(), pg, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match="bootstrap_value"):
        vtrace_mod.from_importance_weights(blogp, tlogp, dones, rewards, values, values)
