"""A PARL-style actor-critic model (the methods PARL's A2C checks for: policy, value, policy_and_value)."""

import fastparl as parl
import paddle.nn as nn
import paddle.nn.functional as F


class ActorCriticModel(parl.Model):
    def __init__(self, obs_dim, act_dim):
        super(ActorCriticModel, self).__init__()
        self.fc = nn.Linear(obs_dim, 64)
        self.policy_fc = nn.Linear(64, act_dim)
        self.value_fc = nn.Linear(64, 1)

    def policy(self, obs):
        return self.policy_fc(F.tanh(self.fc(obs)))

    def value(self, obs):
        return self.value_fc(F.tanh(self.fc(obs))).squeeze(-1)

    def policy_and_value(self, obs):
        h = F.tanh(self.fc(obs))
        return self.policy_fc(h), self.value_fc(h).squeeze(-1)
