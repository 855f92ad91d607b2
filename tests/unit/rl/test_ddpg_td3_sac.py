"""Unit tests of ``parl.algorithms.DDPG``, ``TD3`` and ``SAC``: shapes, losses, target sync, save/restore."""

from __future__ import annotations

import math
import os
import sys

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.ddpg import DDPG  # noqa: E402
from fastparl.algorithms.sac import SAC  # noqa: E402
from fastparl.algorithms.td3 import TD3  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402

nn = paddle.nn
F = paddle.nn.functional
OBS, ACT, B, H = 3, 2, 32, 16
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))


class Actor(parl.Model):
    def __init__(self, gaussian: bool = False) -> None:
        super().__init__()
        self.l1 = nn.Linear(OBS, H)
        self.l2 = nn.Linear(H, ACT)
        self.gaussian = gaussian
        if gaussian:
            self.std = nn.Linear(H, ACT)

    def forward(self, obs):
        h = F.relu(self.l1(obs))
        if self.gaussian:
            return self.l2(h), paddle.clip(self.std(h), -20.0, 2.0)
        return paddle.tanh(self.l2(h))


class Critic(parl.Model):
    def __init__(self, twin: bool) -> None:
        super().__init__()
        self.twin = twin
        self.q1 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))
        self.q2 = nn.Sequential(nn.Linear(OBS + ACT, H), nn.ReLU(), nn.Linear(H, 1))

    def forward(self, obs, act):
        sa = paddle.concat([obs, act], 1)
        return (self.q1(sa), self.q2(sa)) if self.twin else self.q1(sa)

    def Q1(self, obs, act):  # noqa: N802 - PARL's name
        return self.q1(paddle.concat([obs, act], 1))


class ACModel(parl.Model):
    """PARL's MujocoModel interface: policy, value, Q1, get_actor_params, get_critic_params."""

    def __init__(self, twin: bool = True, gaussian: bool = False) -> None:
        super().__init__()
        self.actor_model = Actor(gaussian)
        self.critic_model = Critic(twin)

    def policy(self, obs):
        return self.actor_model(obs)

    def value(self, obs, act):
        return self.critic_model(obs, act)

    def Q1(self, obs, act):  # noqa: N802
        return self.critic_model.Q1(obs, act)

    def get_actor_params(self):
        return self.actor_model.parameters()

    def get_critic_params(self):
        return self.critic_model.parameters()


def make(name: str, **kw):
    paddle.seed(0)
    if name == "DDPG":
        return DDPG(ACModel(twin=False), gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3, **kw)
    if name == "TD3":
        return TD3(ACModel(), gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3, **kw)
    return SAC(ACModel(gaussian=True), gamma=0.99, tau=0.005, alpha=0.2, actor_lr=1e-3, critic_lr=1e-3, **kw)


def batch(seed: int = 0):
    rng = np.random.default_rng(seed)
    t = lambda *s: paddle.to_tensor(rng.standard_normal(s).astype("float32"))  # noqa: E731
    act = paddle.to_tensor(rng.uniform(-1, 1, (B, ACT)).astype("float32"))
    terminal = paddle.to_tensor((rng.random((B, 1)) < 0.1).astype("float32"))
    return t(B, OBS), act, t(B, 1), t(B, OBS), terminal


def params(layer) -> list[np.ndarray]:
    return [p.numpy().copy() for p in layer.parameters()]


def same(a, b) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_registered_in_parl_algorithms():
    assert parl.algorithms.DDPG is DDPG and parl.algorithms.TD3 is TD3 and parl.algorithms.SAC is SAC
    assert {"DDPG", "TD3", "SAC"} <= set(parl.algorithms.__all__)


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_learn_returns_finite_losses_and_predict_shapes(name):
    alg = make(name)
    out = alg.learn(*batch())
    losses = out if isinstance(out, tuple) else (out,)
    assert len(losses) == (1 if name == "TD3" else 2)  # PARL: TD3 returns the critic loss only
    assert all(math.isfinite(float(x)) for x in losses)
    action = alg.predict(batch()[0])
    assert tuple(action.shape) == (B, ACT)
    assert float(action.abs().max()) <= 1.0
    assert isinstance(alg.target_model, ACModel) and alg.target_model is not alg.model


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_learning_reduces_critic_loss_on_fixed_batch(name):
    alg = make(name)
    data = batch()
    first = float((alg.learn(*data) if name == "TD3" else alg.learn(*data)[0]))
    for _ in range(150):
        out = alg.learn(*data)
    last = float(out if name == "TD3" else out[0])
    assert last < first


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_sync_target_decay_semantics(name):
    alg = make(name)
    alg.learn(*batch())
    alg.learn(*batch(1))
    src, old = params(alg.model), params(alg.target_model)
    assert not same(src, old)
    alg.sync_target(decay=0.7)  # target = 0.7 * target + 0.3 * model
    for s, o, n in zip(src, old, params(alg.target_model), strict=True):
        np.testing.assert_allclose(n, 0.7 * o + 0.3 * s, rtol=1e-5, atol=1e-6)
    mid = params(alg.target_model)
    alg.sync_target()  # default: decay = 1 - tau
    for s, o, n in zip(src, mid, params(alg.target_model), strict=True):
        np.testing.assert_allclose(n, (1 - alg.tau) * o + alg.tau * s, rtol=1e-5, atol=1e-6)
    alg.sync_target(decay=0)
    assert same(params(alg.target_model), src)
    with pytest.raises(ValueError, match="decay"):
        alg.sync_target(decay=1.5)


