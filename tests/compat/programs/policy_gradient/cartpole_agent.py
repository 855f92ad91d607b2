"""A PARL-style agent: ``parl.Agent`` with sample / predict / learn."""

import fastparl as parl
import numpy as np
import paddle


class CartpoleAgent(parl.Agent):
    def __init__(self, algorithm):
        super(CartpoleAgent, self).__init__(algorithm)

    def sample(self, obs):
        prob = self.alg.predict(paddle.to_tensor(obs, dtype='float32')).numpy()
        return np.random.choice(len(prob), 1, p=prob)[0]

    def predict(self, obs):
        prob = self.alg.predict(paddle.to_tensor(obs, dtype='float32'))
        return int(prob.argmax())

    def learn(self, obs, act, reward):
        obs = paddle.to_tensor(obs, dtype='float32')
        act = paddle.to_tensor(np.expand_dims(act, axis=-1), dtype='int32')
        reward = paddle.to_tensor(np.expand_dims(reward, axis=-1), dtype='float32')
        return float(self.alg.learn(obs, act, reward))
