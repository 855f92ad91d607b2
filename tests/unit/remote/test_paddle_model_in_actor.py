"""A paddle Model in an actor: weights go out and come back as NumPy through shared memory."""

import numpy as np
import pytest

pytest.importorskip("paddle")

import fastparl  # noqa: E402
from _paddle_actors import Net, PaddleActor  # noqa: E402


def test_paddle_model_in_an_actor(local):
    import paddle

    paddle.seed(123)
    here = Net()
    actor = PaddleActor(seed=7)
    assert actor.paddle_loaded()
    obs = np.random.default_rng(0).standard_normal((5, 4)).astype(np.float32)
    theirs = actor.weights()
    assert set(theirs) == set(here.get_weights())
    assert not np.allclose(actor.forward(obs), here(paddle.to_tensor(obs)).numpy())

    actor.set_weights(fastparl.put(here.get_weights()))  # broadcast form: one shared copy
    np.testing.assert_allclose(actor.forward(obs), here(paddle.to_tensor(obs)).numpy(), rtol=1e-5, atol=1e-6)

    here.set_weights(theirs)  # received arrays are read-only views: set_weights must copy them
    np.testing.assert_allclose(here.get_weights()["fc1.weight"], theirs["fc1.weight"])
