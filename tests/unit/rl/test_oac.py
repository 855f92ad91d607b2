"""Unit tests of ``parl.algorithms.OAC``: SAC's learner plus PARL's optimistic exploration."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.oac import OAC  # noqa: E402
from fastparl.algorithms.sac import SAC  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402

nn = paddle.nn
F = paddle.nn.functional
OBS, ACT, B, H = 3, 2, 16, 16
KW = dict(gamma=0.99, tau=0.005, alpha=0.2, beta=4.66, delta=23.53, actor_lr=1e-3, critic_lr=1e-3)


class Model(parl.Model):
    """PARL's OAC ``MujocoModel`` interface, tiny."""

    def __init__(self) -> None:
        super().__init__()
        self.actor = nn.Linear(OBS, 2 * ACT)
        self.q1 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))
        self.q2 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))

    def policy(self, obs):
        mean, log_std = paddle.split(self.actor(obs), 2, axis=-1)
        return mean, paddle.clip(log_std, -20.0, 2.0)

    def value(self, obs, act):
        sa = paddle.concat([obs, act], 1)
        return self.q1(sa), self.q2(sa)

    def get_actor_params(self):
        return self.actor.parameters()

    def get_critic_params(self):
        return self.q1.parameters() + self.q2.parameters()


def _oac(**kw):
    paddle.seed(0)
    return OAC(Model(), **{**KW, **kw})


def _obs(n=B, seed=0):
    return paddle.to_tensor(np.random.default_rng(seed).standard_normal((n, OBS)).astype("float32"))


