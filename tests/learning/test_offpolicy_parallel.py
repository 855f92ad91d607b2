"""The off-policy examples' ``--actors n`` and ``--learners k`` (examples/_offpolicy_parallel.py).

What must hold:

* actors: the replay memory receives exactly ``total_steps`` transitions, each one a real step of Pendulum-v1
  (the stored reward is Pendulum's cost of the stored observation and action; within a chunk, a step's
  ``next_obs`` is the next step's ``obs``), and the learner takes one gradient step per transition past the
  warm-up; SAC with 2 actors learns Pendulum (the serial test's bar, on the median of its last three evaluations); ``--resume`` goes on from a
  checkpoint with its replay memory;
* learners: a block of steps on 2 learners equals the same block on one learner (SGD, to float32 rounding: see
  tests/unit/rl/test_learners.py for why SGD), including the target networks and SAC's learned temperature; SAC's
  draws given with the batch are exactly the draws SAC makes itself; end to end, ``--actors 0 --learners 2``
  trains to the same weights as ``--actors 1 --learners 1`` (the same envs and draws, one learner);
* the actors' numpy policies are the agents' ``sample`` (and their ``greedy``, used to evaluate, ``predict``);
* nothing is left behind: actors and learners end when training returns, and this process holds no more
  fastparl shared-memory segments than before.
"""

from __future__ import annotations

import contextlib
import gc
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("paddle")
gym = pytest.importorskip("gymnasium")

import fastparl  # noqa: E402
from _examples import ROOT, load_example  # noqa: E402
from _procs import descendants, forked_actors, memfd_segments, own_memfds, pooled_memfds, still_alive  # noqa: E402

EXAMPLES = os.path.join(ROOT, "examples")
SMALL = dict(env="Pendulum-v1", seed=3, hidden=32, batch_size=64, warmup_steps=300, eval_every=100_000,
             eval_episodes=1, tensorboard=False)
FAST = dict(env="Pendulum-v1", hidden=64, batch_size=128, warmup_steps=1_000, actor_lr=1e-3, critic_lr=1e-3,
            eval_every=100_000, tensorboard=False)  # tests/learning/test_offpolicy_learning.py's
LR = 1e-2


def _segments() -> int:
    return len(memfd_segments([os.getpid()])) - pooled_memfds()


@contextlib.contextmanager
def leaves_nothing():
    """The block's actors and learners end by the time it returns (within 10 s), every process it started ends
    with ``fastparl.disconnect()``, and this process holds no more fastparl segments than before."""
    gc.collect()
    procs0, actors0, fds0, segs0 = descendants(), forked_actors(), own_memfds(), _segments()
    yield
    gc.collect()
    assert still_alive(forked_actors() - actors0, 10) == [], "actors or learners outlived training"
    started = descendants() - procs0
    fastparl.disconnect()
    gc.collect()
    assert still_alive(started, 10) == [], "processes outlived fastparl.disconnect()"
    assert own_memfds() - fds0 <= 0, "fastparl memfd descriptors leaked"
    assert _segments() - segs0 <= 0, "fastparl shared-memory segments still mapped"


def _parallel_module():
    import _offpolicy_parallel  # examples/ is on sys.path once an example is loaded

    return _offpolicy_parallel


# ----------------------------------------------------------------------------- actors

