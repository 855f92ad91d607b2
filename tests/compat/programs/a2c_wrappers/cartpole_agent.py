"""A PARL-style A2C agent with PARL's schedulers for the learning rate and the entropy coefficient."""

import numpy as np
import paddle

import fastparl as parl
from fastparl.utils.scheduler import LinearDecayScheduler, PiecewiseScheduler


class A2CAgent(parl.Agent):
    def __init__(self, algorithm, config):
        super(A2CAgent, self).__init__(algorithm)
        self.lr_scheduler = LinearDecayScheduler(config['start_lr'], config['max_sample_steps'])
        self.entropy_coeff_scheduler = PiecewiseScheduler(config['entropy_coeff_scheduler'])

    def sample(self, obs_np):
        probs, values = self.alg.prob_and_value(paddle.to_tensor(obs_np, dtype='float32'))
        probs, values = probs.numpy(), values.numpy()
        actions = np.array([np.random.choice(len(p), 1, p=p / p.sum())[0] for p in probs])
        return actions, values

    def predict(self, obs_np):
        return self.alg.predict(paddle.to_tensor(obs_np, dtype='float32')).numpy()

    def value(self, obs_np):
        return self.alg.value(paddle.to_tensor(obs_np, dtype='float32')).numpy()

    def learn(self, obs_np, actions_np, advantages_np, target_values_np):
        obs = paddle.to_tensor(obs_np, dtype='float32')
        actions = paddle.to_tensor(actions_np, dtype='int64')
        advantages = paddle.to_tensor(advantages_np, dtype='float32')
        target_values = paddle.to_tensor(target_values_np, dtype='float32')
        lr = self.lr_scheduler.step(step_num=obs_np.shape[0])
        entropy_coeff = self.entropy_coeff_scheduler.step()
        total_loss, pi_loss, vf_loss, entropy = self.alg.learn(obs, actions, advantages, target_values, lr,
                                                               entropy_coeff)
        return float(total_loss), lr, entropy_coeff
