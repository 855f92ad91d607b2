"""Unit tests of ``parl.algorithms.CQL``: PARL's losses, the conservative penalty, behaviour cloning, Lagrange."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.cql import CQL  # noqa: E402

nn = paddle.nn
F = paddle.nn.functional
OBS, ACT, B, H = 3, 2, 32, 32
KW = dict(gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)


class Model(parl.Model):
    """PARL's CQL ``MujocoModel`` interface, tiny."""

    def __init__(self) -> None:
        super().__init__()
        self.actor = nn.Sequential(nn.Linear(OBS, H), nn.ReLU(), nn.Linear(H, 2 * ACT))
        self.q1 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))
        self.q2 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))

    def policy(self, obs):
        mean, log_std = paddle.split(self.actor(obs), 2, axis=-1)
        return mean, paddle.clip(log_std, -5.0, 2.0)

    def value(self, obs, act):
        sa = paddle.concat([obs, act], 1)
        return self.q1(sa), self.q2(sa)

    def get_actor_params(self):
        return self.actor.parameters()

    def get_critic_params(self):
        return self.q1.parameters() + self.q2.parameters()


def _cql(**kw):
    paddle.seed(0)
    return CQL(Model(), **{**KW, **kw})


def _batch(seed=0):
    """Dataset actions near a fixed 'behaviour' action (0.5, -0.5), so out-of-distribution actions exist."""
    rng = np.random.default_rng(seed)
    t = lambda x: paddle.to_tensor(np.asarray(x, np.float32))  # noqa: E731
    act = np.clip(np.array([0.5, -0.5]) + 0.05 * rng.standard_normal((B, ACT)), -1, 1)
    return (t(rng.standard_normal((B, OBS))), t(act), t(rng.standard_normal((B, 1))), t(rng.standard_normal((B, OBS))),
            t((rng.random((B, 1)) < 0.1)))


def test_registered_and_learn_returns_parl_tuple():
    assert parl.algorithms.CQL is CQL and "CQL" in parl.algorithms.__all__
    alg = _cql()
    out = alg.learn(*_batch())
    assert len(out) == 4 and all(tuple(x.shape) == () and math.isfinite(float(x)) for x in out)
    critic_loss, mse, _, _ = out
    assert float(critic_loss) != float(mse)  # the penalty is part of the critic loss
    assert alg.alpha != 1.0 and alg.target_entropy == -ACT  # automatic entropy tuning by default, as PARL


def _parl_learn_step(model, target, opts, batch, current_step):
    """PARL 2.x's paddle ``CQL.learn`` (defaults: CQL(H), automatic entropy, BC until 40000 steps), written out."""
    from paddle.distribution import Normal

    actor_opt, critic_opt, alpha_opt, log_alpha = opts
    obs, action, reward, next_obs, terminal = batch

    def sample(o):
        mean, log_std = model.policy(o)
        normal = Normal(mean, log_std.exp())
        x = normal.sample([1])
        a = paddle.tanh(x)
        lp = normal.log_prob(x) - paddle.log((1 - a.pow(2)) + 1e-6)
        return a[0], paddle.sum(lp, axis=-1, keepdim=True)[0]

    def tile(o, k):
        return o.unsqueeze(1).tile([1, k, 1]).reshape([o.shape[0] * k, o.shape[1]])

    def values(o, a):
        k = a.shape[0] // o.shape[0]
        q1, q2 = model.value(tile(o, k), a)
        return q1.reshape([o.shape[0], k, 1]), q2.reshape([o.shape[0], k, 1])

    with paddle.no_grad():
        na, _ = sample(next_obs)
        tq1, tq2 = target.value(next_obs, na)
        target_q = reward + 0.99 * (1.0 - terminal) * paddle.minimum(tq1, tq2)
    c1, c2 = model.value(obs, action)
    l1, l2 = F.mse_loss(c1, target_q), F.mse_loss(c2, target_q)
    rand = paddle.uniform([B * 10, ACT])
    ca, clp = sample(tile(obs, 10))
    na2, nlp = sample(tile(next_obs, 10))
    clp, nlp = clp.reshape([B, 10, 1]), nlp.reshape([B, 10, 1])
    (r1, r2), (cu1, cu2), (ne1, ne2) = values(obs, rand), values(obs, ca), values(obs, na2)
    dens = np.log(0.5**ACT)
    cat1 = paddle.concat([r1 - dens, ne1 - nlp.detach(), cu1 - clp.detach()], 1)
    cat2 = paddle.concat([r2 - dens, ne2 - nlp.detach(), cu2 - clp.detach()], 1)
    m1 = paddle.logsumexp(cat1, axis=1).mean() * 5.0 - c1.mean() * 5.0
    m2 = paddle.logsumexp(cat2, axis=1).mean() * 5.0 - c2.mean() * 5.0
    critic_opt.clear_grad()
    ((l1 + m1) + (l2 + m2)).backward()
    critic_opt.step()

    act, log_pi = sample(obs)
    alpha_opt.clear_grad()
    (-(log_alpha * (log_pi - ACT).detach()).mean()).backward()
    alpha_opt.step()
    alpha = log_alpha.exp()
    raw = 0.5 * paddle.log((1 + action).clip(min=1e-6) / (1 - action).clip(min=1e-6))
    mean, log_std = model.policy(obs)
    bc = (Normal(mean, log_std.exp()).log_prob(raw) - paddle.log(1 - action.pow(2) + 1e-6)).sum(-1)
    actor_opt.clear_grad()
    (alpha * log_pi - bc).mean().backward()
    actor_opt.step()
    model.sync_weights_to(target, decay=0.995)


