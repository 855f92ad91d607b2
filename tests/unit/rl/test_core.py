"""Unit tests of fastparl.core: Model weights, sync, Agent save/restore, checks, paddle-free import."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

paddle = pytest.importorskip("paddle")

import fastparl as parl  # noqa: E402
from fastparl.core import ModelMethodError, NumpyMLP, check_model_method  # noqa: E402

nn = paddle.nn
F = paddle.nn.functional


class Net(parl.Model):
    def __init__(self, obs_dim: int = 4, act_dim: int = 2) -> None:
        super().__init__()
        self.fc1 = nn.Linear(obs_dim, 16)
        self.fc2 = nn.Linear(16, act_dim)

    def forward(self, obs):
        return self.fc2(F.relu(self.fc1(obs)))


class NoForward(parl.Model):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2)


class MyAgent(parl.Agent):
    def predict(self, obs):
        return int(self.alg.predict(paddle.to_tensor(obs, dtype="float32")).argmax())


def test_get_set_weights_roundtrip():
    a, b = Net(), Net()
    w = a.get_weights()
    assert set(w) == {"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"}
    assert all(isinstance(v, np.ndarray) for v in w.values())
    b.set_weights(w)
    for k, v in b.get_weights().items():
        np.testing.assert_array_equal(v, w[k])
    w["fc1.weight"][:] = 0.0  # get_weights returns copies
    assert not np.allclose(a.get_weights()["fc1.weight"], 0.0)


def test_set_weights_errors():
    m = Net()
    w = m.get_weights()
    with pytest.raises(KeyError, match="missing"):
        m.set_weights({k: v for k, v in w.items() if k != "fc2.bias"})
    with pytest.raises(ValueError, match="shape"):
        m.set_weights({**w, "fc2.bias": np.zeros(3, np.float32)})
    with pytest.raises(TypeError):
        m.set_weights([1, 2])


@pytest.mark.parametrize("decay", [0.0, 0.3, 0.9, 1.0])
def test_sync_weights_to_decay(decay):
    src, dst = Net(), Net()
    ws, wd = src.get_weights(), dst.get_weights()
    src.sync_weights_to(dst, decay=decay)
    for k, v in dst.get_weights().items():
        np.testing.assert_allclose(v, decay * wd[k] + (1 - decay) * ws[k], rtol=1e-6, atol=1e-7)


def test_sync_weights_to_repeated_and_after_copies():
    """The cached numpy-view fast path must follow updates, deep copies and new targets."""
    src = Net()
    dst = copy.deepcopy(src)
    for _ in range(3):
        src.set_weights(Net().get_weights())
        ws, wd = src.get_weights(), dst.get_weights()
        src.sync_weights_to(dst, decay=0.5)
        for k, v in dst.get_weights().items():
            np.testing.assert_allclose(v, 0.5 * wd[k] + 0.5 * ws[k], rtol=1e-6, atol=1e-7)
    clone = copy.deepcopy(src)  # a copy of the source must not write through the source's views
    clone.set_weights(Net().get_weights())
    clone.sync_weights_to(dst)
    for k, v in dst.get_weights().items():
        np.testing.assert_array_equal(v, clone.get_weights()[k])
    other = Net()
    src.sync_weights_to(other)
    for k, v in other.get_weights().items():
        np.testing.assert_array_equal(v, src.get_weights()[k])
    alg = parl.algorithms.DQN(src, gamma=0.9, lr=0.1)  # optimizer steps update in place
    x = paddle.randn([4, 4])
    alg.learn(x, paddle.zeros([4, 1], "int64"), paddle.ones([4, 1]), x, paddle.zeros([4, 1]))
    alg.sync_target()
    for k, v in alg.target_model.get_weights().items():
        np.testing.assert_array_equal(v, src.get_weights()[k])


def test_sync_weights_to_errors():
    m = Net()
    with pytest.raises(ValueError):
        m.sync_weights_to(m)
    with pytest.raises(ValueError):
        m.sync_weights_to(copy.deepcopy(m), decay=1.5)
    with pytest.raises(TypeError):
        m.sync_weights_to(nn.Linear(4, 2))
    with pytest.raises(ValueError, match="architectures differ"):
        m.sync_weights_to(Net(obs_dim=5))


def test_deepcopy_is_independent():
    m = Net()
    c = copy.deepcopy(m)
    m.sync_weights_to(c)
    m.fc1.weight.set_value(np.zeros([4, 16], np.float32))
    assert not np.allclose(c.get_weights()["fc1.weight"], 0.0)


def test_algorithm_and_agent_weights_save_restore(tmp_path):
    alg = parl.algorithms.DQN(Net(), gamma=0.99, lr=1e-3)
    agent = MyAgent(alg)
    assert agent.alg is alg and alg.model is not alg.target_model
    w = agent.get_weights()
    assert set(w) == set(alg.model.get_weights())  # PARL paddle: the weights of alg.model
    path = str(tmp_path / "ckpt" / "model.ckpt")
    agent.save(path)
    other = MyAgent(parl.algorithms.DQN(Net(), gamma=0.99, lr=1e-3))
    other.restore(path)
    for k, v in other.get_weights().items():
        np.testing.assert_array_equal(v, w[k])
    obs = np.ones(4, np.float32)
    assert other.predict(obs) == agent.predict(obs)
    agent.set_weights(Net().get_weights())
    with pytest.raises(FileNotFoundError):
        agent.restore(str(tmp_path / "missing.ckpt"))
    # save/restore a model other than alg.model
    agent.save(str(tmp_path / "target.ckpt"), model=alg.target_model)
    agent.restore(str(tmp_path / "target.ckpt"), model=other.alg.target_model)


def test_train_eval_modes():
    agent = MyAgent(parl.algorithms.DQN(Net(), gamma=0.99, lr=1e-3))
    assert agent.training and agent.alg.model.training
    agent.eval()
    assert not agent.training and not agent.alg.model.training
    agent.train()
    assert agent.training and agent.alg.model.training


def test_type_errors_name_the_fix():
    with pytest.raises(TypeError, match="parl.Algorithm"):
        MyAgent("not an algorithm")
    with pytest.raises(TypeError, match="parl.Model"):
        parl.Algorithm(None)
    with pytest.raises(TypeError, match="gamma"):
        parl.algorithms.DQN(Net())
    with pytest.raises(TypeError, match="lr"):
        parl.algorithms.PolicyGradient(Net(), lr="fast")
    with pytest.raises(ValueError, match="gamma"):
        parl.algorithms.DDQN(Net(), gamma=1.5, lr=1e-3)


def test_check_model_method():
    check_model_method(Net(), "forward", "DQN")
    with pytest.raises(ModelMethodError, match="forward"):
        check_model_method(NoForward(), "forward", "DQN")
    with pytest.raises(AssertionError):  # PARL raises AssertionError; ours is also a TypeError
        check_model_method(Net(), "value", "A2C")
    with pytest.raises(TypeError, match="A2C's model needs to implement the 'value' method"):
        check_model_method(Net(), "value", "A2C")
    with pytest.raises(ModelMethodError):
        parl.algorithms.DQN(NoForward(), gamma=0.99, lr=1e-3)


@pytest.mark.parametrize("algo", ["DQN", "DDQN"])
def test_dqn_learn_shapes_and_sync_target(algo):
    alg = getattr(parl.algorithms, algo)(Net(), gamma=0.9, lr=1e-2)
    n = 32
    obs = paddle.randn([n, 4])
    act = paddle.randint(0, 2, [n, 1]).astype("int32")
    rew = paddle.ones([n, 1])
    term = paddle.zeros([n, 1])
    before = alg.model.get_weights()
    loss = alg.learn(obs, act, rew, obs, term)
    assert loss.shape == [] and np.isfinite(float(loss))
    assert not np.allclose(alg.model.get_weights()["fc2.bias"], before["fc2.bias"])
    assert np.allclose(alg.target_model.get_weights()["fc2.bias"], before["fc2.bias"])
    alg.sync_target()
    np.testing.assert_array_equal(alg.target_model.get_weights()["fc2.bias"], alg.model.get_weights()["fc2.bias"])
    assert alg.predict(obs).shape == [n, 2]


def test_policy_gradient_learns_preferred_action():
    class Pol(Net):
        def forward(self, obs):
            return F.softmax(super().forward(obs), axis=-1)

    alg = parl.algorithms.PolicyGradient(Pol(), lr=0.05)
    obs = paddle.ones([16, 4])
    act = paddle.to_tensor(np.ones((16, 1), np.int32))
    for _ in range(30):
        alg.learn(obs, act, paddle.ones([16, 1]))
    assert float(alg.predict(obs)[0, 1]) > 0.9


def test_numpy_mlp_matches_paddle_and_follows_updates():
    m = Net()
    fast = NumpyMLP([m.fc1, m.fc2], activation="relu")
    x = np.random.RandomState(0).randn(3, 4).astype(np.float32)
    np.testing.assert_allclose(fast(x), m(paddle.to_tensor(x)).numpy(), rtol=1e-5, atol=1e-5)
    alg = parl.algorithms.DQN(m, gamma=0.9, lr=0.1)
    xt = paddle.to_tensor(x)
    alg.learn(xt, paddle.zeros([3, 1], "int64"), paddle.ones([3, 1]), xt, paddle.zeros([3, 1]))
    m.set_weights(Net().get_weights())
    np.testing.assert_allclose(fast(x[0]), m(paddle.to_tensor(x[0])).numpy(), rtol=1e-5, atol=1e-5)
    with pytest.raises(TypeError):
        NumpyMLP([m])


def test_import_fastparl_without_paddle(tmp_path):
    """`import fastparl` and fastparl.utils must work with paddle unavailable."""
    script = textwrap.dedent(
        """
        import sys
        class Block:
            def find_spec(self, name, path=None, target=None):
                if name == "paddle" or name.startswith("paddle."):
                    raise ImportError("paddle is blocked in this test")
        sys.meta_path.insert(0, Block())
        import fastparl
        from fastparl.utils import logger, TrainLogger, set_seed, CSVLogger
        fastparl.utils.logger.info("hello without paddle")
        set_seed(0)
        TrainLogger(sys.argv[1], tensorboard=False).close()
        import fastparl.cli, fastparl.utils.plot
        assert "paddle" not in sys.modules, "paddle was imported"
        try:
            fastparl.Model
        except ImportError as e:
            assert "paddle" in str(e)
        else:
            raise SystemExit("fastparl.Model should need paddle")
        print("OK")
        """
    )
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    env["PYTHONPATH"] = os.pathsep.join([root, env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "log")], capture_output=True, text=True, env=env, timeout=120
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "hello without paddle" in out.stdout and "OK" in out.stdout


def test_parl_core_paddle_module_path():
    """PARL code imports the classes from ``parl.core.paddle``; they are fastparl's."""
    from fastparl.core.paddle import Agent, Algorithm, Model, policy_distribution

    assert (Model, Algorithm, Agent) == (parl.Model, parl.Algorithm, parl.Agent)
    assert parl.core.paddle.policy_distribution is policy_distribution
    assert set(policy_distribution.__all__) >= {"PolicyDistribution", "CategoricalDistribution",
                                                "SoftCategoricalDistribution", "SoftMultiCategoricalDistribution"}


