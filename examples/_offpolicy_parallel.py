"""``--actors n`` and ``--learners k`` for the off-policy examples (DDPG, TD3, SAC): env steps in actor
processes, gradient steps on data-parallel learners.  ``examples/_offpolicy.py``'s ``train`` runs this loop
for any other setting than ``--actors 0 --learners 1`` (its own loop, unchanged).

Who does what:

* **Collectors** (``examples/_offpolicy_actor.py``): ``--actors n`` runs n ``RemoteCollector`` actors (one
  process each), actor i stepping its own env seeded ``seed + 1000 i``; with ``--actors 0`` one ``Collector``
  runs in this process.  A call ``collect(weights, actor_steps, random_steps)`` returns ``actor_steps``
  transitions made with a numpy copy of the agent's ``sample`` (``agent.acting_policy()``) over the actor
  network's weights it was sent (``parl.put`` once per new weights, read in place by every actor).
* **The driver** keeps one call in flight on every actor.  When calls finish it appends their transitions to
  the replay memory, sends those actors their next call at once, with the newest weights, and only then takes
  one gradient step per new transition past ``warmup_steps``: the actors collect while the learner updates.
* **The learner** is this process's agent (``--learners 1``) or a :class:`fastparl.learners.LearnerGroup` of k
  replicas (:class:`OffPolicyReplica`): each step's minibatch (sampled here) is split k ways together with its
  rows' random draws (``agent.learn_noise``, drawn here: SAC's ``eps``), and the gradients are all-reduced,
  so a step of k learners is one learner's step on the whole minibatch, to float rounding.  The group's rank 0
  returns the actor's weights with the last step of each block; the saved model pulls the rest at the end.
* **Evaluation** runs the same numpy policy's deterministic action (``greedy``) over the newest weights, so no
  acting in this loop reads paddle's parameters in place.  (Not run on a GPU: the examples' agents still build
  zero-copy ``NumpyMLP`` views of their CPU parameters when they are made, for the serial loop.)

Update-to-data ratio: one gradient step per env step past ``warmup_steps``, as the serial loop.  An actor gets
its next call only once its last chunk is taken, so collection runs at most ``n * actor_steps`` transitions
ahead of the learner, and never behind it.

Staleness: a chunk is collected with the weights current when its call was sent, and learnt from after up to
about ``(n + 1) * actor_steps`` more gradient steps (the serial loop: 0).  Beside a replay memory of up to 1M
transitions of older policies this is negligible for off-policy learning; ``--actor-steps`` trades it against
calls per second.

Warm-up: calls act uniformly at random for their first ``warmup_steps - (steps received or in flight)`` steps;
calls sent together share that count, so up to ``(n - 1) * actor_steps`` random steps more than
``warmup_steps`` may be taken (learning still starts after ``warmup_steps`` transitions).

With ``--actors n`` a run is not bit-reproducible (the order in which actors finish varies); with ``--actors 0
--learners k`` it is.  Checkpoints (``--checkpoint-every``/``--resume``) need ``--learners 1``: the model,
optimizers, replay memory, random states and counters are saved between blocks of gradient steps; the actors'
episodes are not, so a resumed run's actors start new ones, from other seeds (``--actors 0 --learners 1``
resumes exactly, see ``examples/_checkpoint.py``).
"""

from __future__ import annotations

import functools
import importlib.machinery
import os
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

import cloudpickle
import gymnasium as gym
import numpy as np

import fastparl as parl
from fastparl.learners import LearnerGroup
from fastparl.utils import ReplayMemory, TrainLogger, logger, progress_bar, set_seed

import _checkpoint as checkpoint  # noqa: E402  (examples/ is on sys.path for every example)
from _offpolicy import OffPolicyAgent, evaluate  # noqa: E402
from _offpolicy_actor import Collector, RemoteCollector  # noqa: E402

__all__ = ["OffPolicyReplica", "build_replica", "set_model_and_target", "train_parallel"]

TARGET = "target/"  # prefix of the target network's weights in a replica's get_weights()


