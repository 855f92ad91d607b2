"""PARL's QuickStart (examples/QuickStart: cartpole_model.py, cartpole_agent.py, train.py) run
with ``import fastparl as parl`` and no other change to the PARL-API code: gymnasium's new step/reset
API is adapted by ``parl.env.CompatWrapper``, exactly as PARL's own train.py does.
"""

# ruff: noqa: UP008, UP032, B007, N806  (PARL's code is kept verbatim)
from __future__ import annotations

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")
gym = pytest.importorskip("gymnasium")

import paddle.nn as nn  # noqa: E402
import paddle.nn.functional as F  # noqa: E402

import fastparl as parl  # noqa: E402
from fastparl.env import CompatWrapper  # noqa: E402
from fastparl.utils import logger  # noqa: E402

LEARNING_RATE = 1e-3


# ---- PARL examples/QuickStart/cartpole_model.py (verbatim but for the import) ----
class CartpoleModel(parl.Model):
    """ Linear network to solve Cartpole problem.

    Args:
        obs_dim (int): Dimension of observation space.
        act_dim (int): Dimension of action space.
    """

    def __init__(self, obs_dim, act_dim):
        super(CartpoleModel, self).__init__()
        hid1_size = act_dim * 10
        self.fc1 = nn.Linear(obs_dim, hid1_size)
        self.fc2 = nn.Linear(hid1_size, act_dim)

    def forward(self, x):
        out = paddle.tanh(self.fc1(x))
        prob = F.softmax(self.fc2(out), axis=-1)
        return prob


# ---- PARL examples/QuickStart/cartpole_agent.py (verbatim) ----
class CartpoleAgent(parl.Agent):
    """Agent of Cartpole env.

    Args:
        algorithm(parl.Algorithm): algorithm used to solve the problem.

    """

    def __init__(self, algorithm):
        super(CartpoleAgent, self).__init__(algorithm)

    def sample(self, obs):
        obs = paddle.to_tensor(obs, dtype='float32')
        prob = self.alg.predict(obs)
        prob = prob.numpy()
        act = np.random.choice(len(prob), 1, p=prob)[0]
        return act

    def predict(self, obs):
        obs = paddle.to_tensor(obs, dtype='float32')
        prob = self.alg.predict(obs)
        act = int(prob.argmax())
        return act

    def learn(self, obs, act, reward):
        act = np.expand_dims(act, axis=-1)
        reward = np.expand_dims(reward, axis=-1)

        obs = paddle.to_tensor(obs, dtype='float32')
        act = paddle.to_tensor(act, dtype='int32')
        reward = paddle.to_tensor(reward, dtype='float32')

        loss = self.alg.learn(obs, act, reward)
        return float(loss)


# ---- PARL examples/QuickStart/train.py (functions verbatim) ----
def run_train_episode(agent, env):
    obs_list, action_list, reward_list = [], [], []
    obs = env.reset()
    while True:
        obs_list.append(obs)
        action = agent.sample(obs)
        action_list.append(action)

        obs, reward, done, info = env.step(action)
        reward_list.append(reward)

        if done:
            break
    return obs_list, action_list, reward_list


def run_evaluate_episodes(agent, env, eval_episodes=5):
    eval_reward = []
    for i in range(eval_episodes):
        obs = env.reset()
        episode_reward = 0
        while True:
            action = agent.predict(obs)
            obs, reward, isOver, _ = env.step(action)
            episode_reward += reward
            if isOver:
                break
        eval_reward.append(episode_reward)
    return np.mean(eval_reward)


def calc_reward_to_go(reward_list, gamma=1.0):
    for i in range(len(reward_list) - 2, -1, -1):
        # G_i = r_i + γ·G_i+1
        reward_list[i] += gamma * reward_list[i + 1]  # Gt
    return np.array(reward_list)


def test_parl_quickstart_runs_unchanged(tmp_path):
    np.random.seed(0)
    paddle.seed(0)
    env = CompatWrapper(gym.make('CartPole-v1'))
    env.seed(0)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.n
    logger.info('obs_dim {}, act_dim {}'.format(obs_dim, act_dim))

    model = CartpoleModel(obs_dim=obs_dim, act_dim=act_dim)
    alg = parl.algorithms.PolicyGradient(model, lr=LEARNING_RATE)
    agent = CartpoleAgent(alg)

    returns = []
    for i in range(200):
        obs_list, action_list, reward_list = run_train_episode(agent, env)
        returns.append(sum(reward_list))
        batch_obs = np.array(obs_list)
        batch_action = np.array(action_list)
        batch_reward = calc_reward_to_go(reward_list)
        loss = agent.learn(batch_obs, batch_action, batch_reward)
        assert np.isfinite(loss)
    # sampled returns rise (~24 -> ~47 with this seed; random play stays near 22) and the greedy policy
    # balances far longer than an untrained one (~9 to ~40)
    assert np.mean(returns[-20:]) > 1.5 * np.mean(returns[:20]), returns
    assert run_evaluate_episodes(agent, env) > 100

    path = str(tmp_path / 'model.ckpt')
    agent.save(path)
    agent2 = CartpoleAgent(parl.algorithms.PolicyGradient(CartpoleModel(obs_dim, act_dim), lr=LEARNING_RATE))
    saved, fresh = agent.get_weights(), agent2.get_weights()
    assert any(not np.array_equal(saved[k], fresh[k]) for k in saved)  # so restoring has something to do
    agent2.restore(path)
    restored = agent2.get_weights()
    assert sorted(restored) == sorted(saved) and all(np.array_equal(restored[k], saved[k]) for k in saved)
    probe = np.random.uniform(-0.5, 0.5, size=(100, obs_dim)).astype('float32')
    assert [agent2.predict(o) for o in probe] == [agent.predict(o) for o in probe]
    agent.save_inference_model(str(tmp_path / 'inference_model'), [[None, obs_dim]], ['float32'])


def test_parl_names_exist():
    from fastparl.algorithms import DDQN, DQN, PolicyGradient  # noqa: F401
    from fastparl.utils import ReplayMemory, logger, summary  # noqa: F401

    assert parl.algorithms.DQN is DQN
    for name in ('learn', 'predict', 'sample', 'save', 'restore', 'get_weights', 'set_weights', 'train', 'eval',
                 'save_inference_model'):
        assert callable(getattr(parl.Agent, name))
    for name in ('get_weights', 'set_weights', 'sync_weights_to'):
        assert callable(getattr(parl.Model, name))
    rpm = ReplayMemory(100, 4, 0)
    rpm.append(np.zeros(4), 1, 1.0, np.zeros(4), False)
    assert len(rpm) == 1 and len(rpm.sample_batch(2)) == 5
