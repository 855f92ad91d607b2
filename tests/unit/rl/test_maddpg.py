"""MADDPG: PARL's constructor and methods, shapes, finite losses, target sync, bad arguments."""

from __future__ import annotations

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
gym = pytest.importorskip("gymnasium")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.maddpg import SoftPDistribution, soft_categorical_sample  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402

nn = paddle.nn
OBS = [4, 6]
ACT = [5, 5]
B = 8


class Model(parl.Model):
    def __init__(self, obs_dim: int, act_dim: int, critic_in: int, continuous: bool = False) -> None:
        super().__init__()
        self.continuous = continuous
        self.actor = nn.Linear(obs_dim, act_dim)
        self.logstd = nn.Linear(obs_dim, act_dim)
        self.critic = nn.Linear(critic_in, 1)

    def policy(self, obs):
        return (self.actor(obs), self.logstd(obs)) if self.continuous else self.actor(obs)

    def value(self, obs_n, act_n):
        return self.critic(paddle.concat(obs_n + act_n, axis=1)).squeeze(1)

    def get_actor_params(self):
        return self.actor.parameters() + (self.logstd.parameters() if self.continuous else [])

    def get_critic_params(self):
        return self.critic.parameters()


def make(i: int = 0, continuous: bool = False, **kw):
    space = gym.spaces.Box(-1.0, 1.0, (5,)) if continuous else gym.spaces.Discrete(5)
    args = dict(agent_index=i, act_space=[space, space], gamma=0.95, tau=0.01, actor_lr=1e-2, critic_lr=1e-2)
    args.update(kw)
    return parl.algorithms.MADDPG(Model(OBS[i], ACT[i], sum(OBS) + sum(ACT), continuous), **args)


def batch():
    obs_n = [paddle.randn([B, d]) for d in OBS]
    act_n = [paddle.nn.functional.softmax(paddle.randn([B, d]), axis=-1) for d in ACT]
    return obs_n, act_n


def test_registered():
    from fastparl.algorithms.maddpg import MADDPG

    assert parl.algorithms.MADDPG is MADDPG and "MADDPG" in parl.algorithms.__all__


@pytest.mark.parametrize("continuous", [False, True])
def test_predict_shapes(continuous):
    alg = make(1, continuous)
    obs = paddle.randn([B, OBS[1]])
    for act in (alg.predict(obs), alg.sample(obs), alg.predict(obs, use_target_model=True), alg.predict_next(obs)):
        assert act.shape == [B, ACT[1]]
        a = act.numpy()
        if continuous:
            assert np.all(np.abs(a) <= 1.0)
        else:  # a soft one-hot
            assert np.all(a >= 0) and np.allclose(a.sum(-1), 1.0, atol=1e-5)


def test_gumbel_sample_is_differentiable_and_follows_logits():
    logits = paddle.to_tensor([[0.0, 0.0, 8.0]] * 2000, stop_gradient=False)
    sample = soft_categorical_sample(logits)
    assert (sample.numpy().argmax(-1) == 2).mean() > 0.99
    sample[:, 0].sum().backward()
    assert logits.grad is not None and np.isfinite(logits.grad.numpy()).all()


def test_learn_losses_finite_and_target_moves():
    alg = make(0)
    obs_n, act_n = batch()
    q = alg.Q(obs_n, act_n)
    assert q.shape == [B]
    np.testing.assert_allclose(alg.Q_next(obs_n, act_n).numpy(), q.numpy(), rtol=1e-6)  # synced at start
    before_actor = alg.model.actor.weight.numpy().copy()
    before_target = alg.target_model.critic.weight.numpy().copy()
    target_q = paddle.randn([B])
    loss = alg.learn(obs_n, act_n, target_q)
    assert loss.shape in ([], [1]) and np.isfinite(float(loss)) and np.isfinite(float(alg.actor_loss))
    assert not np.allclose(alg.model.actor.weight.numpy(), before_actor)
    new_target = alg.target_model.critic.weight.numpy()
    expected = 0.99 * before_target + 0.01 * alg.model.critic.weight.numpy()
    np.testing.assert_allclose(new_target, expected, rtol=1e-5, atol=1e-6)


def test_continuous_learn():
    alg = make(0, continuous=True)
    obs_n, act_n = batch()
    assert np.isfinite(float(alg.learn(obs_n, act_n, paddle.randn([B]))))


def test_sync_target_copy():
    alg = make(0)
    alg.learn(*batch(), paddle.randn([B]))
    alg.sync_target(decay=0)
    for p, t in zip(alg.model.parameters(), alg.target_model.parameters()):
        np.testing.assert_array_equal(p.numpy(), t.numpy())
    with pytest.raises(ValueError, match="decay"):
        alg.sync_target(decay=2.0)


@pytest.mark.parametrize(
    "kw, exc, match",
    [
        (dict(agent_index=None), TypeError, "agent_index"),
        (dict(agent_index=True), TypeError, "agent_index"),
        (dict(agent_index=2), ValueError, "agent_index"),
        (dict(act_space=None), TypeError, "act_space"),
        (dict(act_space=[]), TypeError, "act_space"),
        (dict(act_space=["x", "y"]), TypeError, "act_space"),
        (dict(gamma=None), TypeError, "gamma"),
        (dict(tau=1.5), ValueError, "tau"),
        (dict(actor_lr=0.0), ValueError, "actor_lr"),
        (dict(critic_lr="1e-3"), TypeError, "critic_lr"),
    ],
)
def test_bad_args(kw, exc, match):
    with pytest.raises(exc, match=match):
        make(0, **kw)


def test_model_without_method():
    class NoValue(parl.Model):
        def policy(self, obs):
            return obs

    with pytest.raises(ModelMethodError, match="value"):
        parl.algorithms.MADDPG(NoValue(), agent_index=0, act_space=[gym.spaces.Discrete(2)], gamma=0.95, tau=0.01,
                               actor_lr=1e-2, critic_lr=1e-2)


def test_learn_wrong_agent_count():
    alg = make(0)
    obs_n, act_n = batch()
    with pytest.raises(ValueError, match="one tensor per agent"):
        alg.learn(obs_n[:1], act_n[:1], paddle.randn([B]))


def test_soft_distribution_box_needs_pair():
    with pytest.raises(TypeError, match="mean, logstd"):
        SoftPDistribution(paddle.randn([2, 3]), gym.spaces.Box(-1.0, 1.0, (3,)))
