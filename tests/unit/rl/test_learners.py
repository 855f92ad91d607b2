"""fastparl.learners: data-parallel learner groups (k = 2 on CPU, gloo).

The test that matters: after synchronous steps, every learner's weights are equal, and equal (to
float32 rounding) to one learner's weights after the same steps on the concatenated batch.  Mean
losses need weights n_i / N for unequal shards (a plain average of the shard gradients is shown to
differ); summed losses (IMPALA) need weights 1.  Learners end with the group.

The replicas compared step with SGD (the algorithms' losses, gradient clipping and ``set_lr`` calls
unchanged): its update is linear in the gradient, so float32 rounding of the all-reduced sum stays
at rounding size.  Adam's first step, ``lr * g / (|g| + eps)``, turns the rounding of gradients near
``eps`` into weight differences up to ``2 * lr`` that depend on the initial weights, and it hides a
wrong overall scale of the gradients (what a "sum" loss reduced as a "mean" would give).
"""

from __future__ import annotations

import os
import sys

import numpy as np
import psutil
import pytest

import fastparl
from fastparl.learners import LearnerGroup, plan, split_batch
from fastparl.learners.rendezvous import visible_gpu_count

from _procs import still_alive

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
EXAMPLES = os.path.join(ROOT, "examples")
TOL = 1e-6  # float32: the group's all-reduced sum and the full batch's mean round differently
LR = 1e-2


# ----------------------------------------------------------------------------- no actors

def test_split_batch_views_sizes_and_shared_memory():
    batch = {"obs": fastparl.shared_array((3, 10, 2), np.float32), "act": np.arange(30).reshape(3, 10)}
    shards, sizes = split_batch((batch, np.zeros((3, 10))), 3, axis=1)
    assert sizes == [4, 3, 3]
    assert [s[0]["act"].shape for s in shards] == [(3, 4), (3, 3), (3, 3)]
    np.testing.assert_array_equal(np.concatenate([s[0]["act"] for s in shards], axis=1), batch["act"])
    assert isinstance(shards[1][0]["obs"], fastparl.SharedArray)  # a slice of shared memory travels as a handle
    assert np.shares_memory(shards[1][0]["obs"], batch["obs"])
    # whole units (IMPALA's env segments): 5 segments of 4 steps over 2 learners -> 3 and 2 segments
    assert split_batch(np.zeros(20), 2, unit=4)[1] == [12, 8]


@pytest.mark.parametrize("batch, k, unit, match", [
    ({"a": np.zeros(4), "b": np.zeros(5)}, 2, 1, "same length"),
    (np.zeros(10), 2, 4, "whole number of units"),
    (np.zeros(4), 3, 2, "cannot feed 3 learners"),
])
def test_split_batch_errors_name_the_problem(batch, k, unit, match):
    with pytest.raises(ValueError, match=match):
        split_batch(batch, k, unit=unit)


def test_plan_ranks_and_paddle_environment(monkeypatch):
    import fastparl

    fastparl.disconnect()  # the backend reads the GPUs (CUDA_VISIBLE_DEVICES) when it connects
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpu_count() == 0
    ranks = plan(3)
    assert [r.rank for r in ranks] == [0, 1, 2] and {r.world_size for r in ranks} == {3}
    assert len({r.master_port for r in ranks}) == 1 and all(r.backend == "gloo" and r.n_gpu == 0 for r in ranks)
    env = ranks[2].environ()
    assert env["PADDLE_TRAINER_ID"] == "2" and env["PADDLE_TRAINERS_NUM"] == "3"
    assert env["MASTER_PORT"] == str(ranks[0].master_port) and env["PADDLE_DISTRI_BACKEND"] == "gloo"
    assert env["PADDLE_CURRENT_ENDPOINT"] == env["PADDLE_TRAINER_ENDPOINTS"].split(",")[2]
    with pytest.raises(ValueError, match="need 2 GPUs"):
        plan(2, use_gpu=True)
    fastparl.disconnect()
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    gpu = plan(2)
    assert gpu[1].backend == "nccl" and gpu[1].n_gpu == 1 and gpu[1].environ()["FLAGS_selected_gpus"] == "0"
    with pytest.raises(ValueError, match="num_learners >= 1"):
        plan(0)
    fastparl.disconnect()