def set_model_and_target(agent: OffPolicyAgent, weights: Mapping[str, Any]) -> None:
    """Copy ``weights`` (an :class:`OffPolicyReplica`'s ``get_weights()``) into ``agent``'s model and target model."""
    alg = agent.alg
    alg.model.set_weights({k: v for k, v in weights.items() if not k.startswith(TARGET)})
    alg.target_model.set_weights({k[len(TARGET):]: v for k, v in weights.items() if k.startswith(TARGET)})


class OffPolicyReplica:
    """One learner of a group: the example's agent, with its target network in its weights.

    Args:
        agent: the example's agent (``make_agent(obs_dim, act_dim, args)``, built in the learner process).
    """

    def __init__(self, agent: OffPolicyAgent) -> None:
        self.agent = agent
        self.alg = agent.alg  # where the learner finds the optimizers to all-reduce

    def learn_block(self, obs: np.ndarray, action: np.ndarray, reward: np.ndarray, next_obs: np.ndarray,
                    terminal: np.ndarray, *noise: np.ndarray, publish: bool = False) -> tuple[float, Any]:
        """``G`` gradient steps, step ``g`` on row ``g`` of every array (``agent.learn_with_noise``).

        Args:
            obs, action, reward, next_obs, terminal: ``(G, rows, ...)``: G minibatches (this learner's rows of
                each), as ``ReplayMemory.sample_batch`` gives one.
            noise: ``(G, rows, ...)`` each: the draws of those rows (``agent.learn_noise``).
            publish: return the actor's weights after the last step (on rank 0; every rank holds the same).

        Returns:
            ``(critic loss of the last step, weights or None)``.
        """
        loss = float("nan")
        for g in range(len(obs)):
            loss = self.agent.learn_with_noise(obs[g], action[g], reward[g], next_obs[g], terminal[g],
                                               *(n[g] for n in noise))
        if publish and _rank() == 0:
            return loss, self.agent.acting_weights()
        return loss, None

    def get_weights(self) -> dict[str, np.ndarray]:
        """The model's weights and the target model's (names prefixed ``target/``)."""
        alg = self.agent.alg
        return {**alg.model.get_weights(), **{TARGET + k: v for k, v in alg.target_model.get_weights().items()}}

    def set_weights(self, weights: Mapping[str, Any]) -> None:
        """Copy :meth:`get_weights`'s dict into the model and the target model (optimizer state is kept)."""
        set_model_and_target(self.agent, weights)


def _rank() -> int:
    import paddle

    return int(paddle.distributed.get_rank())


def build_replica(make_agent: Callable[[int, int, Any], OffPolicyAgent], obs_dim: int, act_dim: int,
                  args: Any) -> OffPolicyReplica:
    """The factory a learner runs (in its own process): the example's agent, as a replica."""
    return OffPolicyReplica(make_agent(obs_dim, act_dim, args))


class _LocalLearner:
    """``--learners 1``: this process's agent takes the steps."""

    def __init__(self, agent: OffPolicyAgent) -> None:
        self.replica = OffPolicyReplica(agent)

    def steps(self, batch: tuple[np.ndarray, ...], noise: tuple[np.ndarray, ...]) -> tuple[float, Any]:
        """Steps on a block of minibatches (:meth:`OffPolicyReplica.learn_block`); returns the last loss and the
        actor's weights after them."""
        return self.replica.learn_block(*batch, *noise, publish=True)

    def pull(self) -> None:
        """The agent is the learner: nothing to fetch."""

    def close(self) -> None:
        pass