def test_learn_matches_parl_formulas():
    alg = _cql()
    model, target = copy.deepcopy(alg.model), copy.deepcopy(alg.target_model)
    log_alpha = paddle.create_parameter([1], "float32", default_initializer=nn.initializer.Constant(0.0))
    opts = (paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.get_actor_params()),
            paddle.optimizer.Adam(learning_rate=1e-3, parameters=model.get_critic_params()),
            paddle.optimizer.Adam(learning_rate=1e-3, parameters=[log_alpha]), log_alpha)
    for step in range(3):
        batch = _batch(step)
        paddle.seed(50 + step)
        alg.learn(*batch)
        paddle.seed(50 + step)
        _parl_learn_step(model, target, opts, batch, step + 1)
    for (name, p), q in zip(alg.model.named_parameters(), model.parameters(), strict=True):
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)
    assert alg.alpha == pytest.approx(log_alpha.exp().item(), rel=1e-6)


def _ood_gap(alg, batch):
    """Mean Q at uniform random actions minus mean Q at the dataset's actions."""
    obs, act = batch[0], batch[1]
    with paddle.no_grad():
        q_data = alg.model.value(obs, act)[0].mean().item()
        q_rand = alg.model.value(obs, paddle.uniform([B, ACT]))[0].mean().item()
    return q_rand - q_data


def test_penalty_makes_q_conservative_off_the_data():
    """The conservative penalty pushes Q down at unseen actions: without it (weight 0) they are valued higher."""
    gaps = {}
    for weight in (5.0, 0.0):
        alg = _cql(min_q_weight=weight, policy_eval_start=0)
        for step in range(60):
            alg.learn(*_batch(step % 4))
        gaps[weight] = _ood_gap(alg, _batch(9))
    assert gaps[5.0] < -0.2 and gaps[5.0] < gaps[0.0] - 0.3, gaps


def test_behaviour_cloning_phase_moves_policy_to_data():
    alg = _cql(policy_eval_start=10_000, with_automatic_entropy_tuning=False)
    obs = _batch()[0]
    before = alg.predict(obs).numpy()
    for step in range(80):
        alg.learn(*_batch(step % 4))
    after = alg.predict(obs).numpy()
    target = np.array([0.5, -0.5])
    assert np.abs(after - target).mean() < 0.5 * np.abs(before - target).mean()


def test_lagrange_tunes_alpha_prime():
    alg = _cql(with_lagrange=True, lagrange_thresh=10.0)
    assert alg.min_q_version == -1 and alg.alpha_prime == 0.0
    out = alg.learn(*_batch())
    assert all(tuple(x.shape) == () for x in out)
    first = alg.alpha_prime.item()
    for step in range(5):
        alg.learn(*_batch(step))
    assert alg.alpha_prime.item() != first and alg.log_alpha_prime.item() != 0.0


def test_argument_errors():
    with pytest.raises(TypeError, match="actor_lr"):
        CQL(Model(), gamma=0.99, tau=0.005, critic_lr=1e-3)
    with pytest.raises(TypeError, match="policy_eval_start"):
        _cql(policy_eval_start=1.5)
    with pytest.raises(ValueError, match="min_q_version"):
        _cql(min_q_version=4)
    with pytest.raises(TypeError, match="with_lagrange"):
        _cql(with_lagrange=1)