def test_bad_arguments():
    with pytest.raises(ValueError, match="reduce='avg'"):
        LearnerGroup(lambda: None, 2, reduce="avg")
    with pytest.raises(TypeError, match="factory callable"):
        LearnerGroup(None, 2)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", ["numpy", "paddle"])
def test_allreduce_packs_the_weighted_sum_and_refuses_partial_gradients(monkeypatch, path):
    """GradientAllReduce in this process, the other rank simulated by a fake all_reduce that adds its buffer.

    Both packing paths (NumPy views on CPU, paddle ops elsewhere, e.g. GPUs) must give w g + w' g'.
    """
    paddle = pytest.importorskip("paddle")
    from fastparl.learners.allreduce import GradientAllReduce, find_optimizers

    class Holder:  # an Agent-like object: its optimizer is found through .alg
        def __init__(self):
            self.alg = type("Alg", (), {})()
            self.alg.model = paddle.nn.Linear(3, 2)
            self.alg.optimizer = paddle.optimizer.SGD(learning_rate=1.0, parameters=self.alg.model.parameters())

    holder = Holder()
    (opt,) = find_optimizers(holder)
    reducer = GradientAllReduce(opt, world_size=2)
    if path == "paddle":
        monkeypatch.setattr(reducer, "_numpy_views", lambda grads: None)
    rng = np.random.default_rng(0)
    other = [rng.normal(size=p.shape).astype(np.float32) for p in reducer.params]  # rank 1's gradients
    flags = np.ones(len(other), np.float32)
    contribution = lambda: np.concatenate([0.25 * g.ravel() for g in other] + [flags])  # noqa: E731
    monkeypatch.setattr(paddle.distributed, "all_reduce", lambda buf: buf.set_value(buf.numpy() + contribution()))
    reducer.weight = 0.75
    before = [p.numpy().copy() for p in reducer.params]
    x = paddle.to_tensor(rng.normal(size=(5, 3)).astype(np.float32))
    holder.alg.model(x).sum().backward()
    mine = [p.grad.numpy().copy() for p in reducer.params]
    opt.step()  # SGD with lr 1: the change is minus the reduced gradient
    for p, b, g0, g1 in zip(reducer.params, before, mine, other):
        np.testing.assert_allclose(b - p.numpy(), 0.75 * g0 + 0.25 * g1, rtol=1e-5, atol=1e-6)
    assert reducer.steps == 1 and bool(reducer._views) == (path == "numpy")  # the path under test was taken
    opt.clear_grad()
    holder.alg.model(x).sum().backward()
    flags[0] = 0.0  # rank 1 has no gradient for the first parameter
    with pytest.raises(RuntimeError, match="gradient on some learners and none on others"):
        opt.step()
    with pytest.raises(NotImplementedError, match="optimizer.step"):
        opt.minimize(holder.alg.model(x).sum())


# ----------------------------------------------------------------------------- two gloo learners

def _with_sgd(alg):
    """``alg`` stepping with SGD instead of Adam (same parameters and gradient clipping), see the docstring."""
    import paddle

    alg.optimizer = paddle.optimizer.SGD(learning_rate=LR, parameters=alg.model.parameters(),
                                         grad_clip=alg.optimizer._grad_clip)  # the algorithm's clip
    return alg


def build_ppo():
    """A PPO replica whose loss is a plain mean over samples (no per-minibatch advantage normalisation)."""
    sys.path.insert(0, os.path.join(EXAMPLES, "PPO"))
    import fastparl as parl
    from ppo_model import PPOModel

    return _with_sgd(parl.algorithms.PPO(PPOModel(4, 2), norm_adv=False, clip_param=0.2))


def _ppo_batch(n, seed):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n, 4)).astype(np.float32), rng.integers(0, 2, n), rng.normal(size=n).astype(np.float32),
            rng.normal(size=n).astype(np.float32), rng.normal(-0.7, 0.1, n).astype(np.float32),
            rng.normal(size=n).astype(np.float32))


def _max_diff(a, b):
    return max(float(np.abs(np.asarray(a[k]) - np.asarray(b[k])).max()) for k in a)