def test_policy_distributions_match_closed_forms():
    from fastparl.core.paddle.policy_distribution import (
        CategoricalDistribution,
        DiagGaussianDistribution,
        SoftCategoricalDistribution,
        SoftMultiCategoricalDistribution,
    )

    rng = np.random.default_rng(0)
    logits, other = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    p, q = (np.exp(x) / np.exp(x).sum(1, keepdims=True) for x in (logits, other))
    t = lambda x: paddle.to_tensor(x.astype(np.float32))  # noqa: E731
    cat = CategoricalDistribution(t(logits))
    actions = np.array([0, 2, 1, 1, 0])
    np.testing.assert_allclose(cat.entropy().numpy(), -(p * np.log(p)).sum(1), rtol=1e-5)
    np.testing.assert_allclose(cat.logp(paddle.to_tensor(actions)).numpy(), np.log(p[range(5), actions] + 1e-6),
                               rtol=1e-5)
    np.testing.assert_allclose(cat.kl(CategoricalDistribution(t(other))).numpy(), (p * np.log(p / q)).sum(1),
                               rtol=1e-4, atol=1e-6)
    paddle.seed(0)
    draws = np.stack([cat.sample().numpy() for _ in range(400)])
    assert draws.shape == (400, 5) and abs((draws[:, 0] == 0).mean() - p[0, 0]) < 0.08

    mean, logstd = rng.normal(size=(4, 2)), rng.normal(size=(4, 2)) * 0.3
    gauss = DiagGaussianDistribution((t(mean), t(logstd)))
    x = rng.normal(size=(4, 2))
    std = np.exp(logstd)
    ref = (-0.5 * ((x - mean) / std) ** 2 - logstd - 0.5 * np.log(2 * np.pi)).sum(1)
    np.testing.assert_allclose(gauss.logp(t(x)).numpy(), ref, rtol=1e-5)
    np.testing.assert_allclose(gauss.entropy().numpy(), (logstd + 0.5 * np.log(2 * np.pi * np.e)).sum(1), rtol=1e-5)
    assert float(gauss.kl(gauss).abs().max()) < 1e-6 and tuple(gauss.sample().shape) == (4, 2)

    soft = SoftCategoricalDistribution(t(logits)).sample()
    np.testing.assert_allclose(soft.numpy().sum(1), 1.0, rtol=1e-5)
    multi = SoftMultiCategoricalDistribution(t(rng.normal(size=(5, 5))), np.array([0, 0]), np.array([1, 2]))
    assert tuple(multi.sample().shape) == (5, 5) and tuple(multi.entropy().shape) == (5,)
    with pytest.raises(ValueError, match="rank 2"):
        CategoricalDistribution(t(logits[0]))
    with pytest.raises(ValueError, match="sum"):
        SoftMultiCategoricalDistribution(t(logits), np.array([0]), np.array([4]))


