"""A PARL-style remote actor: ``@parl.remote_class(wait=False)``, each instance in its own process."""

import gymnasium as gym
import numpy as np

import fastparl as parl
from fastparl.env import CompatWrapper


@parl.remote_class(wait=False)
class Actor(object):
    def __init__(self, seed, max_steps):
        self.env = CompatWrapper(gym.make('CartPole-v1', max_episode_steps=max_steps))
        self.env.seed(seed)

    def evaluate(self, candidates):
        """Return of one episode for each candidate linear policy (a row of weights)."""
        returns = []
        for w in candidates:
            obs, total = self.env.reset(), 0.0
            while True:
                obs, reward, done, _ = self.env.step(int(obs @ w[:4] + w[4] > 0))
                total += reward
                if done:
                    break
            returns.append(total)
        return np.array(returns)