def test_registered_and_learns_like_sac():
    """OAC's learn is SAC's: same seed and batch, same weights afterwards."""
    assert parl.algorithms.OAC is OAC and "OAC" in parl.algorithms.__all__
    oac = _oac()
    sac = SAC(copy.deepcopy(oac.model), gamma=0.99, tau=0.005, alpha=0.2, actor_lr=1e-3, critic_lr=1e-3)
    rng = np.random.default_rng(1)
    t = lambda *s: paddle.to_tensor(rng.standard_normal(s).astype("float32"))  # noqa: E731
    batch = (t(B, OBS), paddle.to_tensor(rng.uniform(-1, 1, (B, ACT)).astype("float32")), t(B, 1), t(B, OBS),
             paddle.zeros([B, 1]))
    for alg in (oac, sac):
        paddle.seed(5)
        critic_loss, actor_loss = alg.learn(*batch)
        assert math.isfinite(float(critic_loss)) and math.isfinite(float(actor_loss))
    for p, q in zip(oac.model.parameters(), sac.model.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_optimistic_action_is_parl_formula():
    """``get_optimistic_exploration_action`` equals PARL's, written with ``paddle.distribution.Normal``."""
    from paddle.distribution import Normal

    oac = _oac()
    obs = _obs(1)
    paddle.seed(3)
    action = oac.get_optimistic_exploration_action(obs)
    paddle.seed(3)
    mean, log_std = oac.model.policy(obs)
    std = paddle.exp(log_std)
    pre = Normal(mean, std).sample([1])
    q1, q2 = oac.model.value(obs, paddle.tanh(pre)[0])
    mu_q, sigma_q = (q1 + q2) / 2.0, paddle.abs(q1 - q2) / 2.0
    grad = paddle.grad(mu_q + 4.66 * sigma_q, pre)[0]
    sigma = paddle.pow(std, 2)
    denom = paddle.sqrt(paddle.sum(paddle.multiply(paddle.pow(grad, 2), sigma))) + 10e-6
    mu_c = math.sqrt(2.0 * 23.53) * paddle.multiply(sigma, grad) / denom
    ref = paddle.tanh(Normal(paddle.squeeze(pre + mu_c, 0), std).sample([1]))[0]
    assert tuple(action.shape) == (1, ACT) and action.stop_gradient
    np.testing.assert_array_equal(action.numpy(), ref.numpy())
    for p in oac.model.parameters():  # paddle.grad leaves the parameters' gradients alone
        assert p.grad is None or not np.any(p.grad.numpy())


def test_optimism_shifts_towards_higher_q_upper_bound():
    """With a small KL budget the shifted mean raises Q_UB to first order; delta=0 is SAC's own sample."""
    oac = _oac(delta=1e-4)
    obs = _obs()
    mean, log_std = oac.model.policy(obs)
    with paddle.no_grad():
        def q_ub(pre):
            q1, q2 = oac.model.value(obs, paddle.tanh(pre))
            return ((q1 + q2) / 2.0 + 4.66 * paddle.abs(q1 - q2) / 2.0).sum().item()

    paddle.seed(11)
    shifted = oac.get_optimistic_exploration_action(obs)  # tanh(N(mu_E, sigma))
    paddle.seed(11)
    pre = paddle.randn([1, B, ACT]) * paddle.exp(log_std) + mean
    noise = paddle.randn([1, B, ACT]) * paddle.exp(log_std)
    unshifted = paddle.tanh(pre + noise)[0]  # the same draws with mu_C = 0
    shift = paddle.atanh(paddle.clip(shifted, -0.999999, 0.999999)) - paddle.atanh(paddle.clip(unshifted, -0.999999, 0.999999))
    assert 0 < float(shift.abs().max()) < 0.1
    assert q_ub(pre[0] + shift) > q_ub(pre[0])
    zero = _oac(delta=0.0)
    paddle.seed(2)
    a0 = zero.get_optimistic_exploration_action(obs)
    paddle.seed(2)
    m, ls = zero.model.policy(obs)
    p0 = paddle.randn([1, B, ACT]) * paddle.exp(ls) + m
    np.testing.assert_allclose(a0.numpy(), paddle.tanh(p0 + paddle.randn([1, B, ACT]) * paddle.exp(ls))[0].numpy(),
                               rtol=1e-6, atol=1e-6)


def test_argument_errors():
    with pytest.raises(TypeError, match="beta"):
        OAC(Model(), **{**KW, "beta": None})
    with pytest.raises(ValueError, match="delta"):
        OAC(Model(), **{**KW, "delta": -1.0})
    with pytest.raises(ValueError, match="gamma"):
        OAC(Model(), **{**KW, "gamma": 2.0})

    class NoValue(parl.Model):
        def policy(self, obs):
            return obs

    with pytest.raises(ModelMethodError, match="value"):
        OAC(NoValue(), **KW)


def test_example_agent_acts_in_numpy_like_paddle():
    """The OAC example's numpy ``optimistic_mean`` equals the algorithm's paddle shift for the same sample."""
    import os
    import sys

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))))
    from _examples import load_example

    mod = load_example("OAC")
    paddle.seed(4)
    agent = mod.make_agent(OBS, ACT, mod.Args(hidden=16))
    alg = agent.alg
    for seed in range(3):
        obs = np.random.default_rng(seed).standard_normal(OBS).astype(np.float32)
        t = paddle.to_tensor(obs[None])
        mean, log_std = alg.model.policy(t)
        std = paddle.exp(log_std)
        pre = mean.unsqueeze(0) + std * paddle.to_tensor(np.random.default_rng(seed + 9).standard_normal((1, 1, ACT)),
                                                         dtype="float32")
        pre.stop_gradient = False
        q1, q2 = alg.model.value(t, paddle.tanh(pre)[0])
        grad = paddle.grad((q1 + q2) / 2.0 + alg.beta * (paddle.abs(q1 - q2) / 2.0), pre)[0]
        sigma = std * std
        mu_e = pre + math.sqrt(2.0 * alg.delta) * sigma * grad / (paddle.sqrt((grad * grad * sigma).sum()) + 10e-6)
        mine = agent.optimistic_mean(obs, pre.numpy()[0, 0], std.numpy()[0])
        np.testing.assert_allclose(mine, mu_e.numpy()[0, 0], rtol=1e-4, atol=1e-5)
        assert not np.allclose(mine, pre.numpy()[0, 0])  # the shift is real
    action = agent.sample(obs)
    assert action.shape == (ACT,) and action.dtype == np.float32 and np.all(np.abs(action) < 1)
