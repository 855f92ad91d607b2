"""A PARL-style model: written against ``parl.Model`` only (``import fastparl as parl``)."""

import fastparl as parl
import paddle
import paddle.nn as nn
import paddle.nn.functional as F


class CartpoleModel(parl.Model):
    """Two linear layers: observation -> action probabilities."""

    def __init__(self, obs_dim, act_dim):
        super(CartpoleModel, self).__init__()
        hid_size = act_dim * 10
        self.fc1 = nn.Linear(obs_dim, hid_size)
        self.fc2 = nn.Linear(hid_size, act_dim)

    def forward(self, x):
        out = paddle.tanh(self.fc1(x))
        return F.softmax(self.fc2(out), axis=-1)
