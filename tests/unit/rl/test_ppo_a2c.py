"""Unit tests of ``parl.algorithms.PPO`` and ``parl.algorithms.A2C``: shapes, losses, clipping, save/restore."""

from __future__ import annotations

import importlib.util
import math
import os
import sys

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.a2c import A2C  # noqa: E402
from fastparl.algorithms.ppo import PPO  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402

nn = paddle.nn
OBS, ACT, B = 4, 3, 16
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class ACModel(parl.Model):
    """Tiny actor-critic with PARL's PPO/A2C model methods (value ``(B, 1)`` for PPO, ``(B,)`` for A2C)."""

    def __init__(self, continuous: bool = False, flat_value: bool = False) -> None:
        super().__init__()
        self.pi = nn.Linear(OBS, ACT)
        self.v = nn.Linear(OBS, 1)
        self.continuous, self.flat_value = continuous, flat_value
        self.log_std = self.create_parameter([1, ACT], default_initializer=nn.initializer.Constant(-0.5))

    def value(self, obs):
        v = self.v(obs)
        return v.squeeze(axis=1) if self.flat_value else v

    def policy(self, obs):
        out = self.pi(obs)
        return (out, paddle.exp(self.log_std)) if self.continuous else out

    def policy_and_value(self, obs):
        return self.policy(obs), self.value(obs)


