"""An A2C program in the shape of PARL's examples/A2C actor, on CartPole: parl.env's VectorEnv of old-API envs
(CompatWrapper, MonitorEnv, get_wrapper_by_cls), parl.utils.rl_utils.calc_gae and PARL's schedulers; then
PARL's continuous-control wrappers (ActionMappingWrapper, mujoco_wrappers.wrap_rms) on Pendulum."""

import argparse
import json
from collections import defaultdict

import gymnasium as gym
import numpy as np
import paddle

from cartpole_agent import A2CAgent
from cartpole_model import ActorCriticModel
from fastparl.algorithms import A2C
from fastparl.env import ActionMappingWrapper, CompatWrapper, VectorEnv
from fastparl.env.atari_wrappers import MonitorEnv, get_wrapper_by_cls
from fastparl.env.mujoco_wrappers import get_ob_rms, wrap_rms
from fastparl.utils import logger
from fastparl.utils.rl_utils import calc_gae

config = {
    'env_num': 8,
    'sample_batch_steps': 16,
    'max_sample_steps': int(1e5),
    'gamma': 0.99,
    'lambda': 0.95,
    'start_lr': 0.003,
    'entropy_coeff_scheduler': [(0, -0.01), (100, -0.001)],
    'vf_loss_coeff': 0.5,
}


def sample(agent, vector_env, obs_batch):
    sample_data = defaultdict(list)
    env_data = {i: defaultdict(list) for i in range(config['env_num'])}
    for i in range(config['sample_batch_steps']):
        actions, values = agent.sample(np.stack(obs_batch))
        next_obs_batch, reward_batch, done_batch, _ = vector_env.step(actions)
        for env_id in range(config['env_num']):
            data = env_data[env_id]
            data['obs'].append(obs_batch[env_id])
            data['actions'].append(actions[env_id])
            data['rewards'].append(reward_batch[env_id])
            data['values'].append(values[env_id])
            if done_batch[env_id] or i == config['sample_batch_steps'] - 1:
                next_value = 0
                if not done_batch[env_id]:
                    next_value = agent.value(np.expand_dims(next_obs_batch[env_id], 0))[0]
                advantages = calc_gae(data['rewards'], data['values'], next_value, config['gamma'],
                                      config['lambda'])
                sample_data['obs'].extend(data['obs'])
                sample_data['actions'].extend(data['actions'])
                sample_data['advantages'].extend(advantages)
                sample_data['target_values'].extend(advantages + np.array(data['values']))
                env_data[env_id] = defaultdict(list)
        obs_batch = next_obs_batch
    return {k: np.stack(v) for k, v in sample_data.items()}, obs_batch


def check_continuous_wrappers(seed):
    """PARL's DDPG/SAC wrapping (CompatWrapper + ActionMappingWrapper) and PPO's wrap_rms, random actions."""
    env = ActionMappingWrapper(CompatWrapper(gym.make('Pendulum-v1')))
    env.seed(seed)
    env.reset()
    steps, done = 0, False
    while not done:
        _, _, done, _ = env.step(np.random.uniform(-1, 1, size=env.action_space.shape[0]))
        steps += 1
    rms_env = wrap_rms(gym.make('Pendulum-v1'), gamma=0.99)
    rms_env.seed(seed)
    rms_env.reset()
    info = {}
    for _ in range(env._max_episode_steps):
        _, _, done, info = rms_env.step(np.random.uniform(-2, 2, size=1).astype('float32'))
    return {'episode_steps': steps, 'bad_transition': bool(info.get('bad_transition')),
            'rms_count': float(get_ob_rms(rms_env).count)}


def main(args):
    np.random.seed(args.seed)
    paddle.seed(args.seed)
    envs = []
    for i in range(config['env_num']):
        env = MonitorEnv(CompatWrapper(gym.make('CartPole-v1')))
        env.seed(args.seed + i)
        envs.append(env)
    vector_env = VectorEnv(envs)
    obs_batch = vector_env.reset()
    obs_dim, act_dim = envs[0].observation_space.shape[0], envs[0].action_space.n

    agent = A2CAgent(A2C(ActorCriticModel(obs_dim, act_dim), vf_loss_coeff=config['vf_loss_coeff']), config)
    episodes = []
    for _ in range(args.updates):
        batch, obs_batch = sample(agent, vector_env, obs_batch)
        loss, lr, entropy_coeff = agent.learn(batch['obs'], batch['actions'], batch['advantages'],
                                              batch['target_values'])
        for env in envs:  # returns of the episodes finished since the last update, as PARL's get_metrics
            episodes += [r for r, _ in get_wrapper_by_cls(env, MonitorEnv).next_episode_results()]
    logger.info('{} episodes: first 10 {}, last 10 {}; lr {:.5f}, entropy coeff {}'.format(
        len(episodes), np.mean(episodes[:10]), np.mean(episodes[-10:]), lr, entropy_coeff))
    print('RESULT ' + json.dumps({'first': float(np.mean(episodes[:10])), 'last': float(np.mean(episodes[-10:])),
                                  'lr': lr, 'entropy_coeff': entropy_coeff,
                                  'continuous': check_continuous_wrappers(args.seed)}))


if __name__ == '__main__':
    parser = argparse.ArgumentParser()
    parser.add_argument('--updates', type=int, default=150)
    parser.add_argument('--seed', type=int, default=0)
    main(parser.parse_args())
