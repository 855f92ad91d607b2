"""A paddle model inside an actor (the actor imports paddle itself; weights travel as NumPy)."""

import numpy as np

import fastparl


class Net(fastparl.Model):
    def __init__(self, obs_dim: int = 4, act_dim: int = 2):
        super().__init__()
        import paddle

        self.fc1 = paddle.nn.Linear(obs_dim, 16)
        self.fc2 = paddle.nn.Linear(16, act_dim)

    def forward(self, obs):
        import paddle.nn.functional as F

        return self.fc2(F.relu(self.fc1(obs)))


@fastparl.remote_class
class PaddleActor:
    def __init__(self, seed: int):
        import paddle

        paddle.seed(seed)
        self.net = Net()

    def weights(self) -> dict:
        return self.net.get_weights()

    def set_weights(self, weights: dict) -> None:
        self.net.set_weights(weights)

    def forward(self, obs: np.ndarray) -> np.ndarray:
        import paddle

        return self.net(paddle.to_tensor(obs)).numpy()

    def paddle_loaded(self) -> bool:
        import sys

        return "paddle" in sys.modules