def test_two_actors_fill_the_replay_with_real_steps_and_one_gradient_step_each(tmp_path, monkeypatch):
    sac = load_example("SAC")
    par = _parallel_module()
    memories, steps = [], []

    class Recorded(par.ReplayMemory):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            memories.append(self)

    learn = sac.MujocoAgent.learn_with_noise
    monkeypatch.setattr(par, "ReplayMemory", Recorded)
    monkeypatch.setattr(sac.MujocoAgent, "learn_with_noise", lambda self, *a: steps.append(1) or learn(self, *a))
    total = 1_500
    with leaves_nothing():
        result = sac.train(sac.Args(total_steps=total, actors=2, actor_steps=50, logdir=str(tmp_path), **SMALL))
    (rpm,) = memories
    assert rpm.size() == total and result["env_steps"] == total
    assert len(steps) == total - SMALL["warmup_steps"], "not one gradient step per transition past the warm-up"
    obs, action, reward, next_obs, terminal = (a[:total] for a in (rpm.obs, rpm.action, rpm.reward, rpm.next_obs,
                                                                   rpm.terminal))
    assert obs.shape == next_obs.shape == (total, 3) and action.shape == (total, 1)
    assert np.all(np.abs(action) <= 1.0) and not terminal.any()  # Pendulum only truncates
    # Pendulum-v1's cost of the stored observation and action (torque = 2 * action): the rows line up
    theta, torque = np.arctan2(obs[:, 1], obs[:, 0]), 2.0 * action[:, 0]
    np.testing.assert_allclose(reward, -(theta**2 + 0.1 * obs[:, 2] ** 2 + 0.001 * torque**2), rtol=1e-3, atol=1e-3)
    chunks = obs.reshape(-1, 50, 3), next_obs.reshape(-1, 50, 3)  # 200-step episodes end at a chunk's last step
    np.testing.assert_array_equal(chunks[1][:, :-1], chunks[0][:, 1:])
    assert len(np.unique(obs[:, 2])) > total * 0.9  # two actors, two different envs: no chunk twice
    rows = open(tmp_path / "progress.csv").read().splitlines()
    assert rows[0].startswith("env_steps") and len(rows) >= 1 + total // 200 - 2  # the episodes both actors ended
    assert os.path.exists(tmp_path / "model.ckpt") and np.isfinite(result["eval_return"])


@pytest.mark.seed(0)
def test_sac_with_two_actors_learns_pendulum(tmp_path, seed):
    """SAC with the env steps in 2 actors learns Pendulum-v1: the median of its evaluations at 6k, 7k and 8k steps
    clears the serial learning test's bar (-400).

    Why the median of three and not the last evaluation: with these fast settings SAC's evaluations swing between
    about -100 and -500 once it has learned, in the serial loop too (seeds 0-9 at 8k steps: seed 3 ended at -404,
    seed 2 at -365), and the actors' weights are ~125 gradient steps old (both calls return together, and the
    learner takes their 100 steps while they collect the next 100), which puts learning ~500 steps behind the
    serial loop.  A single final evaluation at 5k or 8k failed in 2 of 27 runs; the median of three cleared -400 for
    seeds 0-9 (worst -218; 2026-12-08, loaded 2-core VM).  Without learning the evaluations stay near -1,200."""
    sac = load_example("SAC")
    with leaves_nothing():
        result = sac.train(sac.Args(seed=seed, total_steps=8_000, actors=2, logdir=str(tmp_path),
                                    **{**FAST, "eval_every": 1_000}))
    rows = open(tmp_path / "progress.csv").read().splitlines()
    head = rows[0].split(",")
    evals = {int(r.split(",")[0]): float(r.split(",")[head.index("eval_return")]) for r in rows[1:]
             if r.split(",")[head.index("eval_return")]}
    late = [evals[s] for s in (6_000, 7_000, 8_000)]
    print(f"SAC --actors 2: evaluations {evals}")
    assert np.isfinite(result["eval_return"]) and float(np.median(late)) > -400, evals


def _checkpoint(logdir) -> tuple[int, int]:
    """The step of the checkpoint in ``logdir`` and the transitions its replay memory holds."""
    import pickle

    with open(os.path.join(logdir, "checkpoint", "state.pkl"), "rb") as f:
        step = int(pickle.load(f)["counters"]["step"])
    with np.load(os.path.join(logdir, "checkpoint", "replay.npz")) as data:
        return step, int(data["other"][0])