class _LinearQ(parl.Model):
    """Q(s) = W s, no bias: Q values set by hand through the weight."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(2, 2, bias_attr=False)

    def forward(self, obs):
        return self.fc(obs)


@pytest.mark.parametrize("algo", ["DQN", "DDQN"])
def test_dqn_and_ddqn_targets_exactly(algo):
    """DDQN's target is r + gamma * Q_target(s', argmax_a Q_online(s', a)); DQN's is r + gamma * max_a Q_target(s', a).

    The online and target nets disagree on the best next action, so taking the target's argmax in DDQN
    (or the online's in DQN) gives another loss.
    """
    model = _LinearQ()
    alg = getattr(parl.algorithms, algo)(model, gamma=0.5, lr=1e-3)
    # obs s = (1, 0): Q_online(s) = (2, 1); next obs s' = (0, 1): Q_online(s') = (1, 3) -> online argmax 1
    model.fc.weight.set_value(np.array([[2.0, 1.0], [1.0, 3.0]], np.float32))  # paddle: y = x @ W
    # Q_target(s') = (10, 4) -> target argmax 0, max 10
    alg.target_model.fc.weight.set_value(np.array([[0.0, 0.0], [10.0, 4.0]], np.float32))
    obs = paddle.to_tensor([[1.0, 0.0]])
    next_obs = paddle.to_tensor([[0.0, 1.0]])
    act = paddle.to_tensor([[0]], dtype="int64")
    rew = paddle.to_tensor([[1.0]])
    np.testing.assert_allclose(alg.predict(next_obs).numpy(), [[1.0, 3.0]])
    bootstrap = 4.0 if algo == "DDQN" else 10.0  # Q_target(s', online argmax = 1) vs max_a Q_target(s', a)
    loss = alg.learn(obs, act, rew, next_obs, paddle.zeros([1, 1]))
    assert float(loss) == pytest.approx((2.0 - (1.0 + 0.5 * bootstrap)) ** 2)
    # a terminal transition does not bootstrap at all
    model.fc.weight.set_value(np.array([[2.0, 1.0], [1.0, 3.0]], np.float32))
    loss = alg.learn(obs, act, rew, next_obs, paddle.ones([1, 1]))
    assert float(loss) == pytest.approx((2.0 - 1.0) ** 2)
