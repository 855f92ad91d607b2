"""Fast learning test: QMIX must solve the two-step cooperative game of the QMIX paper (Rashid et al. 2018, Fig. 3).

Agent 1's first action picks the second state: 2A pays 7 whatever the agents do; 2B pays the joint
payoff ``[[0, 1], [1, 8]]``.  The optimum (go to 2B, then both take action 1: 8) needs a mixer whose
weights depend on the state; an additive one (VDN) settles for 7.  All the reward comes with the
episode's terminal transition, which fastparl's QMIX learns from (PARL's loss mask drops it).  The
example's agent network, mixer and agent are used; data comes from uniform exploration, as in the paper.
"""

from __future__ import annotations

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
pytest.importorskip("mpe2")  # the example's module imports it lazily, but its tests run with the mpe extra

from _examples import load_example  # noqa: E402

PAYOFF = np.array([[0.0, 1.0], [1.0, 8.0]])
FIELDS = ("state", "actions", "reward", "terminated", "obs", "available_actions", "filled")


def _obs(state: int) -> np.ndarray:
    obs = np.zeros((2, 5), np.float32)  # state one-hot (1, 2A, 2B) + agent id
    obs[:, state] = 1.0
    obs[0, 3] = obs[1, 4] = 1.0
    return obs


def _play(agent, explore: bool) -> tuple[float, dict[str, np.ndarray]]:
    """One episode of the game: ``(return, the episode padded to 3 steps)``."""
    agent.reset_agent()
    avail = np.ones((2, 2), np.int64)
    ep: dict[str, list] = {k: [] for k in FIELDS}
    state, total = 0, 0.0
    for t in range(2):
        obs = _obs(state)
        actions = agent.sample(obs, avail) if explore else agent.predict(obs, avail)
        if t == 0:
            reward, next_state = 0.0, 1 if actions[0] == 0 else 2
        else:
            reward, next_state = 7.0 if state == 1 else float(PAYOFF[actions[0], actions[1]]), state
        for k, v in zip(FIELDS, (np.eye(3)[state], actions, [reward], [float(t == 1)], obs, avail, [0.0])):
            ep[k].append(v)
        total, state = total + reward, next_state
    for k, v in zip(FIELDS, (np.eye(3)[state], np.zeros(2, np.int64), [0.0], [1.0], _obs(state), avail, [1.0])):
        ep[k].append(v)
    return total, {k: np.asarray(v) for k, v in ep.items()}


@pytest.mark.slow
def test_qmix_solves_the_two_step_game():
    mod = load_example("QMIX")
    import fastparl as parl
    from fastparl.utils import set_seed

    set_seed(3, paddle=True)
    alg = parl.algorithms.QMIX(mod.RNNModel(5, 2, 16), mod.QMixerModel(2, 3, 8, 2, 16), double_q=True, gamma=0.99,
                               lr=5e-3, clip_grad_norm=10.0)
    agent = mod.QMixAgent(alg, exploration_start=1.0, min_exploration=1.0, exploration_decay=0.0,
                          update_target_interval=50, seed=3)
    buffer = mod.EpisodeReplayBuffer(500, 3, n_agents=2, state_dim=3, obs_dim=5, n_actions=2, seed=3)
    before = _play(agent, explore=False)[0]
    assert before < 8.0, before  # seed 3: the untrained greedy team scores 1
    for _ in range(300):
        buffer.add(_play(agent, explore=True)[1])
        if buffer.count >= 32:
            agent.learn(*buffer.sample_batch(32))
    assert _play(agent, explore=False)[0] == 8.0
    with paddle.no_grad():  # Q_tot of the start state approaches gamma * 8
        agent.reset_agent()
        q, _ = alg.predict_local_q(paddle.to_tensor(_obs(0)), alg.hidden_states)
        q_tot = alg.qmixer_model(q.max(axis=-1).reshape([1, 1, 2]), paddle.to_tensor(np.eye(3, dtype=np.float32)[:1]
                                                                                     .reshape(1, 1, 3)))
    assert 6.5 < float(q_tot.reshape([])) < 9.0