def test_a_run_with_actors_resumes_from_its_checkpoint(tmp_path):
    """``--actors 2 --checkpoint-every``: ``--resume`` goes on from the checkpoint's step with its replay memory and
    counters (the actors start new episodes), and the csv goes on without repeats.  In new processes, as a
    resumed run is (paddle names a process's second model's parameters apart from its first's)."""
    cmd = [sys.executable, os.path.join(EXAMPLES, "SAC", "train.py"), "--env", "Pendulum-v1", "--seed", "3",
           "--hidden", "32", "--batch-size", "64", "--warmup-steps", "300", "--eval-every", "100000",
           "--eval-episodes", "1", "--no-tensorboard", "--actors", "2", "--checkpoint-every", "0.01",
           "--logdir", str(tmp_path)]
    subprocess.run([*cmd, "--total-steps", "1000"], check=True, capture_output=True, timeout=600)
    saved, held = _checkpoint(tmp_path)
    assert 300 < saved < 1_000 and held == saved
    out = subprocess.run([*cmd, "--total-steps", "1400", "--resume"], check=True, capture_output=True, text=True,
                         timeout=600)
    assert f"resumed from {tmp_path / 'checkpoint'} at step {saved}" in out.stdout + out.stderr
    last, held = _checkpoint(tmp_path)
    assert saved < last < 1_400 and held == last  # the resumed run's memory holds the saved steps and its own
    steps = [int(r.split(",")[0]) for r in open(tmp_path / "progress.csv").read().splitlines()[1:]]
    assert steps == sorted(steps) and steps[-1] == 1_400 and any(s > saved for s in steps[:-1])


# ----------------------------------------------------------------------------- learners

def _sac_replica(sgd: bool = True):
    """A SAC replica (obs 5, actions 2, 32-32, learned alpha) whose three optimizers step with SGD."""
    import paddle

    sys.path[:0] = [EXAMPLES, os.path.join(EXAMPLES, "SAC")]
    import fastparl as parl
    from _offpolicy_parallel import OffPolicyReplica
    from sac_model import MujocoAgent, MujocoModel

    model = MujocoModel(5, 2, 32)
    alg = parl.algorithms.SAC(model, gamma=0.99, tau=0.05, alpha=0.2, actor_lr=LR, critic_lr=LR, alpha_lr=LR)
    if sgd:
        alg.actor_optimizer = paddle.optimizer.SGD(LR, parameters=model.get_actor_params())
        alg.critic_optimizer = paddle.optimizer.SGD(LR, parameters=model.get_critic_params())
        alg.alpha_optimizer = paddle.optimizer.SGD(LR, parameters=[alg.log_alpha])
    return OffPolicyReplica(MujocoAgent(alg, 2))


def _block(steps: int, rows: int, seed: int):
    """``steps`` minibatches of ``rows`` transitions (obs 5, actions 2) and their draws, ``(steps, rows, ...)``."""
    rng = np.random.default_rng(seed)
    f = lambda *shape: rng.normal(size=(steps, rows, *shape)).astype(np.float32)  # noqa: E731
    batch = (f(5), np.tanh(f(2)), f(), f(5), rng.random((steps, rows)) < 0.1)
    return batch, (f(2), f(2))


def _max_diff(a, b) -> float:
    assert a.keys() == b.keys()
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)


def test_two_sac_learners_take_one_learners_steps():
    import paddle

    from fastparl.learners import LearnerGroup

    paddle.seed(0)
    single = _sac_replica()
    with leaves_nothing(), LearnerGroup(_sac_replica, 2, seed=5) as group:
        group.set_weights(single.get_weights())  # model and target
        assert group.weights_max_diff() == 0.0 and _max_diff(group.get_weights(), single.get_weights()) == 0.0
        for i, rows in enumerate((64, 63)):  # equal shards, then 32 + 31 rows weighted 32/63 and 31/63
            batch, noise = _block(4, rows, seed=i)
            results = group.run("learn_block", *batch, *noise, axis=1, publish=True)
            loss, weights = single.learn_block(*batch, *noise, publish=True)
            assert group.weights_max_diff() == 0.0  # the replicas stay bit-identical
            assert _max_diff(group.get_weights(), single.get_weights()) < 1e-6, rows
            assert results[1][1] is None and _max_diff(results[0][1], weights) < 1e-6  # rank 0 publishes
            shares = (32 / rows, (rows - 32) / rows)
            assert sum(s * r[0] for s, r in zip(shares, results)) == pytest.approx(loss, rel=1e-5)


