"""A PARL-style DQN agent: epsilon-greedy sampling, target sync every ``update_target_steps`` learns."""

import fastparl as parl
import numpy as np
import paddle


class CartpoleAgent(parl.Agent):
    def __init__(self, algorithm, act_dim, e_greed=1.0, e_greed_decrement=0.0):
        super(CartpoleAgent, self).__init__(algorithm)
        assert isinstance(act_dim, int)
        self.act_dim = act_dim
        self.global_step = 0
        self.update_target_steps = 100
        self.e_greed = e_greed
        self.e_greed_decrement = e_greed_decrement

    def sample(self, obs):
        if np.random.random() < self.e_greed:
            act = np.random.randint(self.act_dim)
        else:
            act = self.predict(obs)
        self.e_greed = max(0.05, self.e_greed - self.e_greed_decrement)
        return act

    def predict(self, obs):
        pred_q = self.alg.predict(paddle.to_tensor(obs, dtype='float32'))
        return int(pred_q.argmax())

    def learn(self, obs, act, reward, next_obs, terminal):
        if self.global_step % self.update_target_steps == 0:
            self.alg.sync_target()
        self.global_step += 1
        obs = paddle.to_tensor(obs, dtype='float32')
        act = paddle.to_tensor(np.expand_dims(act, axis=-1), dtype='int32')
        reward = paddle.to_tensor(np.expand_dims(reward, axis=-1), dtype='float32')
        next_obs = paddle.to_tensor(next_obs, dtype='float32')
        terminal = paddle.to_tensor(np.expand_dims(terminal, axis=-1), dtype='float32')
        return float(self.alg.learn(obs, act, reward, next_obs, terminal))
