"""Unit tests of ``parl.algorithms.QMIX``: batch layout, masking, Double-Q targets, target sync."""

from __future__ import annotations

import math

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.algorithms.qmix import QMIX  # noqa: E402
from fastparl.core import ModelMethodError  # noqa: E402

nn = paddle.nn
F = paddle.nn.functional
N_AGENTS, OBS, STATE, N_ACT, HID, B, T = 2, 5, 6, 3, 8, 4, 6


class Agent(parl.Model):
    def __init__(self) -> None:
        super().__init__()
        self.fc1 = nn.Linear(OBS, HID)
        self.rnn = nn.GRUCell(HID, HID)
        self.fc2 = nn.Linear(HID, N_ACT)

    def init_hidden(self):
        return paddle.zeros([1, HID])

    def forward(self, obs, hidden):
        _, h = self.rnn(F.relu(self.fc1(obs)), hidden.reshape([-1, HID]))
        return self.fc2(h), h


class Mixer(parl.Model):
    """Monotonic mixing: Q_tot = sum_i |w_i(s)| Q_i + b(s)."""

    def __init__(self) -> None:
        super().__init__()
        self.n_agents = N_AGENTS
        self.w = nn.Linear(STATE, N_AGENTS)
        self.b = nn.Linear(STATE, 1)

    def forward(self, agent_qs, states):
        return (paddle.abs(self.w(states)) * agent_qs).sum(-1, keepdim=True) + self.b(states)


def _qmix(**kw):
    paddle.seed(0)
    return QMIX(Agent(), Mixer(), **kw)


def _batch(seed=0, length=T - 2):
    """B episodes of ``length`` real steps, padded to T; step ``length`` holds the final state (filled)."""
    rng = np.random.default_rng(seed)
    filled = np.zeros((B, T, 1), np.float32)
    filled[:, length:] = 1.0
    avail = np.ones((B, T, N_AGENTS, N_ACT), np.int64)
    avail[:, :, 1, 2] = 0  # agent 1 may never take action 2
    actions = rng.integers(0, 2, (B, T, N_AGENTS))
    t = paddle.to_tensor
    return (t(rng.standard_normal((B, T, STATE)).astype(np.float32)), t(actions), t(rng.standard_normal((B, T, 1)).astype(np.float32)),
            t(filled), t(rng.standard_normal((B, T, N_AGENTS, OBS)).astype(np.float32)), t(avail), t(filled))


def test_registered_learn_returns_floats_and_loss_falls():
    assert parl.algorithms.QMIX is QMIX and "QMIX" in parl.algorithms.__all__
    alg = _qmix(clip_grad_norm=10.0, lr=5e-3)
    batch = _batch()
    loss0, td0 = alg.learn(*batch)
    assert isinstance(loss0, float) and isinstance(td0, float) and math.isfinite(loss0)
    for _ in range(100):
        loss, _ = alg.learn(*batch)
    assert loss < 0.5 * loss0


def _loss_of(alg, batch):
    """The loss ``learn`` reports, without changing the weights (learn on a copy of the state)."""
    state = {k: v.numpy().copy() for k, v in alg.agent_model.state_dict().items()}
    mix = {k: v.numpy().copy() for k, v in alg.qmixer_model.state_dict().items()}
    loss, _ = alg.learn(*batch)
    alg.agent_model.set_state_dict(state)
    alg.qmixer_model.set_state_dict(mix)
    return loss


def test_padding_is_masked_but_the_terminal_step_is_learned():
    alg = _qmix(gamma=0.9)
    state, actions, reward, terminated, obs, avail, filled = _batch()
    base = _loss_of(alg, (state, actions, reward, terminated, obs, avail, filled))
    noisy = reward.numpy().copy()
    noisy[:, T - 2:] += 100.0  # the rewards of the final-state step and the padding are never used
    assert _loss_of(alg, (state, actions, paddle.to_tensor(noisy), terminated, obs, avail, filled)) == pytest.approx(base)
    # An episode that *terminates* at its last real step: that transition's reward counts (PARL's mask drops it).
    term = terminated.numpy().copy()
    term[:, T - 3] = 1.0
    last = reward.numpy().copy()
    last[:, T - 3] += 100.0
    with_term = _loss_of(alg, (state, actions, reward, paddle.to_tensor(term), obs, avail, filled))
    assert _loss_of(alg, (state, actions, paddle.to_tensor(last), paddle.to_tensor(term), obs, avail, filled)) > with_term + 100