def test_sac_given_draws_are_the_draws_sac_takes():
    """``learn_with_noise`` with the numbers paddle would draw in ``SAC.learn`` (next_obs first, then obs) takes
    the very same step (Adam, bit for bit), so the learners' path is SAC's own."""
    import paddle

    paddle.seed(0)
    drawn, given = _sac_replica(sgd=False), _sac_replica(sgd=False)
    given.set_weights(drawn.get_weights())
    (obs, action, reward, next_obs, terminal), _ = _block(1, 16, seed=1)
    paddle.seed(11)
    drawn.agent.learn(obs[0], action[0], reward[0], next_obs[0], terminal[0])
    paddle.seed(11)
    noise = [paddle.randn([1, 16, 2]).numpy()[0] for _ in range(2)]
    given.agent.learn_with_noise(obs[0], action[0], reward[0], next_obs[0], terminal[0], *noise)
    a, b = drawn.get_weights(), given.get_weights()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert drawn.agent.alg.alpha == given.agent.alg.alpha
    with pytest.raises(TypeError, match="takes 2 noise arrays"):
        given.agent.learn_with_noise(obs[0], action[0], reward[0], next_obs[0], terminal[0], noise[0])


def test_two_learners_train_like_one(tmp_path):
    """End to end: ``--actors 0 --learners 2`` (an in-process collector, seeded as actor 0) and ``--actors 1``
    (one learner) collect the same steps and take the same gradient steps, to float rounding."""
    sac = load_example("SAC")
    with leaves_nothing():
        two = sac.train(sac.Args(total_steps=900, learners=2, logdir=str(tmp_path / "l2"), **SMALL))
        one = sac.train(sac.Args(total_steps=900, actors=1, logdir=str(tmp_path / "a1"), **SMALL))
    import paddle

    a, b = (paddle.load(str(tmp_path / d / "model.ckpt")) for d in ("l2", "a1"))
    assert _max_diff(a, b) < 1e-4, _max_diff(a, b)
    assert two["eval_return"] == pytest.approx(one["eval_return"], abs=1.0)


# ----------------------------------------------------------------------------- policies and settings

def test_numpy_policies_are_the_agents_sample():
    sac, td3 = load_example("SAC"), load_example("TD3")
    from _offpolicy_actor import GaussianNoisePolicy, TanhGaussianPolicy

    obs = np.random.default_rng(0).normal(size=3).astype(np.float32)
    agent = sac.make_agent(3, 2, sac.Args(hidden=16))
    policy = agent.acting_policy()
    assert isinstance(policy, TanhGaussianPolicy)
    h = np.maximum(agent._trunk(obs), 0.0)
    mean, log_std = agent._mean(h), np.clip(agent._log_std(h), -20.0, 2.0)
    expected = np.tanh(mean + np.exp(log_std) * np.random.default_rng(4).standard_normal(2))
    np.testing.assert_allclose(policy(agent.acting_weights(), obs, np.random.default_rng(4)), expected, atol=1e-6)
    np.testing.assert_allclose(policy.greedy(agent.acting_weights(), obs), agent.predict(obs), atol=1e-6)
    agent = td3.make_agent(3, 2, td3.Args(hidden=16, expl_noise=0.3))
    policy = agent.acting_policy()
    assert isinstance(policy, GaussianNoisePolicy)
    expected = np.clip(agent.predict(obs) + np.random.default_rng(4).normal(0.0, 0.3, 2), -1.0, 1.0)
    np.testing.assert_allclose(policy(agent.acting_weights(), obs, np.random.default_rng(4)), expected, atol=1e-6)
    np.testing.assert_allclose(policy.greedy(agent.acting_weights(), obs), agent.predict(obs), atol=1e-6)


def test_settings_the_parallel_loop_cannot_run_are_refused(tmp_path):
    sac, oac = load_example("SAC"), load_example("OAC")
    args = dict(SMALL, total_steps=400, logdir=str(tmp_path))
    with pytest.raises(ValueError, match="--checkpoint-every / --resume need --learners 1"):
        sac.train(sac.Args(learners=2, checkpoint_every=60.0, **args))
    with pytest.raises(ValueError, match="--actors -1"):
        sac.train(sac.Args(actors=-1, **args))
    with pytest.raises(ValueError, match="at most --batch-size 64"):
        sac.train(sac.Args(learners=65, **args))
    with pytest.raises(ValueError, match=r"OACAgent.acting_policy\(\) gives none"):
        oac.train(oac.Args(actors=1, **args))