class _GroupLearner:
    """``--learners k``: k replicas in a :class:`LearnerGroup`, each on ``batch_size / k`` rows of every step."""

    def __init__(self, agent: OffPolicyAgent, make_agent: Callable[..., OffPolicyAgent], obs_dim: int, act_dim: int,
                 args: Any) -> None:
        module = sys.modules.get(make_agent.__module__)
        if module is not None and make_agent.__module__ != "__main__" and _not_importable(make_agent.__module__):
            cloudpickle.register_pickle_by_value(module)  # an example loaded from its path (the tests): by value
        self.agent = agent
        self.group = LearnerGroup(functools.partial(build_replica, make_agent, obs_dim, act_dim, args), args.learners,
                                  seed=args.seed)
        self.group.set_weights(OffPolicyReplica(agent).get_weights())  # the same model and target everywhere
        sizes = [len(a) for a in np.array_split(np.arange(args.batch_size), args.learners)]
        self.shares = [s / args.batch_size for s in sizes]  # the batch's loss is the shards' losses so weighted

    def steps(self, batch: tuple[np.ndarray, ...], noise: tuple[np.ndarray, ...]) -> tuple[float, Any]:
        """The block's minibatches split by rows (axis 1) over the learners: one call, ``G`` all-reduced steps."""
        results = self.group.run("learn_block", *batch, *noise, axis=1, publish=True)
        return float(sum(w * r[0] for w, r in zip(self.shares, results, strict=True))), results[0][1]

    def pull(self) -> None:
        """Copy rank 0's model and target into this process's agent (to evaluate or save it)."""
        set_model_and_target(self.agent, self.group.get_weights())

    def close(self) -> None:
        self.group.close()


def _not_importable(name: str) -> bool:
    """Whether a fresh process could not import module ``name`` from ``sys.path`` (an example loaded from its
    file under a made-up name, as the tests do); sys.modules is not consulted."""
    return importlib.machinery.PathFinder.find_spec(name.partition(".")[0]) is None


class _Greedy:
    """What :func:`evaluate` needs of an agent: ``predict``, here the numpy policy's deterministic action."""

    def __init__(self, policy: Any, weights: Mapping[str, np.ndarray]) -> None:
        self.policy, self.weights = policy, weights

    def predict(self, obs: np.ndarray) -> np.ndarray:
        return self.policy.greedy(self.weights, obs)


class _InProcess:
    """``--actors 0``: one :class:`Collector` in this process, behind the calls of ``ActorPool`` used here."""

    def __init__(self, collector: Collector) -> None:
        self.collector = collector
        self.call: tuple[str, tuple[Any, ...]] | None = None

    @property
    def in_flight(self) -> int:
        return int(self.call is not None)

    def submit(self, method: str, *args: Any) -> int:
        if self.call is not None:
            return 0
        self.call = (method, args)
        return 1

    def ready(self, num_returns: int = 1, timeout: float | None = None) -> list[tuple[int, Any]]:
        if self.call is None:
            return []
        (method, args), self.call = self.call, None
        return [(0, getattr(self.collector, method)(*args))]

    def close(self, method: str | None = None) -> None:
        if method:
            getattr(self.collector, method)()


def _remote_collector(env_id: str, seed: int, policy: Any) -> Any:
    """A :class:`RemoteCollector` acting with ``policy`` (waits for it to be set, so errors show here)."""
    actor = RemoteCollector(env_id, seed)
    actor.set_policy(policy).get()
    return actor


def _check(name: str, args: Any) -> None:
    if isinstance(args.actors, bool) or not isinstance(args.actors, int) or args.actors < 0:
        raise ValueError(f"{name}: --actors {args.actors!r}: use 0 (envs in this process) or n > 0 actor processes")
    k = args.learners
    if isinstance(k, bool) or not isinstance(k, int) or not 1 <= k <= args.batch_size:
        raise ValueError(f"{name}: --learners {args.learners!r}: use 1 (learn in this process) or k > 1 learners, at "
                         f"most --batch-size {args.batch_size} (each takes batch_size / k rows of every step)")
    if args.actor_steps < 1:
        raise ValueError(f"{name}: --actor-steps {args.actor_steps}: env steps per collection call must be >= 1")
    if args.learners > 1 and (args.checkpoint_every or args.resume):
        raise ValueError(f"{name}: --checkpoint-every / --resume need --learners 1 (the learner group's optimizer "
                         f"state is not saved); run with --learners 1 to checkpoint")