def test_double_q_target_uses_online_argmax_and_available_actions():
    """The target evaluates, with the target nets, the online nets' best *available* next actions."""
    for double_q in (True, False):
        alg = _qmix(double_q=double_q, gamma=0.5)
        state, actions, reward, terminated, obs, avail, filled = _batch(3, length=T - 1)
        with paddle.no_grad():
            for p in alg.target_agent_model.parameters():  # target nets differ from the online ones
                p.set_value(p + paddle.randn(p.shape) * 0.5)
            alg._init_hidden_states(B)
            online, target = [], []
            for t in range(T):
                o = obs[:, t].reshape([-1, OBS])
                q, alg.hidden_states = alg.agent_model(o, alg.hidden_states)
                tq, alg.target_hidden_states = alg.target_agent_model(o, alg.target_hidden_states)
                online.append(q.reshape([B, N_AGENTS, N_ACT]).numpy())
                target.append(tq.reshape([B, N_AGENTS, N_ACT]).numpy())
        online, target = np.stack(online, 1), np.stack(target, 1)
        online[avail.numpy() == 0] = -np.inf
        target[avail.numpy() == 0] = -np.inf
        chooser = online if double_q else target
        best = np.take_along_axis(target, chooser.argmax(-1)[..., None], -1)[..., 0][:, 1:]
        assert np.all(np.isfinite(best))  # never the forbidden action
        with paddle.no_grad():
            expected_target = reward[:, :-1] + 0.5 * (1 - terminated[:, :-1]) * alg.target_qmixer_model(
                paddle.to_tensor(best.astype(np.float32)), state[:, 1:])
            chosen = np.take_along_axis(np.stack([o for o in online.transpose(1, 0, 2, 3)], 1), actions.numpy()[..., None],
                                        -1)[..., 0][:, :-1]
            q_tot = alg.qmixer_model(paddle.to_tensor(chosen.astype(np.float32)), state[:, :-1])
        mask = 1 - filled.numpy()[:, :-1]
        expected = (((expected_target - q_tot).numpy() * mask) ** 2).sum() / mask.sum()
        assert _loss_of(alg, (state, actions, reward, terminated, obs, avail, filled)) == pytest.approx(expected, rel=1e-4)


def test_sync_target_copies_both_networks():
    alg = _qmix()
    for _ in range(3):
        alg.learn(*_batch())
    assert any(not np.array_equal(p.numpy(), q.numpy())
               for p, q in zip(alg.agent_model.parameters(), alg.target_agent_model.parameters(), strict=True))
    alg.sync_target()
    for a, b in ((alg.agent_model, alg.target_agent_model), (alg.qmixer_model, alg.target_qmixer_model)):
        for p, q in zip(a.parameters(), b.parameters(), strict=True):
            np.testing.assert_array_equal(p.numpy(), q.numpy())


def test_argument_errors():
    class NoAgents(parl.Model):
        def forward(self, q, s):
            return q

    with pytest.raises(TypeError, match="n_agents"):
        QMIX(Agent(), NoAgents())

    class NoHidden(parl.Model):
        def forward(self, obs, h):
            return obs, h

    with pytest.raises(ModelMethodError, match="init_hidden"):
        QMIX(NoHidden(), Mixer())
    with pytest.raises(ValueError, match="gamma"):
        _qmix(gamma=1.5)
    with pytest.raises(TypeError, match="double_q"):
        _qmix(double_q="yes")


@pytest.mark.parametrize("double_q", [True, False])
def test_no_bootstrap_past_a_terminal_step(double_q):
    """An episode that terminates at its last real step (padded after it): that step's target is its reward
    alone, so whatever follows (the final state and observations, read only by the target nets) cannot
    change the loss.  Without the termination it does (the control)."""
    alg = _qmix(double_q=double_q, gamma=0.9)
    state, actions, reward, _, obs, avail, filled = _batch(5)  # real steps 0..T-3, filled from T-2
    last = T - 3
    term = np.zeros((B, T, 1), np.float32)
    term[:, last] = 1.0  # terminates at its last real step; nothing after it is flagged (padding)
    with paddle.no_grad():  # target nets differ from the online ones, and their values are large
        for p in alg.target_qmixer_model.parameters():
            p.set_value(p + 50.0)
    other_state, other_obs = state.numpy().copy(), obs.numpy().copy()
    other_state[:, last + 1:] += 7.0
    other_obs[:, last + 1:] -= 3.0
    other = (paddle.to_tensor(other_state), paddle.to_tensor(other_obs))

    def loss(terminated, s, o):
        return _loss_of(alg, (s, actions, reward, paddle.to_tensor(terminated), o, avail, filled))

    base = loss(term, state, obs)
    assert loss(term, *other) == pytest.approx(base, rel=1e-6)
    not_term = np.zeros_like(term)
    assert loss(not_term, *other) != pytest.approx(loss(not_term, state, obs), rel=1e-3)
    # and the terminal step's target is exactly its reward: change only that reward by d, the loss moves as
    # (r + d - q)^2 - (r - q)^2 summed over the B episodes, averaged over the unmasked steps
    d = 2.0
    bumped = reward.numpy().copy()
    bumped[:, last] += d
    with paddle.no_grad():
        alg._init_hidden_states(B)
        qs = []
        for t in range(last + 1):
            q, alg.hidden_states = alg.agent_model(obs[:, t].reshape([-1, OBS]), alg.hidden_states)
            qs.append(q.reshape([B, N_AGENTS, N_ACT]).numpy())
        chosen = np.take_along_axis(qs[last], actions.numpy()[:, last][..., None], -1)[..., 0]
        q_tot = alg.qmixer_model(paddle.to_tensor(chosen[:, None].astype(np.float32)),
                                 state[:, last:last + 1]).numpy()[:, 0, 0]
    r = reward.numpy()[:, last, 0]
    n_unmasked = float((1 - filled.numpy()[:, :-1]).sum())
    expected = base + (((r + d - q_tot) ** 2) - ((r - q_tot) ** 2)).sum() / n_unmasked
    got = _loss_of(alg, (state, actions, paddle.to_tensor(bumped), paddle.to_tensor(term), obs, avail, filled))
    assert got == pytest.approx(expected, rel=1e-4)
