"""A DQN program in PARL's shape (examples/DQN): ReplayMemory, parl.algorithms.DQN, CompatWrapper.

Seeding np.random and paddle is all it does for repeatability: ReplayMemory draws its batches from
NumPy's global generator, as in PARL, so two runs with the same --seed end with the same weights.
"""

import argparse
import hashlib
import json

import gymnasium as gym
import numpy as np
import paddle

from cartpole_agent import CartpoleAgent
from cartpole_model import CartpoleModel
from fastparl.algorithms import DQN
from fastparl.env import CompatWrapper, is_gym_version_ge
from fastparl.utils import ReplayMemory, logger

LEARN_FREQ = 1
MEMORY_SIZE = 20000
MEMORY_WARMUP_SIZE = 200
BATCH_SIZE = 32
LEARNING_RATE = 1e-3
GAMMA = 0.99


def run_train_episode(agent, env, rpm):
    total_reward, step, losses = 0, 0, []
    obs = env.reset()
    while True:
        step += 1
        action = agent.sample(obs)
        next_obs, reward, done, _ = env.step(action)
        rpm.append(obs, action, reward, next_obs, done)
        if len(rpm) > MEMORY_WARMUP_SIZE and step % LEARN_FREQ == 0:
            losses.append(agent.learn(*rpm.sample_batch(BATCH_SIZE)))
        total_reward += reward
        obs = next_obs
        if done:
            return total_reward, step, losses


def main(args):
    np.random.seed(args.seed)
    paddle.seed(args.seed)
    assert is_gym_version_ge('0.26.0')
    env = CompatWrapper(gym.make('CartPole-v1'))
    env.seed(args.seed)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.n

    rpm = ReplayMemory(MEMORY_SIZE, obs_dim, 0)
    model = CartpoleModel(obs_dim=obs_dim, act_dim=act_dim)
    alg = DQN(model, gamma=GAMMA, lr=LEARNING_RATE)
    agent = CartpoleAgent(alg, act_dim=act_dim, e_greed=1.0, e_greed_decrement=1.0 / args.explore_steps)

    returns, losses, total_steps = [], [], 0
    while total_steps < args.steps:
        episode_return, steps, episode_losses = run_train_episode(agent, env, rpm)
        returns.append(episode_return)
        losses += episode_losses
        total_steps += steps
    logger.info('{} episodes, first 10 return {}, last 10 {}'.format(
        len(returns), np.mean(returns[:10]), np.mean(returns[-10:])))
    digest = hashlib.sha1(b''.join(np.ascontiguousarray(w).tobytes()
                                   for _, w in sorted(agent.get_weights().items()))).hexdigest()
    print('RESULT ' + json.dumps({'first': float(np.mean(returns[:10])), 'last': float(np.mean(returns[-10:])),
                                  'losses_finite': bool(np.all(np.isfinite(losses))), 'weights': digest}))


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--steps', type=int, default=3000)
    parser.add_argument('--explore_steps', type=int, default=1500)
    parser.add_argument('--seed', type=int, default=0)
    main(parser.parse_args())