def test_ddpg_and_sac_soft_update_every_learn():
    for name in ("DDPG", "SAC"):
        alg = make(name)
        before = params(alg.target_model)
        alg.learn(*batch())
        assert not same(before, params(alg.target_model)), name


def test_td3_delayed_policy_update():
    alg = make("TD3", policy_freq=3)
    actor, target = alg.model.actor_model, alg.target_model
    history = []
    for i in range(6):
        a0, t0 = params(actor), params(target)
        alg.learn(*batch(i))
        history.append((not same(a0, params(actor)), not same(t0, params(target))))
    # actor step and target sync on the 3rd and 6th calls only; critics learn every call
    assert history == [(False, False), (False, False), (True, True)] * 2
    assert alg.total_it == 6 and alg.actor_loss is not None and math.isfinite(float(alg.actor_loss))


def test_td3_target_policy_smoothing_noise_is_clipped():
    alg = make("TD3", policy_noise=0.0, noise_clip=0.0)
    alg.learn(*batch())  # zero noise is valid
    with pytest.raises(ValueError, match="noise_clip"):
        make("TD3", noise_clip=-0.1)


def test_sac_sample_log_prob_matches_tanh_gaussian():
    alg = make("SAC")
    obs = batch()[0]
    action, log_prob = alg.sample(obs)
    assert tuple(action.shape) == (B, ACT) and tuple(log_prob.shape) == (B, 1)
    mean, log_std = (t.numpy().astype(np.float64) for t in alg.model.policy(obs))
    a = action.numpy().astype(np.float64)
    x = np.arctanh(np.clip(a, -0.999999, 0.999999))
    ref = -0.5 * ((x - mean) / np.exp(log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi) - np.log(1 - a**2)
    np.testing.assert_allclose(log_prob.numpy()[:, 0], ref.sum(-1), rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(alg.predict(obs).numpy(), np.tanh(mean), rtol=1e-5, atol=1e-6)


def test_sac_alpha_fixed_or_learned():
    alg = make("SAC")
    alg.learn(*batch())
    assert alg.alpha == 0.2 and alg.log_alpha is None  # PARL: fixed temperature
    auto = make("SAC", alpha_lr=0.05)
    for i in range(5):
        auto.learn(*batch(i))
    assert auto.target_entropy == -ACT
    assert auto.alpha != 0.2 and math.isclose(auto.alpha, auto.log_alpha.exp().item(), rel_tol=1e-6)
    custom = make("SAC", alpha_lr=0.05, target_entropy=5.0)  # entropy far above reach: alpha must grow
    for i in range(5):
        custom.learn(*batch(i))
    assert custom.alpha > 0.2


def test_sac_entropy_term_changes_actor_loss():
    losses = []
    for alpha in (0.0, 1.0):
        paddle.seed(0)
        alg = SAC(ACModel(gaussian=True), gamma=0.99, tau=0.005, alpha=alpha, actor_lr=1e-3, critic_lr=1e-3)
        paddle.seed(1)
        losses.append(float(alg.learn(*batch())[1]))
    assert losses[0] != pytest.approx(losses[1])


class TinyAgent(parl.Agent):
    def predict(self, obs):
        return self.alg.predict(paddle.to_tensor(obs)).numpy()


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_save_restore_via_agent(tmp_path, name):
    agent = TinyAgent(make(name))
    obs = batch()[0].numpy()
    before = agent.predict(obs)
    path = str(tmp_path / "model.ckpt")
    agent.save(path)
    for i in range(3):
        agent.alg.learn(*batch(i))
    assert not np.allclose(agent.predict(obs), before)
    agent.restore(path)
    np.testing.assert_allclose(agent.predict(obs), before, rtol=1e-6)
    assert set(agent.get_weights()) == set(agent.alg.model.state_dict())


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_missing_or_bad_hyper_parameters_raise_clear_errors(name):
    model = ACModel(twin=name != "DDPG", gaussian=name == "SAC")
    cls = {"DDPG": DDPG, "TD3": TD3, "SAC": SAC}[name]
    full = dict(gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)
    if name == "SAC":
        full["alpha"] = 0.2
    with pytest.raises(TypeError, match="gamma.*e.g."):
        cls(model, **{**full, "gamma": None})
    with pytest.raises(TypeError, match="tau"):
        cls(model, **{**full, "tau": "0.005"})
    with pytest.raises(ValueError, match="gamma must be in"):
        cls(model, **{**full, "gamma": 1.5})
    with pytest.raises(ValueError, match="tau must be in"):
        cls(model, **{**full, "tau": -0.1})
    with pytest.raises(ValueError, match="actor_lr must be > 0"):
        cls(model, **{**full, "actor_lr": 0.0})
    cls(model, **{**full, "gamma": 1})  # ints are fine (PARL asserts float)


def test_model_interface_errors():
    class NoQ1(ACModel):
        Q1 = None

    with pytest.raises(ModelMethodError, match="Q1"):
        TD3(NoQ1(), gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)

    class NoActorParams(ACModel):
        get_actor_params = None

    with pytest.raises(AssertionError, match="get_actor_params"):  # PARL code catching AssertionError still works
        DDPG(NoActorParams(twin=False), gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)
    for bad in (0, 1.5, True):
        with pytest.raises(ValueError, match="policy_freq"):
            make("TD3", policy_freq=bad)
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        SAC(ACModel(gaussian=True), gamma=0.99, tau=0.005, alpha=-1.0, actor_lr=1e-3, critic_lr=1e-3)
    with pytest.raises(ValueError, match="initial alpha > 0"):
        SAC(ACModel(gaussian=True), gamma=0.99, tau=0.005, alpha=0.0, actor_lr=1e-3, critic_lr=1e-3, alpha_lr=1e-3)


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_example_agents_act_in_numpy_like_paddle(name):
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    from _examples import load_example

    mod = load_example(name)
    agent = mod.make_agent(OBS, ACT, mod.Args(hidden=32))
    alg = agent.alg
    assert same(params(alg.model), params(alg.target_model))  # synced at construction, as PARL
    obs = np.random.default_rng(0).standard_normal((5, OBS)).astype(np.float32)
    for _ in range(2):
        expected = alg.predict(paddle.to_tensor(obs)).numpy()
        np.testing.assert_allclose(agent.predict(obs), expected, rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(agent.predict(obs[0]), expected[0], rtol=1e-4, atol=1e-5)
        loss = agent.learn(obs, np.zeros((5, ACT), np.float32), np.ones(5, np.float32), obs, np.zeros(5, bool))
        assert math.isfinite(loss)  # the numpy views see the updated weights on the next pass
    sample = agent.sample(obs[0])
    assert sample.shape == (ACT,) and sample.dtype == np.float32 and np.all(np.abs(sample) <= 1.0)


def _parl_sac_sample(model, obs):
    """PARL 2.x's paddle ``SAC.sample``, written from its formula with ``paddle.distribution.Normal``."""
    from paddle.distribution import Normal

    mean, log_std = model.policy(obs)
    normal = Normal(mean, log_std.exp())
    x_t = normal.sample([1])
    action = paddle.tanh(x_t)
    log_prob = normal.log_prob(x_t) - paddle.log((1 - action.pow(2)) + 1e-6)
    return action[0], paddle.sum(log_prob, axis=-1, keepdim=True)[0]


def test_sac_gives_parl_numbers():
    """Same seed, same batches: SAC's weights equal those of PARL's SAC to the bit (PARL's log-prob formula)."""
    import copy

    alg = make("SAC")
    ref = copy.deepcopy(alg.model)
    ref_target = copy.deepcopy(alg.target_model)
    actor_opt = paddle.optimizer.Adam(learning_rate=1e-3, parameters=ref.get_actor_params())
    critic_opt = paddle.optimizer.Adam(learning_rate=1e-3, parameters=ref.get_critic_params())
    for step in range(4):
        obs, act, reward, next_obs, terminal = batch(step)
        paddle.seed(100 + step)
        alg.learn(obs, act, reward, next_obs, terminal)
        paddle.seed(100 + step)
        with paddle.no_grad():
            next_action, next_logp = _parl_sac_sample(ref, next_obs)
            q1, q2 = ref_target.value(next_obs, next_action)
            target_q = reward + 0.99 * (1.0 - terminal) * (paddle.minimum(q1, q2) - 0.2 * next_logp)
        c1, c2 = ref.value(obs, act)
        critic_opt.clear_grad()
        (F.mse_loss(c1, target_q) + F.mse_loss(c2, target_q)).backward()
        critic_opt.step()
        a, logp = _parl_sac_sample(ref, obs)
        q1, q2 = ref.value(obs, a)
        actor_opt.clear_grad()
        (0.2 * logp - paddle.minimum(q1, q2)).mean().backward()
        actor_opt.step()
        ref.sync_weights_to(ref_target, decay=0.995)
    for (name, p), q in zip(alg.model.named_parameters(), ref.parameters(), strict=True):
        np.testing.assert_array_equal(p.numpy(), q.numpy(), err_msg=name)


def test_sac_stable_log_prob_option():
    """``stable_log_prob=True`` uses the exact tanh correction: equal where tanh is not saturated, finite beyond."""
    mean = paddle.to_tensor([[0.3, -1.0], [9.0, -9.5]])
    log_std = paddle.full([2, 2], -3.0)
    from fastparl.algorithms.common import tanh_gaussian_sample

    paddle.seed(3)
    _, parl_lp = tanh_gaussian_sample(mean, log_std)
    paddle.seed(3)
    _, exact_lp = tanh_gaussian_sample(mean, log_std, stable=True)
    np.testing.assert_allclose(exact_lp.numpy()[0], parl_lp.numpy()[0], rtol=1e-4)
    # |x| > 9: PARL's 1e-6 floor caps log(1 - tanh(x)^2) at -13.8 where the exact value is below -16
    assert exact_lp.numpy()[1, 0] > parl_lp.numpy()[1, 0] + 5
    with pytest.raises(TypeError, match="stable_log_prob"):
        make("SAC", stable_log_prob=1)


@pytest.mark.parametrize("name", ["DDPG", "TD3", "SAC"])
def test_the_actor_step_computes_no_critic_weight_gradients_and_changes_no_number(name, monkeypatch):
    """The critic is frozen for the actor's backward pass (its weight gradients were thrown away unread);
    the updates stay bit-identical to the unfrozen ones."""
    alg = make(name, policy_freq=1) if name == "TD3" else make(name)
    obs = batch(0)[0]
    for p in alg.model.get_critic_params():
        p.clear_gradient(False)
    alg._actor_learn(obs)
    assert all(p.grad is None for p in alg.model.get_critic_params()), name
    assert all(not p.stop_gradient for p in alg.model.get_critic_params())  # unfrozen after the step
    assert all(p.grad is not None for p in alg.model.get_actor_params())

    import contextlib

    module = sys.modules[type(alg).__module__]
    runs = []
    for freeze in (True, False):
        if not freeze:
            monkeypatch.setattr(module, "frozen", lambda *a, **k: contextlib.nullcontext())
        alg = make(name, policy_freq=1) if name == "TD3" else make(name)
        paddle.seed(1)
        for i in range(5):
            alg.learn(*batch(i))
        runs.append(params(alg.model) + params(alg.target_model))
    assert same(*runs), name


class SharedModel(ACModel):
    """Actor and critic read the observation through one shared encoder (in both parameter lists)."""

    def __init__(self) -> None:
        super().__init__(twin=False)
        self.enc = nn.Linear(OBS, OBS)

    def policy(self, obs):
        return self.actor_model(F.relu(self.enc(obs)))

    def value(self, obs, act):
        return self.critic_model(F.relu(self.enc(obs)), act)

    def get_actor_params(self):
        return self.actor_model.parameters() + self.enc.parameters()

    def get_critic_params(self):
        return self.critic_model.parameters() + self.enc.parameters()


def test_a_layer_shared_by_actor_and_critic_still_learns_from_the_actor():
    paddle.seed(0)
    alg = DDPG(SharedModel(), gamma=0.99, tau=0.005, actor_lr=1e-3, critic_lr=1e-3)
    for p in alg.model.get_critic_params():
        p.clear_gradient(False)
    alg._actor_learn(batch(0)[0])
    assert all(p.grad is not None for p in alg.model.enc.parameters())
    assert all(p.grad is None for p in alg.model.critic_model.parameters())