def train_parallel(name: str, args: Any, make_agent: Callable[[int, int, Any], OffPolicyAgent]) -> dict[str, float]:
    """Train ``make_agent(obs_dim, act_dim, args)`` on ``args.env`` with ``args.actors`` collectors and
    ``args.learners`` learners (see the module docstring).

    Returns:
        ``{"eval_return", "wall_time", "env_steps", "steps_per_s"}``: the last evaluation's mean return
        (``args.eval_episodes`` deterministic episodes on a separately seeded env), seconds, env steps and env
        steps per second of the training loop.

    Raises:
        ValueError: on settings this loop cannot run (see :func:`_check`), a non-Box action space, or an agent
            without a numpy copy of its exploration (``acting_policy()`` is None, e.g. OAC's).
    """
    _check(name, args)
    logdir = args.logdir or f"runs/{name}_{args.env}/seed{args.seed}"
    eval_env = gym.make(args.env)
    if not isinstance(eval_env.action_space, gym.spaces.Box):
        raise ValueError(f"{name} needs a continuous (Box) action space; {args.env} has {eval_env.action_space}")
    set_seed(args.seed, paddle=True)
    eval_env.reset(seed=args.seed + 10_000)
    obs_dim, act_dim = int(np.prod(eval_env.observation_space.shape)), int(eval_env.action_space.shape[0])
    agent = make_agent(obs_dim, act_dim, args)
    policy = agent.acting_policy()
    if policy is None:
        raise ValueError(f"{name}: --actors / --learners act with a numpy copy of the agent's exploration, and "
                         f"{type(agent).__name__}.acting_policy() gives none (it samples its own way); run it with "
                         f"--actors 0 --learners 1")
    rpm = ReplayMemory(args.memory_size, obs_dim, act_dim, rng=args.seed)
    noise_rng = np.random.default_rng(args.seed + 1)  # the learners' draws (SAC's eps), one stream for any k
    ckpt = os.path.join(logdir, "checkpoint")
    counters: dict[str, Any] = {"step": 0, "episodes": 0, "wall": 0.0, "eval_return": float("nan")}
    resumed = bool(args.resume) and checkpoint.exists(ckpt)
    if resumed:
        counters = checkpoint.load(ckpt, agent, rpm, (eval_env,))
        if "noise_rng" in counters["extra"]:
            noise_rng.bit_generator.state = counters["extra"]["noise_rng"]
        logger.info(f"{name}: resumed from {ckpt} at step {counters['step']}; the actors start new episodes")
    step = int(counters["step"])
    tlog = TrainLogger(logdir, tensorboard=args.tensorboard, resume_from=step if resumed else None)
    logger.info(f"{name} on {args.env}: obs_dim {obs_dim}, act_dim {act_dim}, actors {args.actors}, learners "
                f"{args.learners}, {args.actor_steps} steps a call, logdir {logdir}")

    learner: _LocalLearner | _GroupLearner | None = None
    pool: Any = None
    seed0 = (args.seed + 7919 * step) % 2**31  # a resumed run's envs start new episodes
    try:
        if args.learners > 1:
            learner = _GroupLearner(agent, make_agent, obs_dim, act_dim, args)
        else:
            learner = _LocalLearner(agent)
        if args.actors:
            pool = parl.ActorPool(lambda i: _remote_collector(args.env, seed0 + 1000 * i, policy), args.actors)
        else:
            pool = _InProcess(Collector(args.env, seed0))
            pool.collector.set_policy(policy)
        with checkpoint.saving_on_sigterm(bool(args.checkpoint_every)):
            return _loop(name, args, agent, policy, learner, pool, rpm, noise_rng, eval_env, tlog, counters, logdir)
    finally:
        if isinstance(pool, _InProcess):
            pool.call = None  # the call not run yet: nothing to wait for
        if pool is not None:
            while pool.in_flight:  # let calls in flight end before closing their actors
                pool.ready(num_returns=pool.in_flight)
            pool.close("close")
        if learner is not None:
            learner.close()
        tlog.close()