def test_two_learners_step_like_one_learner_on_the_whole_batch():
    paddle = pytest.importorskip("paddle")
    paddle.seed(0)
    single = build_ppo()
    with LearnerGroup(build_ppo, 2, seed=3) as group:
        pids = group.pids()
        group.set_weights(single.get_weights())
        assert group.weights_max_diff() == 0.0
        for step, n in enumerate((64, 64, 63)):  # equal shards, then 32 + 31 rows weighted 32/63 and 31/63
            batch = _ppo_batch(n, seed=step)
            results = group.run("learn", *batch, lr=LR)
            single.learn(*batch, lr=LR)
            assert len(results) == 2 and all(len(r) == 3 for r in results)
            assert group.weights_max_diff() == 0.0  # replicas stay bit-identical
            assert _max_diff(group.get_weights(), single.get_weights()) < TOL, step
        # Very unequal shards (48 + 15 rows): weights n_i / N give the full-batch step, a plain average does not.
        for weights, equal in (([48 / 63, 15 / 63], True), ([0.5, 0.5], False)):
            batch = _ppo_batch(63, seed=9)
            shards = [tuple(a[:48] for a in batch), tuple(a[48:] for a in batch)]
            group.call("learn", shards, weights=weights, kwargs={"lr": LR})
            single.learn(*batch, lr=LR)
            diff = _max_diff(group.get_weights(), single.get_weights())
            assert diff < TOL if equal else diff > 100 * TOL, (weights, diff)
    assert still_alive(pids) == [], "learners outlived their group"
    with pytest.raises(fastparl.errors.FastparlError, match="group is closed"):
        group.run("learn", *batch)


class _ImpalaAgent:
    """IMPALA replica returning plain floats (the algorithm returns paddle tensors)."""

    def __init__(self):
        sys.path.insert(0, EXAMPLES)
        import fastparl as parl
        from _actor_critic import CartpoleModel

        self.alg = _with_sgd(parl.algorithms.IMPALA(CartpoleModel(4, 2), sample_batch_steps=5, gamma=0.99,
                                                    vf_loss_coeff=0.5, clip_rho_threshold=1.0,
                                                    clip_pg_rho_threshold=1.0))

    def learn(self, obs, actions, logits, rewards, dones):
        loss, _ = self.alg.learn(obs, actions, logits, rewards, dones, LR, -0.01)
        return float(loss.total_loss)

    def get_weights(self):
        return self.alg.get_weights()

    def set_weights(self, weights):
        self.alg.set_weights(weights)


def test_summed_losses_use_weight_one_for_any_split():
    paddle = pytest.importorskip("paddle")
    paddle.seed(0)
    single = _ImpalaAgent()
    rng = np.random.default_rng(0)
    T, B = 5, 5  # 5 env segments of 5 steps, split 3 + 2
    batch = (rng.normal(size=(B * T, 4)).astype(np.float32), rng.integers(0, 2, B * T),
             rng.normal(size=(B * T, 2)).astype(np.float32), rng.normal(size=B * T).astype(np.float32),
             rng.random(B * T) < 0.1)
    with LearnerGroup(_ImpalaAgent, 2, reduce="sum") as group:
        group.set_weights(single.get_weights())
        losses = group.run("learn", *batch, unit=T)
        total = single.learn(*batch)
        assert sum(losses) == pytest.approx(total, rel=1e-5)  # the summed loss splits over segments
        assert group.weights_max_diff() == 0.0
        assert _max_diff(group.get_weights(), single.get_weights()) < TOL


def _no_optimizer():
    return object()


def _actors() -> set[int]:
    """Processes forked by this driver's fork server (the actors), by pid."""
    pids = set()
    for server in psutil.Process().children():
        try:
            pids.update(p.pid for p in server.children(recursive=True) if p.status() != psutil.STATUS_ZOMBIE)
        except psutil.Error:  # ended meanwhile: not running
            pass
    return pids


def test_a_failing_learner_closes_the_group_and_says_why():
    before = _actors()
    with pytest.raises(fastparl.errors.RemoteError, match="holds no paddle optimizer") as info:
        LearnerGroup(_no_optimizer, 2)
    assert still_alive(_actors() - before) == []  # while the traceback still holds the half-built group
    del info
