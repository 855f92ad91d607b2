"""A QuickStart-shaped PolicyGradient program on CartPole, using only parl.* names (PARL's layout:
train.py + cartpole_model.py + cartpole_agent.py)."""

import argparse
import json
import os

import gymnasium as gym
import numpy as np
import paddle

import fastparl as parl
from cartpole_agent import CartpoleAgent
from cartpole_model import CartpoleModel
from fastparl.env import CompatWrapper
from fastparl.utils import logger, summary

LEARNING_RATE = 1e-2


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
    for _ in range(eval_episodes):
        obs = env.reset()
        episode_reward = 0
        while True:
            obs, reward, done, _ = env.step(agent.predict(obs))
            episode_reward += reward
            if done:
                break
        eval_reward.append(episode_reward)
    return np.mean(eval_reward)


def calc_reward_to_go(reward_list, gamma=0.99):
    for i in range(len(reward_list) - 2, -1, -1):
        reward_list[i] += gamma * reward_list[i + 1]
    return np.array(reward_list)


def main(args):
    np.random.seed(args.seed)
    paddle.seed(args.seed)
    logger.set_dir(os.path.join(args.logdir, 'pg'))
    env = CompatWrapper(gym.make('CartPole-v1'))
    env.seed(args.seed)
    eval_env = CompatWrapper(gym.make('CartPole-v1'))
    eval_env.seed(args.seed + 1)
    obs_dim = env.observation_space.shape[0]
    act_dim = env.action_space.n

    model = CartpoleModel(obs_dim=obs_dim, act_dim=act_dim)
    alg = parl.algorithms.PolicyGradient(model, lr=LEARNING_RATE)
    agent = CartpoleAgent(alg)

    returns = []
    for i in range(args.episodes):
        obs_list, action_list, reward_list = run_train_episode(agent, env)
        returns.append(sum(reward_list))
        summary.add_scalar('train/episode_reward', returns[-1], i)
        agent.learn(np.array(obs_list), np.array(action_list), calc_reward_to_go(reward_list))
    first, last = np.mean(returns[:20]), np.mean(returns[-20:])
    eval_reward = run_evaluate_episodes(agent, eval_env, eval_episodes=2)
    logger.info('train reward: first 20 episodes {}, last 20 {}; eval {}'.format(first, last, eval_reward))

    save_path = os.path.join(args.logdir, 'model.ckpt')
    agent.save(save_path)
    restored = CartpoleAgent(parl.algorithms.PolicyGradient(CartpoleModel(obs_dim, act_dim), lr=LEARNING_RATE))
    restored.restore(save_path)
    probe = np.random.uniform(-0.2, 0.2, size=(64, obs_dim)).astype('float32')
    same = all(restored.predict(o) == agent.predict(o) for o in probe)
    print('RESULT ' + json.dumps({'first': float(first), 'last': float(last), 'eval': float(eval_reward),
                                  'restored_same': same, 'logdir': summary.logdir}))


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--episodes', type=int, default=200)
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--logdir', type=str, default='./train_log')
    main(parser.parse_args())