def _loop(name: str, args: Any, agent: OffPolicyAgent, policy: Any, learner: _LocalLearner | _GroupLearner,
          pool: Any, rpm: ReplayMemory, noise_rng: np.random.Generator, eval_env: gym.Env, tlog: TrainLogger,
          counters: dict[str, Any], logdir: str) -> dict[str, float]:
    total, warmup, chunk, batch_size = args.total_steps, args.warmup_steps, args.actor_steps, args.batch_size
    step, episodes, eval_return = int(counters["step"]), int(counters["episodes"]), float(counters["eval_return"])
    ckpt, every = os.path.join(logdir, "checkpoint"), float(args.checkpoint_every or 0.0)
    start, t_train = time.time() - float(counters["wall"]), time.time()
    first_step, next_ckpt = step, time.time() + every
    weights: Any = agent.acting_weights()  # the newest weights of the actor network
    shared: Any = None  # ... put once in shared memory for the actors, when a call needs them
    loss = float("nan")
    bar = progress_bar(total, desc=name, disable=not args.progress, initial=step)

    def send() -> None:
        """Start a call on every idle collector, with the newest weights (unless it only acts at random)."""
        nonlocal shared
        ahead = step + chunk * pool.in_flight  # steps received or on their way
        if ahead >= total:
            return
        random_steps = min(chunk, max(0, warmup - ahead))
        if random_steps < chunk and shared is None:
            shared = parl.put(weights) if args.actors else weights
        pool.submit("collect", shared if random_steps < chunk else None, chunk, random_steps)

    send()
    while step < total:
        done = pool.ready(num_returns=1)
        while not done:  # the actors in flight died: restored ones (when due) get calls
            send()
            done = pool.ready(num_returns=1, timeout=1.0)
        before = step
        for _, data in done:
            take = min(chunk, total - step)
            for t in range(take):
                rpm.append(data["obs"][t], data["action"][t], float(data["reward"][t]), data["next_obs"][t],
                           bool(data["terminal"][t]))
            for ret, length, t in data["episodes"]:
                if t < take:
                    episodes += 1
                    tlog.log(step + int(t) + 1, episode_return=float(ret), episode_length=int(length),
                             critic_loss=loss)
            step += take
        send()  # the actors collect while the learner takes its steps
        grads = step - max(before, warmup)
        if grads > 0:  # one gradient step per new transition past the warm-up, in one block
            # (the memory does not change during a block: drawing its minibatches first is drawing them in turn)
            batch = rpm.sample_batch_by_index(rpm.make_index(grads * batch_size).reshape(grads, batch_size))
            noise = tuple(n.reshape(grads, batch_size, *n.shape[1:])
                          for n in agent.learn_noise(grads * batch_size, noise_rng))
            loss, weights = learner.steps(batch, noise)
            shared = None
        bar.update(step - before)
        if step // args.eval_every > before // args.eval_every or step == total:
            eval_return = evaluate(_Greedy(policy, weights), eval_env, args.eval_episodes)  # type: ignore[arg-type]
            tlog.log(step, eval_return=eval_return, episodes=episodes)
            logger.info(f"step {step} episodes {episodes} critic_loss {loss:.3f} eval_return {eval_return:.1f}")
        elif every and checkpoint.due(next_ckpt):  # (--learners 1 only: checked in _check)
            checkpoint.save(ckpt, agent, rpm, (eval_env,), {"step": step, "episodes": episodes,
                                                            "wall": time.time() - start, "eval_return": eval_return},
                            {"noise_rng": noise_rng.bit_generator.state})
            tlog.flush()
            checkpoint.exit_if_stopping(ckpt)
            next_ckpt = time.time() + every
    bar.close()
    train_time = time.time() - t_train
    wall = time.time() - start
    learner.pull()
    agent.save(f"{logdir}/model.ckpt")
    rate = (step - first_step) / max(train_time, 1e-9)
    logger.info(f"done: eval_return {eval_return:.1f} over {args.eval_episodes} episodes, {wall:.1f} s, "
                f"{rate:.0f} env steps/s")
    return {"eval_return": eval_return, "wall_time": wall, "env_steps": float(total), "steps_per_s": rate}