def _batch(continuous: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    obs = rng.standard_normal((B, OBS)).astype(np.float32)
    act = rng.standard_normal((B, ACT)).astype(np.float32) if continuous else rng.integers(0, ACT, B)
    vals = rng.standard_normal(B).astype(np.float32)
    return obs, act, vals, vals + 1.0, np.full(B, -1.1, np.float32), rng.standard_normal(B).astype(np.float32)


@pytest.fixture(autouse=True)
def _seed():
    paddle.seed(0)


def test_registered_in_parl_namespace():
    assert parl.algorithms.PPO is PPO and parl.algorithms.A2C is A2C
    assert {"PPO", "A2C"} <= set(parl.algorithms.__all__)


@pytest.mark.parametrize("continuous", [False, True])
def test_ppo_shapes_and_finite_losses(continuous):
    alg = PPO(ACModel(continuous), clip_param=0.2, continuous_action=continuous)
    obs = paddle.to_tensor(_batch(continuous)[0])
    value, action, logp, ent = alg.sample(obs)
    assert value.shape == [B, 1]
    assert action.shape == ([1, B, ACT] if continuous else [1, B])
    assert logp.shape == [1, B]
    assert ent.shape == ([] if continuous else [B])
    assert alg.predict(obs).shape == ([B, ACT] if continuous else [B])
    assert alg.value(obs).shape == [B, 1]
    losses = alg.learn(*_batch(continuous), lr=1e-3)
    assert len(losses) == 3 and all(isinstance(x, float) and math.isfinite(x) for x in losses)
    assert alg.optimizer.get_lr() == pytest.approx(1e-3)


def test_ppo_log_probs_match_paddle_distributions():
    from paddle.distribution import Categorical, Normal

    obs, act_c, *_ = _batch(True)
    alg = PPO(ACModel(True), continuous_action=True)
    lp, ent = alg._log_prob_entropy(paddle.to_tensor(obs), paddle.to_tensor(act_c))
    mean, std = alg.model.policy(paddle.to_tensor(obs))
    dist = Normal(mean, std.expand_as(mean))
    np.testing.assert_allclose(lp.numpy(), dist.log_prob(paddle.to_tensor(act_c)).sum(1).numpy(), rtol=1e-5)
    np.testing.assert_allclose(ent.numpy(), dist.entropy().sum(1).numpy(), rtol=1e-5)

    obs, act_d, *_ = _batch(False)
    alg = PPO(ACModel(False))
    lp, ent = alg._log_prob_entropy(paddle.to_tensor(obs), paddle.to_tensor(act_d))
    logits = alg.model.policy(paddle.to_tensor(obs))
    log_p = paddle.nn.functional.log_softmax(logits).numpy()
    np.testing.assert_allclose(lp.numpy(), log_p[np.arange(B), act_d], rtol=1e-5)
    np.testing.assert_allclose(ent.numpy(), Categorical(logits).entropy().numpy(), rtol=1e-5)


def test_ppo_sampled_log_probs_are_consistent():
    """The log-probs ``sample`` returns equal those ``learn`` recomputes (ratio 1 before any update)."""
    for continuous in (False, True):
        alg = PPO(ACModel(continuous), continuous_action=continuous)
        obs = paddle.to_tensor(_batch(continuous)[0])
        _, action, logp, _ = alg.sample(obs)
        lp, _ = alg._log_prob_entropy(obs, action[0])
        np.testing.assert_allclose(lp.numpy(), logp[0].numpy(), rtol=1e-5, atol=1e-6)


def test_ppo_ratio_clipping_stops_the_policy_gradient():
    """Far outside the trust region (ratio >> 1 + eps, positive advantages) the clipped term is constant."""
    alg = PPO(ACModel(), clip_param=0.2, value_loss_coef=0.0, entropy_coef=0.0, norm_adv=False)
    obs, act, vals, rets, _, _ = _batch(False)
    old_logp = np.full(B, -20.0, np.float32)  # ratio = exp(logp + 20) >> 1.2
    adv = np.abs(_batch(False, 1)[5]) + 0.1
    before = {k: v.copy() for k, v in alg.model.get_weights().items()}
    _, action_loss, _ = alg.learn(obs, act, vals, rets, old_logp, adv)
    assert action_loss == pytest.approx(-1.2 * adv.mean(), rel=1e-5)
    after = alg.model.get_weights()
    np.testing.assert_array_equal(after["pi.weight"], before["pi.weight"])
    np.testing.assert_array_equal(after["pi.bias"], before["pi.bias"])


def test_ppo_clipped_value_loss():
    obs, act, _, _, logp, adv = _batch(False)
    for clipped in (True, False):
        alg = PPO(ACModel(), clip_param=0.1, use_clipped_value_loss=clipped)
        new_v = alg.model.value(paddle.to_tensor(obs)).numpy()[:, 0]
        old_v = new_v + 5.0  # the new value is far from the old one: the clipped branch sits at old - 0.1
        ret = new_v + 2.0
        value_loss, _, _ = alg.learn(obs, act, old_v, ret, logp, adv)
        unclipped = (new_v - ret) ** 2
        expected = 0.5 * np.maximum(unclipped, (old_v - 0.1 - ret) ** 2).mean() if clipped else 0.5 * unclipped.mean()
        assert value_loss == pytest.approx(expected, rel=1e-5)


def test_ppo_argument_errors():
    class NoPolicy(parl.Model):
        def value(self, obs):
            return obs

    with pytest.raises(ModelMethodError, match="policy"):
        PPO(NoPolicy())
    with pytest.raises(TypeError, match="clip_param"):
        PPO(ACModel(), clip_param="0.2")
    with pytest.raises(ValueError, match="initial_lr"):
        PPO(ACModel(), initial_lr=0.0)
    with pytest.raises(TypeError, match="norm_adv"):
        PPO(ACModel(), norm_adv=1)


def test_a2c_shapes_losses_and_interface():
    alg = A2C(ACModel(flat_value=True), vf_loss_coeff=0.5)
    obs, act, _, rets, _, adv = _batch(False)
    t = paddle.to_tensor(obs)
    probs, values = alg.prob_and_value(t)
    assert probs.shape == [B, ACT] and values.shape == [B]
    np.testing.assert_allclose(probs.numpy().sum(1), 1.0, rtol=1e-5)
    actions, values = alg.sample(t)
    assert actions.shape == [B] and actions.dtype == paddle.int64 and values.shape == [B]
    assert alg.predict(t).shape == [B] and alg.value(t).shape == [B]

    logits = alg.model.policy(t).numpy()
    v = alg.model.value(t).numpy()
    log_p = logits - logits.max(1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(1, keepdims=True))
    pi = -(log_p[np.arange(B), act] * adv).sum()
    vf = 0.5 * ((v - rets) ** 2).sum()
    ent = -(np.exp(log_p) * log_p).sum()
    total, pi_loss, vf_loss, entropy = alg.learn(obs, act, adv, rets, 1e-3, -0.01)
    assert alg.optimizer.get_lr() == pytest.approx(1e-3)
    np.testing.assert_allclose([float(pi_loss), float(vf_loss), float(entropy)], [pi, vf, ent], rtol=1e-4)
    assert float(total) == pytest.approx(pi + 0.5 * vf - 0.01 * ent, rel=1e-4)


def test_a2c_argument_errors():
    with pytest.raises(TypeError, match="vf_loss_coeff"):
        A2C(ACModel(flat_value=True))

    class NoJoint(parl.Model):
        def value(self, obs):
            return obs

        def policy(self, obs):
            return obs

    with pytest.raises(ModelMethodError, match="policy_and_value"):
        A2C(NoJoint(), vf_loss_coeff=0.5)


class _Agent(parl.Agent):
    pass


@pytest.mark.parametrize("algo", ["ppo", "a2c"])
def test_save_restore_via_agent(tmp_path, algo):
    model = ACModel(flat_value=algo == "a2c")
    alg = PPO(model) if algo == "ppo" else A2C(model, vf_loss_coeff=0.5)
    agent = _Agent(alg)
    saved = {k: v.copy() for k, v in agent.get_weights().items()}
    agent.save(str(tmp_path / "m.ckpt"))
    obs, act, vals, rets, logp, adv = _batch(False)
    for _ in range(3):  # move the weights away from the checkpoint
        alg.learn(obs, act, vals, rets, logp, adv) if algo == "ppo" else alg.learn(obs, act, adv, rets, 1e-2, -0.01)
    assert not np.allclose(agent.get_weights()["pi.weight"], saved["pi.weight"])
    agent.restore(str(tmp_path / "m.ckpt"))
    for k, v in agent.get_weights().items():
        np.testing.assert_array_equal(v, saved[k])


def _load(path: str, name: str):
    sys.path.insert(0, os.path.dirname(path))
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.parametrize("continuous", [False, True])
def test_example_numpy_agent_matches_paddle(continuous):
    """The PPO example acts in numpy: its values and log-probs must equal the paddle model's."""
    mod = _load(os.path.join(ROOT, "examples", "PPO", "ppo_model.py"), "fastparl_example_ppo_model")
    model = mod.PPOModel(OBS, ACT, continuous=continuous)
    alg = PPO(model, continuous_action=continuous)
    agent = mod.PPOAgent(alg, num_updates=10, update_epochs=1, num_minibatches=2)
    obs = _batch(continuous)[0]
    value, action, logp, _ = agent.sample(obs)
    np.testing.assert_allclose(value, model.value(paddle.to_tensor(obs)).numpy()[:, 0], rtol=1e-4, atol=1e-5)
    act_t = paddle.to_tensor(action.astype(np.float32) if continuous else action)
    lp, _ = alg._log_prob_entropy(paddle.to_tensor(obs), act_t)
    np.testing.assert_allclose(logp, lp.numpy(), rtol=1e-4, atol=1e-5)


# ------------------------------------------------------------------------------- PARL's numbers
def _parl_ppo_step(model, opt, batch, clip, continuous):
    """PARL 2.x's paddle ``PPO.learn``, written from its formulas with ``paddle.distribution`` objects."""
    from paddle.distribution import Categorical, Normal

    obs, act, val, ret, logp, adv = (paddle.to_tensor(x) for x in batch)
    values = model.value(obs)
    if continuous:
        mean, std = model.policy(obs)
        dist = Normal(mean, std)
        lp, ent = dist.log_prob(act).sum(1), dist.entropy().sum(1)
    else:
        logits = model.policy(obs)
        onehot = paddle.nn.functional.one_hot(act, ACT)
        lp = paddle.sum(paddle.nn.functional.log_softmax(logits) * onehot, axis=-1)
        ent = Categorical(logits=logits).entropy()
    ent = ent.mean()
    adv = (adv - adv.mean()) / (adv.std() + 1e-8)
    ratio = paddle.exp(lp - logp)
    a_loss = -paddle.minimum(ratio * adv, paddle.clip(ratio, 1.0 - clip, 1.0 + clip) * adv).mean()
    values = values.reshape([-1])
    clipped = val + paddle.clip(values - val, -clip, clip)
    v_loss = 0.5 * paddle.maximum((values - ret).pow(2), (clipped - ret).pow(2)).mean()
    (v_loss * 0.5 + a_loss - ent * 0.01).backward()
    opt.step()
    opt.clear_grad()


@pytest.mark.parametrize("continuous", [False, True])
def test_ppo_gives_parl_numbers(continuous):
    """Same seed, same minibatches: PPO's weights equal those of PARL's PPO to the bit (per-tensor clip)."""
    import copy

    paddle.seed(1)
    model = ACModel(continuous)
    ref_model = copy.deepcopy(model)
    alg = PPO(model, clip_param=0.2, max_grad_norm=0.05, continuous_action=continuous)
    ref_opt = paddle.optimizer.Adam(parameters=ref_model.parameters(), learning_rate=2.5e-4, epsilon=1e-5,
                                    grad_clip=nn.ClipGradByNorm(0.05))
    for step in range(5):
        batch = _batch(continuous, seed=step)
        alg.learn(*batch)
        _parl_ppo_step(ref_model, ref_opt, batch, 0.2, continuous)
    for (name, p), q in zip(model.named_parameters(), ref_model.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)

    from paddle.distribution import Categorical, Normal

    obs = paddle.to_tensor(_batch(continuous)[0])
    paddle.seed(7)
    _, action, logp, ent = alg.sample(obs)
    paddle.seed(7)
    if continuous:
        mean, std = ref_model.policy(obs)
        dist = Normal(mean, std)
        ref_action = dist.sample([1])
        ref_logp, ref_ent = dist.log_prob(ref_action).sum(-1), dist.entropy().sum(-1).mean()
    else:
        dist = Categorical(logits=ref_model.policy(obs))
        ref_action = dist.sample([1])
        onehot = paddle.nn.functional.one_hot(ref_action, ACT)
        ref_logp = paddle.sum(paddle.nn.functional.log_softmax(ref_model.policy(obs)) * onehot, axis=-1)
        ref_ent = dist.entropy()
    for mine, ref in ((action, ref_action), (logp, ref_logp), (ent, ref_ent)):
        np.testing.assert_array_equal(mine.numpy(), ref.numpy())


def test_ppo_grad_clip_per_tensor_by_default_global_on_request():
    paddle.seed(0)
    assert isinstance(PPO(ACModel()).optimizer._grad_clip, nn.ClipGradByNorm)
    assert isinstance(PPO(ACModel(), grad_clip="global_norm").optimizer._grad_clip, nn.ClipGradByGlobalNorm)
    with pytest.raises(ValueError, match="grad_clip"):
        PPO(ACModel(), grad_clip="value")


def test_ppo_diagnostics():
    """CleanRL's approx. KL, clip fraction and explained variance, checked against numpy."""
    alg = PPO(ACModel(), clip_param=0.2)
    obs, act, val, ret, logp, adv = _batch(False)
    logits = alg.model.policy(paddle.to_tensor(obs)).numpy().astype(np.float64)
    log_p = logits - np.log(np.exp(logits).sum(-1, keepdims=True))
    log_ratio = log_p[np.arange(B), act] - logp
    ratio = np.exp(log_ratio)
    losses = alg.learn(obs, act, val, ret, logp, adv)
    assert len(losses) == 3  # PARL's return value is unchanged
    d = alg.diagnostics
    assert d["approx_kl"] == pytest.approx(np.mean((ratio - 1) - log_ratio), rel=1e-4)
    assert d["clip_fraction"] == pytest.approx(np.mean(np.abs(ratio - 1) > 0.2))
    assert 0 < d["clip_fraction"] < 1
    assert d["explained_variance"] == pytest.approx(1 - np.var(ret - val) / np.var(ret), rel=1e-4)
